;; call_indirect through one table holding functions of two types:
;;   $i2i  (i32) -> i32       : $p_inc and $p_dbl pause, $n_neg does not
;;   $ii2i (i32 i32) -> i32   : $n_add and $n_mul, never pause
;; $direct_same_type has type $i2i but is not in the table (called directly).
(module
  (import "env" "pause" (func $pause (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (type $i2i (func (param i32) (result i32)))
  (type $ii2i (func (param i32 i32) (result i32)))
  (table 5 funcref)
  (elem (i32.const 0) func $p_inc $n_neg $p_dbl $n_add $n_mul)

  (func $p_inc (type $i2i) (i32.add (call $pause (local.get 0)) (i32.const 1)))
  (func $p_dbl (type $i2i) (i32.shl (call $pause (local.get 0)) (i32.const 1)))
  (func $n_neg (type $i2i) (i32.sub (i32.const 0) (local.get 0)))
  (func $n_add (type $ii2i) (i32.add (local.get 0) (local.get 1)))
  (func $n_mul (type $ii2i) (i32.mul (local.get 0) (local.get 1)))
  (func $direct_same_type (type $i2i) (i32.xor (local.get 0) (i32.const 0x55)))

  ;; acc = combine[3 + i%2](acc, unary[i%3](i) + direct_same_type(i)) for i in 0..9
  (func $run (export "run") (result i32)
    (local $i i32) (local $acc i32)
    (local.set $acc (i32.const 1))
    (loop $l
      (local.set $acc
        (call_indirect (type $ii2i)
          (local.get $acc)
          (i32.add
            (call_indirect (type $i2i) (local.get $i) (i32.rem_u (local.get $i) (i32.const 3)))
            (call $direct_same_type (local.get $i)))
          (i32.add (i32.const 3) (i32.rem_u (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    (local.get $acc))

  (func (export "_start") (call $print (call $run)))

  ;; ---- shared helper: print an i32 as signed decimal + "\n" via WASI fd_write
  ;; (iovec at 0, nwritten at 8, digits end at 95)
  (func $print (param $v i32)
    (local $p i32) (local $neg i32) (local $u i32)
    (local.set $p (i32.const 95))
    (i32.store8 (local.get $p) (i32.const 10))
    (local.set $neg (i32.lt_s (local.get $v) (i32.const 0)))
    (local.set $u (select (i32.sub (i32.const 0) (local.get $v)) (local.get $v) (local.get $neg)))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $u) (i32.const 10))))
      (local.set $u (i32.div_u (local.get $u) (i32.const 10)))
      (br_if $digits (local.get $u)))
    (if (local.get $neg) (then
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.const 45))))
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (i32.sub (i32.const 96) (local.get $p)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
)
