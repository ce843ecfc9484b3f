;; The program of the shared host scenarios (tests/scenarios/README.md).
;; Every export logs through env.log(kind, value) so that a host records the
;; order of events; env.backend is the host's async operation.
(module
  (import "asyncpy" "go" (func $go (param i32 i32) (result i32)))
  (import "asyncpy" "sleep_ms" (func $sleep_ms (param i32)))
  (import "asyncpy" "wait" (func $wait (param i32)))
  (import "asyncpy" "wake_all" (func $wake_all (param i32) (result i32)))
  (import "env" "backend" (func $backend (param i32) (result i32)))
  (import "env" "log" (func $log (param i32 i32)))
  (memory (export "memory") 2)
  ;; shadow stack: page 0 down to 1024 (tasks get their own, in their blocks)
  (global $__stack_pointer (mut i32) (i32.const 65536))
  (table 2 funcref)
  (elem (i32.const 1) $ticker)
  ;; a wait queue at 256, a counter at 264

  ;; handle(x): log(1, x); r = backend(x); log(2, r); r
  (func (export "handle") (param $x i32) (result i32)
    (local $r i32)
    (call $log (i32.const 1) (local.get $x))
    (local.set $r (call $backend (local.get $x)))
    (call $log (i32.const 2) (local.get $r))
    (local.get $r))

  ;; twice(x): two backend calls in a row, on one task: backend(x) + backend(x + 1)
  (func (export "twice") (param $x i32) (result i32)
    (i32.add (call $backend (local.get $x))
             (call $backend (i32.add (local.get $x) (i32.const 1)))))

  ;; nap(ms): log(3, ms); sleep_ms(ms); log(4, ms); ms
  (func (export "nap") (param $ms i32) (result i32)
    (call $log (i32.const 3) (local.get $ms))
    (call $sleep_ms (local.get $ms))
    (call $log (i32.const 4) (local.get $ms))
    (local.get $ms))

;; hog(n): takes n bytes of shadow stack, then waits on the host (a stack
  ;; overflow when n is more than the task's block; Python tests only)
  (func (export "hog") (param $n i32) (result i32)
    (local $sp i32)
    (local.set $sp (global.get $__stack_pointer))
    (global.set $__stack_pointer (i32.sub (local.get $sp) (local.get $n)))
    (local.set $n (call $backend (i32.const 1)))
    (global.set $__stack_pointer (local.get $sp))
    (local.get $n))

  ;; add(a, b): no wait at all
  (func (export "add") (param $a i32) (param $b i32) (result i32)
    (i32.add (local.get $a) (local.get $b)))

  ;; ticker(n): a background task that sleeps 20 ms (the period at 268) n times, logging (5, i)
  ;; after each sleep, then wakes the waiters of the queue at 256
  (func $ticker (param $n i32)
    (local $i i32)
    (loop $l
      (call $sleep_ms (i32.load (i32.const 268)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (call $log (i32.const 5) (local.get $i))
      (br_if $l (i32.lt_s (local.get $i) (local.get $n))))
    (i32.store (i32.const 264) (i32.const 1))
    (drop (call $wake_all (i32.const 256))))
  (func (export "start_ticker") (param $n i32)
    (call $start_ticker_every (local.get $n) (i32.const 20)))
  ;; the same with another period (Python tests only)
  (func $start_ticker_every (export "start_ticker_every") (param $n i32) (param $ms i32)
    (i32.store (i32.const 264) (i32.const 0))
    (i32.store (i32.const 268) (local.get $ms))
    (drop (call $go (i32.const 1) (local.get $n))))

  ;; join(): wait until the ticker has finished; log(6, 0)
  (func (export "join") (result i32)
    (block $done
      (loop $l
        (br_if $done (i32.load (i32.const 264)))
        (call $wait (i32.const 256))
        (br $l)))
    (call $log (i32.const 6) (i32.const 0))
    (i32.const 1))
)
