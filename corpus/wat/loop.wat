;; A counted loop with the pause inside (every 4th iteration), nested in a
;; block with an early exit; the accumulator is on the operand stack during
;; the call. Prints the sum for n=20 and for n=100 (early exit at 50).
(module
  (import "env" "pause" (func $pause (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  (func $sum (export "sum") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (br_if $exit (i32.eq (local.get $i) (i32.const 50)))
        (if (i32.eqz (i32.and (local.get $i) (i32.const 3)))
          (then
            (local.set $acc (i32.add (local.get $acc) (call $pause (local.get $i)))))
          (else
            (local.set $acc (i32.add (local.get $acc) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))

  (func (export "_start")
    (call $print (call $sum (i32.const 20)))
    (call $print (call $sum (i32.const 100))))

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
