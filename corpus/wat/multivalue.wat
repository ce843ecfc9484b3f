;; Multi-value: a function returning (i32 i64 f64) that pauses, a caller that
;; pauses while those results are on the stack, and a block with a tuple result.
;; (No block parameters: Binaryen 116 cannot read them, and this program is
;; measured against Binaryen's pass too.)
(module
  (import "env" "pause" (func $pause (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  (func $triple (export "triple") (param $x i32) (result i32 i64 f64)
    (call $pause (local.get $x))
    (i64.extend_i32_u (call $pause (i32.add (local.get $x) (i32.const 1))))
    (f64.convert_i32_s (i32.mul (local.get $x) (i32.const 10))))

  (func $swap (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))

  (func $use (export "use") (param $x i32) (result i32)
    (local $a i32) (local $b i64) (local $c f64)
    (call $triple (local.get $x))
    ;; three results on the stack while pausing again
    (drop (call $pause (i32.const 100)))
    (local.set $c) (local.set $b) (local.set $a)
    ;; a block returning two values, then b - a (via swap)
    (block (result i32 i32)
      (call $swap (local.get $a) (i32.wrap_i64 (local.get $b))))
    (i32.sub)
    (i32.add (i32.trunc_f64_s (local.get $c))))

  (func (export "_start")
    (call $print (call $use (i32.const 3)))
    (call $print (call $use (i32.const 7))))

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
