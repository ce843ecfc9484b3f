;; memory64: pauses in env.pause at two depths, an i64/f64 import (zero results of
;; other types while unwinding), and an export that never pauses.
(module
  (import "env" "pause" (func $pause (param i32) (result i32)))
  (import "env" "wide" (func $wide (param i64 f64) (result i64)))
  (memory (export "memory") i64 1)
  (func $inner (param $x i32) (result i32)
    (i32.mul (call $pause (local.get $x)) (i32.const 2)))
  (func (export "add_paused") (param $a i32) (param $b i32) (result i32)
    (local $keep i32)
    (local.set $keep (i32.const 1000))
    (i32.add (local.get $keep)
      (i32.add (call $pause (local.get $a)) (call $inner (local.get $b)))))
  (func (export "widen") (param $x i64) (result i64)
    (i64.add (call $wide (local.get $x) (f64.const 1.5)) (i64.const 1)))
  (func (export "square") (param $x i32) (result i32)
    (i32.mul (local.get $x) (local.get $x))))
