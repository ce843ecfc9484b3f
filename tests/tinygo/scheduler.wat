;; Built like TinyGo's output for -scheduler=asyncify: the scheduler lives
;; in the module and drives asyncify through the asyncify.* imports. Each
;; task has its own {current, end} struct and buffer; launching and
;; resuming a task call the same entry through call_indirect; a global flag
;; tells the pause point whether it is being rewound into.
(module
  (import "asyncify" "start_unwind" (func $start_unwind (param i32)))
  (import "asyncify" "stop_unwind" (func $stop_unwind))
  (import "asyncify" "start_rewind" (func $start_rewind (param i32)))
  (import "asyncify" "stop_rewind" (func $stop_rewind))
  (import "env" "print" (func $print (param i32)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (elem (i32.const 0) $task_a $task_b)
  (global $current (mut i32) (i32.const 0))     ;; the running task's struct
  (global $rewinding (mut i32) (i32.const 0))
  (global $unwound (mut i32) (i32.const 0))

  ;; The pause point (TinyGo's task.Pause): unwind, or finish a rewind.
  (func $pause
    (if (global.get $rewinding)
      (then (global.set $rewinding (i32.const 0)) (call $stop_rewind) (return)))
    (global.set $unwound (i32.const 1))
    (call $start_unwind (global.get $current)))

  (func $square (param $x i32) (result i32) (i32.mul (local.get $x) (local.get $x)))

  (func $work (param $base i32) (param $i i32)
    (local $keep i32)
    (local.set $keep (call $square (i32.add (local.get $base) (local.get $i))))
    (call $pause)
    (call $print (i32.add (local.get $keep) (local.get $i))))

  (func $task_a (local $i i32)
    (loop $l
      (call $work (i32.const 10) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 3)))))

  (func $task_b (local $i i32)
    (loop $l
      (call $work (i32.const 20) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 4)))))

  ;; Run task $t (0 or 1) one step; returns 1 when it has finished.
  (func $step (param $t i32) (result i32)
    (local $data i32)
    (local.set $data (i32.add (i32.const 1024) (i32.mul (local.get $t) (i32.const 1024))))
    (global.set $current (local.get $data))
    (if (i32.load offset=8 (local.get $data))          ;; started: resume it
      (then (global.set $rewinding (i32.const 1)) (call $start_rewind (local.get $data)))
      (else
        (i32.store offset=8 (local.get $data) (i32.const 1))
        (i32.store (local.get $data) (i32.add (local.get $data) (i32.const 16)))
        (i32.store offset=4 (local.get $data) (i32.add (local.get $data) (i32.const 1024)))))
    (call_indirect (local.get $t))
    (if (global.get $unwound)
      (then (global.set $unwound (i32.const 0)) (call $stop_unwind) (return (i32.const 0))))
    (i32.const 1))

  (func (export "run")
    (local $done_a i32) (local $done_b i32)
    (loop $l
      (if (i32.eqz (local.get $done_a)) (then (local.set $done_a (call $step (i32.const 0)))))
      (if (i32.eqz (local.get $done_b)) (then (local.set $done_b (call $step (i32.const 1)))))
      (br_if $l (i32.eqz (i32.and (local.get $done_a) (local.get $done_b)))))))
