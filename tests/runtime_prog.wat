;; Test program for the bundled runtime (tests/test_runtime.py).
(module
  (import "asyncpy" "go" (func $go (param i32 i32) (result i32)))
  (import "asyncpy" "yield" (func $yield))
  (import "asyncpy" "wait" (func $wait (param i32)))
  (import "asyncpy" "wake" (func $wake (param i32) (result i32)))
  (import "asyncpy" "live" (func $live (result i32)))
  (import "asyncpy" "sleep_ticks" (func $sleep_ticks (param i32)))
  (import "asyncpy" "now" (func $now (result i64)))
  (import "env" "hostsleep" (func $hostsleep (param i32) (result i32)))
  (import "env" "callback" (func $callback (param i32) (result i32)))
  (memory (export "memory") 2)
  ;; shadow stack: the top of page 0 down to 16384
  (global $__stack_pointer (mut i32) (i32.const 65536))
  (table 4 funcref)
  (elem (i32.const 1) $worker $sleeper $hog)

  ;; progress[id] at 8192 + 4*id (ids < 2000)

  ;; A worker keeps a frame on the shadow stack and a local counter; it
  ;; pauses 3 calls deep, then checks both survived.
  (func $worker (param $id i32)
    (local $i i32) (local $sp i32)
    (local.set $sp (i32.sub (global.get $__stack_pointer) (i32.const 16)))
    (global.set $__stack_pointer (local.get $sp))
    (i32.store (local.get $sp) (local.get $id))
    (loop $l
      (call $deep (i32.const 3))
      (if (i32.ne (i32.load (local.get $sp)) (local.get $id)) (then (unreachable)))
      (if (i32.ne (global.get $__stack_pointer) (local.get $sp)) (then (unreachable)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (i32.store offset=8192 (i32.shl (local.get $id) (i32.const 2)) (local.get $i))
      (br $l)))
  (func $deep (param $n i32)
    (if (local.get $n)
      (then (call $deep (i32.sub (local.get $n) (i32.const 1))))
      (else (call $yield))))

  ;; A background task that pauses the whole instance (a host import).
  (func $sleeper (param $id i32)
    (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (call $hostsleep (local.get $id))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (i32.store offset=8192 (i32.shl (local.get $id) (i32.const 2)) (local.get $i))
      (i32.store offset=12288 (i32.shl (local.get $id) (i32.const 2)) (local.get $acc))
      (call $yield)
      (br $l)))

  ;; Grows its shadow stack over the bottom of its block, then pauses.
  (func $hog (param $n i32)
    (local $sp i32) (local $p i32)
    (local.set $sp (i32.sub (global.get $__stack_pointer) (local.get $n)))
    (global.set $__stack_pointer (local.get $sp))
    (local.set $p (local.get $sp))
    (loop $fill
      (i32.store (local.get $p) (i32.const 0))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br_if $fill (i32.lt_u (local.get $p) (i32.add (local.get $sp) (local.get $n)))))
    (call $yield))

  (func (export "spawn") (param $first i32) (param $n i32)
    (loop $l
      (drop (call $go (i32.const 1) (local.get $first)))
      (local.set $first (i32.add (local.get $first) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func (export "spawn_sleeper") (param $id i32)
    (drop (call $go (i32.const 2) (local.get $id))))

  ;; yield k times, then report the live tasks (this one included)
  (func (export "run") (param $k i32) (result i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $k)))
        (call $yield)
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $l)))
    (call $live))

  ;; all scalar types through a wrapped export, with a pause in between
  (func (export "mix") (param $a i32) (param $b i64) (param $c f32) (param $d f64) (result f64)
    (call $yield)
    (f64.add (f64.add (f64.convert_i32_s (local.get $a)) (f64.convert_i64_s (local.get $b)))
             (f64.add (f64.promote_f32 (local.get $c)) (local.get $d))))

  (func (export "work") (param $x i32) (result i32)
    (local $r i32)
    (call $yield)
    (local.set $r (call $hostsleep (local.get $x)))
    (call $yield)
    (i32.add (local.get $r) (local.get $x)))

  (func (export "stuck") (result i32)
    (call $wait (i32.const 7000))
    (i32.const 1))

  (func (export "nap") (param $ticks i32) (result i64)
    (call $sleep_ticks (local.get $ticks))
    (call $now))

  (func (export "outer") (param $x i32) (result i32)
    (local $r i32)
    (call $yield)
    (local.set $r (call $callback (local.get $x)))
    (call $yield)
    (i32.add (local.get $r) (i32.const 1000)))
  (func (export "inner") (param $x i32) (result i32)
    (call $yield) (call $yield) (call $yield)
    (i32.mul (local.get $x) (i32.const 2)))

  (func (export "overflow") (param $n i32)
    (drop (call $go (i32.const 3) (local.get $n)))
    (call $yield)
    (call $yield))
)
