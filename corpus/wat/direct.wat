;; Direct calls to the pausing import env.pause, through a chain of callers,
;; next to functions that never pause.
;; Prints: outer(5), pure(7), outer(5) again.
(module
  (import "env" "pause" (func $pause (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; leaf: calls the import directly
  (func $leaf (export "leaf") (param $x i32) (result i32)
    (i32.mul (call $pause (local.get $x)) (i32.const 3)))

  ;; middle: reaches the import only through $leaf, twice
  (func $middle (param $x i32) (result i32)
    (i32.add (call $leaf (local.get $x)) (call $leaf (i32.add (local.get $x) (i32.const 1)))))

  (func $outer (export "outer") (param $x i32) (result i32)
    (i32.sub (call $middle (local.get $x)) (call $pure (local.get $x))))

  ;; never pauses
  (func $pure (export "pure") (param $x i32) (result i32)
    (i32.add (i32.mul (local.get $x) (local.get $x)) (i32.const 1)))

  (func (export "_start")
    (call $print (call $outer (i32.const 5)))
    (call $print (call $pure (i32.const 7)))
    (call $print (call $outer (i32.const 5))))

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
