;; Locals and params of all four number types live across calls to env.pause,
;; plus a value left on the operand stack across the call.
;; Prints the i32 fold of the result and its low and high halves.
(module
  (import "env" "pause" (func $pause (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  (func $mixed (export "mixed") (param $a i32) (param $b i64) (param $c f32) (param $d f64) (result i64)
    (local $x i32) (local $y i64) (local $z f32) (local $w f64)
    (local.set $x (i32.mul (local.get $a) (i32.const 7)))
    (local.set $y (i64.add (local.get $b) (i64.const 0x100000000)))
    (local.set $z (f32.mul (local.get $c) (f32.const 1.5)))
    (local.set $w (f64.div (local.get $d) (f64.const 4)))
    ;; everything above is live across this call; so is the i64 below (operand stack)
    (i64.add
      (i64.mul (local.get $y) (i64.const 3))
      (i64.extend_i32_s (call $pause (local.get $x))))
    (local.set $y)
    (local.set $x (i32.add (local.get $x) (call $pause (i32.trunc_f32_s (local.get $z)))))
    (i64.add
      (i64.add (local.get $y) (i64.extend_i32_s (local.get $x)))
      (i64.add (i64.trunc_f64_s (f64.mul (local.get $w) (f64.const 1000)))
               (i64.trunc_f32_s (f32.mul (local.get $z) (f32.const 100))))))

  (func (export "_start")
    (local $r i64)
    (local.set $r (call $mixed (i32.const 6) (i64.const 1234567) (f32.const 2.25) (f64.const 3.5)))
    (call $print (i32.wrap_i64 (i64.xor (local.get $r) (i64.shr_u (local.get $r) (i64.const 32)))))
    (call $print (i32.wrap_i64 (local.get $r)))
    (call $print (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32)))))

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
