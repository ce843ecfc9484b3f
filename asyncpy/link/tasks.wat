;; asyncpy bundled runtime: tasks, a cooperative scheduler, wait queues and
;; the helpers the export wrappers call. Linked into a program by
;; asyncpy/link.py (see its docstring for how names are mapped); programs
;; reach it by importing functions from the module "asyncpy" (see
;; examples/asyncpy.h).
;;
;; Imports of this module are resolved when it is linked:
;;   asyncify.*              stay imports of the program; the transform turns
;;                           them into calls to its control functions.
;;   program.alloc           the program's allocator (malloc), or
;;                           $asyncpy.rt.grow_alloc below (memory.grow).
;;   program.memory/table    the program's (first) memory and table.
;;   program.stack_pointer   the program's __stack_pointer, or a private global.
;;
;; A task is one block of $asyncpy.rt.block_size bytes (TinyGo's layout):
;;
;;   +0   current   \ the asyncify data struct of the task: its buffer grows
;;   +4   end       / up from +128; `end` is the saved shadow-stack pointer
;;   +8   next      link in the run queue, a wait queue, a sleep list or the
;;                  done list
;;   +12  fn        table index of the entry, type (i32) -> ()
;;   +16  arg       its argument
;;   +20  status    0 done, 1 runnable, 2 running, 3 blocked on a wait queue,
;;                  4 sleeping (virtual clock), 5 waiting on a host operation,
;;                  6 sleeping in real time, 7 a finished call whose results
;;                  the host has not taken yet
;;   +24  wake      i64 tick (virtual) or clock_ms deadline (real time)
;;   +32  flags     1: an export's task; 2: detached (its wrapper returned to
;;                  the host before it finished: the host takes its results)
;;   +36  args      8 slots of 8 bytes: an export's parameters, then results
;;   +100 waitq     the wait queue a blocked task is on (for cancelling it)
;;   +124 canary    guards the bottom of the shadow stack
;;   +128 ...       asyncify buffer (up) ... shadow stack (down from the top)
;;
;; Pausing is asyncify: $asyncpy.rt.pause calls start_unwind (top-most: its
;; callers are instrumented), the scheduler's loop calls stop_unwind and
;; start_rewind (bottom-most: never instrumented). Launching and resuming a
;; task both call its entry through call_indirect, like TinyGo.
;;
;; Waiting on the host (docs/host-protocol.md is the full contract; DESIGN.md §5,
;; the WASIp3 / Go runtime.wasiOnIdle shape). The functions named
;; $asyncpy.rt.host.X are exported as `asyncpy_X` by the linker. A host
;; whose loop must not block calls asyncpy_host_mode(1) once; from then on:
;;   * an import the host implements asynchronously calls asyncpy_suspend()
;;     from inside the import: the calling task is unwound into its own block
;;     (status 5) and the scheduler runs the others; the host keeps the
;;     operation under the returned task handle, and once it completes calls
;;     asyncpy_resume(t) and asyncpy_run(); the task is rewound into the
;;     import, which (state 2) asks asyncpy_current() whose result to return;
;;   * asyncpy.sleep_ms sleeps on the host's clock (import
;;     asyncpy_host.clock_ms, only linked in when the program uses it);
;;   * when no task can run, the scheduler returns to the host instead of
;;     trapping: a wrapped export returns with asyncpy_call_pending() giving
;;     its call's handle, and the host collects the call's results later
;;     (asyncpy_take_done, asyncpy_result_*, asyncpy_release). What the
;;     module waits for is the host operations it started plus
;;     asyncpy_deadline(), the earliest real-time wake-up;
;;   * several export calls can be in flight, each its own task;
;;     asyncpy_cancel(t) drops one; asyncpy_recover() makes the instance
;;     usable after a trap in a task and names the task.
;; Without asyncpy_host_mode (plain synchronous hosts) nothing changes: a
;; blocked export with nothing to run traps (deadlock), real-time sleeps
;; busy-wait on the clock, and a host pause unwinds the whole module.
(module
  (type $entry (func (param i32)))
  (import "asyncify" "start_unwind" (func $asyncpy.rt.asyncify.start_unwind (param i32)))
  (import "asyncify" "stop_unwind" (func $asyncpy.rt.asyncify.stop_unwind))
  (import "asyncify" "start_rewind" (func $asyncpy.rt.asyncify.start_rewind (param i32)))
  (import "asyncify" "stop_rewind" (func $asyncpy.rt.asyncify.stop_rewind))
  (import "asyncify" "get_state" (func $asyncpy.rt.asyncify.get_state (result i32)))
  (import "program" "alloc" (func $asyncpy.rt.program.alloc (param i32) (result i32)))
  (import "program" "memory" (memory 0))
  (import "program" "table" (table $asyncpy.rt.program.table 0 funcref))
  (import "program" "stack_pointer" (global $asyncpy.rt.program.sp (mut i32)))
  ;; linked to the import asyncpy_host.clock_ms only when the program uses
  ;; real time (sleep_ms, clock_ms); else to $asyncpy.rt.no_clock
  (import "asyncpy_host" "clock_ms" (func $asyncpy.rt.host_clock (result i64)))

  (global $asyncpy.rt.block_size (mut i32) (i32.const 65536))
  (global $asyncpy.rt.current (mut i32) (i32.const 0))
  (global $asyncpy.rt.runq_head (mut i32) (i32.const 0))
  (global $asyncpy.rt.runq_tail (mut i32) (i32.const 0))
  (global $asyncpy.rt.sleepers (mut i32) (i32.const 0))
  (global $asyncpy.rt.free (mut i32) (i32.const 0))
  (global $asyncpy.rt.now (mut i64) (i64.const 0))
  (global $asyncpy.rt.live (mut i32) (i32.const 0))
  (global $asyncpy.rt.switching (mut i32) (i32.const 0))
  (global $asyncpy.rt.depth (mut i32) (i32.const 0))
  (global $asyncpy.rt.host_task (mut i32) (i32.const 0))
  (global $asyncpy.rt.host_target (mut i32) (i32.const 0))
  (global $asyncpy.rt.grow_next (mut i32) (i32.const 0))
  (global $asyncpy.rt.grow_end (mut i32) (i32.const 0))
  (global $asyncpy.rt.host_flags (mut i32) (i32.const 0))
  (global $asyncpy.rt.rt_sleepers (mut i32) (i32.const 0))
  (global $asyncpy.rt.done_head (mut i32) (i32.const 0))
  (global $asyncpy.rt.done_tail (mut i32) (i32.const 0))
  (global $asyncpy.rt.done_count (mut i32) (i32.const 0))
  (global $asyncpy.rt.call_pending (mut i32) (i32.const 0))
  (global $asyncpy.rt.entry_call (mut i32) (i32.const 0))
  (global $asyncpy.rt.base_sp (mut i32) (i32.const 0))
  (global $asyncpy.rt.found (mut i32) (i32.const 0))
  (global $asyncpy.rt.found_prev (mut i32) (i32.const 0))

  ;; ---- traps. Each is its own function so that a trap's backtrace names
  ;; the cause; the self-call keeps Binaryen's inliner from folding them away.
  (func $asyncpy.rt.trap.deadlock (param $again i32)
    (if (local.get $again) (then (unreachable)))
    (call $asyncpy.rt.trap.deadlock (i32.const 1)))
  (func $asyncpy.rt.trap.stack_overflow (param $again i32)
    (if (local.get $again) (then (unreachable)))
    (call $asyncpy.rt.trap.stack_overflow (i32.const 1)))
  (func $asyncpy.rt.trap.not_in_task (param $again i32)
    (if (local.get $again) (then (unreachable)))
    (call $asyncpy.rt.trap.not_in_task (i32.const 1)))
  (func $asyncpy.rt.trap.out_of_memory (param $again i32)
    (if (local.get $again) (then (unreachable)))
    (call $asyncpy.rt.trap.out_of_memory (i32.const 1)))
  (func $asyncpy.rt.trap.nested_host_pause (param $again i32)
    (if (local.get $again) (then (unreachable)))
    (call $asyncpy.rt.trap.nested_host_pause (i32.const 1)))
  (func $asyncpy.rt.trap.bad_resume (param $again i32)
    (if (local.get $again) (then (unreachable)))
    (call $asyncpy.rt.trap.bad_resume (i32.const 1)))
  (func $asyncpy.rt.trap.nested_wait (param $again i32)
    (if (local.get $again) (then (unreachable)))
    (call $asyncpy.rt.trap.nested_wait (i32.const 1)))

  (func $asyncpy.rt.trap.not_a_pause_point (param $again i32)
    (if (local.get $again) (then (unreachable)))
    (call $asyncpy.rt.trap.not_a_pause_point (i32.const 1)))

  (func $asyncpy.rt.no_clock (result i64) (i64.const 0))

  ;; ---- memory for task blocks when the program has no allocator
  (func $asyncpy.rt.grow_alloc (param $size i32) (result i32)
    (local $p i32) (local $pages i32) (local $old i32)
    (if (i32.gt_u (i32.add (global.get $asyncpy.rt.grow_next) (local.get $size))
                  (global.get $asyncpy.rt.grow_end))
      (then
        ;; at least 16 blocks' worth (or 1 MiB) per growth
        (local.set $pages (i32.shr_u (i32.add (i32.shl (local.get $size) (i32.const 4))
                                              (i32.const 65535)) (i32.const 16)))
        (local.set $old (memory.grow (local.get $pages)))
        (if (i32.eq (local.get $old) (i32.const -1)) (then (return (i32.const 0))))
        (global.set $asyncpy.rt.grow_next (i32.shl (local.get $old) (i32.const 16)))
        (global.set $asyncpy.rt.grow_end
          (i32.shl (i32.add (local.get $old) (local.get $pages)) (i32.const 16)))))
    (local.set $p (global.get $asyncpy.rt.grow_next))
    (global.set $asyncpy.rt.grow_next (i32.add (local.get $p) (local.get $size)))
    (local.get $p))

  ;; ---- tasks
  (func $asyncpy.rt.new_task (param $fn i32) (param $arg i32) (result i32)
    (local $t i32)
    (local.set $t (global.get $asyncpy.rt.free))
    (if (local.get $t)
      (then (global.set $asyncpy.rt.free (i32.load offset=8 (local.get $t))))
      (else
        (local.set $t (call $asyncpy.rt.program.alloc (global.get $asyncpy.rt.block_size)))
        (if (i32.eqz (local.get $t)) (then (call $asyncpy.rt.trap.out_of_memory (i32.const 0))))))
    (i32.store offset=0 (local.get $t) (i32.add (local.get $t) (i32.const 128)))
    (i32.store offset=4 (local.get $t)
      (i32.and (i32.add (local.get $t) (global.get $asyncpy.rt.block_size)) (i32.const -16)))
    (i32.store offset=8 (local.get $t) (i32.const 0))
    (i32.store offset=12 (local.get $t) (local.get $fn))
    (i32.store offset=16 (local.get $t) (local.get $arg))
    (i32.store offset=20 (local.get $t) (i32.const 1))
    (i64.store offset=24 (local.get $t) (i64.const 0))
    (i32.store offset=32 (local.get $t) (i32.const 0))
    (i32.store offset=124 (local.get $t) (i32.const 0x7a5c_a3e1))
    (global.set $asyncpy.rt.live (i32.add (global.get $asyncpy.rt.live) (i32.const 1)))
    (local.get $t))

  (func $asyncpy.rt.release (param $t i32)
    (i32.store offset=20 (local.get $t) (i32.const 0))
    (i32.store offset=8 (local.get $t) (global.get $asyncpy.rt.free))
    (global.set $asyncpy.rt.free (local.get $t)))

  (func $asyncpy.rt.check (param $t i32)
    (if (i32.ne (i32.load offset=124 (local.get $t)) (i32.const 0x7a5c_a3e1))
      (then (call $asyncpy.rt.trap.stack_overflow (i32.const 0)))))

  (func $asyncpy.rt.enqueue (param $t i32)
    (i32.store offset=8 (local.get $t) (i32.const 0))
    (i32.store offset=20 (local.get $t) (i32.const 1))
    (if (global.get $asyncpy.rt.runq_tail)
      (then (i32.store offset=8 (global.get $asyncpy.rt.runq_tail) (local.get $t)))
      (else (global.set $asyncpy.rt.runq_head (local.get $t))))
    (global.set $asyncpy.rt.runq_tail (local.get $t)))

  (func $asyncpy.rt.dequeue (result i32)
    (local $t i32)
    (local.set $t (global.get $asyncpy.rt.runq_head))
    (if (local.get $t)
      (then
        (global.set $asyncpy.rt.runq_head (i32.load offset=8 (local.get $t)))
        (if (i32.eqz (global.get $asyncpy.rt.runq_head))
          (then (global.set $asyncpy.rt.runq_tail (i32.const 0))))))
    (local.get $t))

  (func $asyncpy.rt.self (result i32)
    (if (i32.eqz (global.get $asyncpy.rt.current))
      (then (call $asyncpy.rt.trap.not_in_task (i32.const 0))))
    (global.get $asyncpy.rt.current))

  ;; The pause point. Called twice per switch: first to unwind (the state is
  ;; normal), then at the end of the rewind (the state is rewinding).
  (func $asyncpy.rt.pause
    (local $t i32) (local $sp i32)
    (if (i32.eq (call $asyncpy.rt.asyncify.get_state) (i32.const 2))
      (then (call $asyncpy.rt.asyncify.stop_rewind) (return)))
    (local.set $t (call $asyncpy.rt.self))
    (local.set $sp (global.get $asyncpy.rt.program.sp))
    (call $asyncpy.rt.check (local.get $t))
    (if (i32.le_u (local.get $sp) (i32.add (local.get $t) (i32.const 128)))
      (then (call $asyncpy.rt.trap.stack_overflow (i32.const 0))))
    (i32.store offset=4 (local.get $t) (local.get $sp))
    (global.set $asyncpy.rt.switching (i32.const 1))
    (call $asyncpy.rt.asyncify.start_unwind (local.get $t)))

  ;; Runs tasks until $target finishes (returns 1), or until a task's unwind
  ;; that the runtime did not start (a host pause) comes through (returns 0,
  ;; the state left at unwinding for the host), or (host mode only) until no
  ;; task can run (returns 2). $target 0: until idle. Called with the state
  ;; rewinding, it first resumes the task the host paused.
  (func $asyncpy.rt.run_until (param $target i32) (result i32)
    (local $t i32) (local $saved_sp i32) (local $saved_cur i32) (local $s i32)
    (local.set $saved_sp (global.get $asyncpy.rt.program.sp))
    (local.set $saved_cur (global.get $asyncpy.rt.current))
    (if (i32.eqz (global.get $asyncpy.rt.depth))
      (then (global.set $asyncpy.rt.base_sp (local.get $saved_sp))))
    (global.set $asyncpy.rt.depth (i32.add (global.get $asyncpy.rt.depth) (i32.const 1)))
    (loop $next
      (block $chosen
        ;; a host resume: the host has called start_rewind with its buffer
        (if (i32.eq (call $asyncpy.rt.asyncify.get_state) (i32.const 2))
          (then
            (local.set $t (global.get $asyncpy.rt.host_task))
            (if (i32.eqz (local.get $t)) (then (call $asyncpy.rt.trap.bad_resume (i32.const 0))))
            (global.set $asyncpy.rt.host_task (i32.const 0))
            (global.set $asyncpy.rt.current (local.get $t))
            (i32.store offset=20 (local.get $t) (i32.const 2))
            (global.set $asyncpy.rt.program.sp (i32.load offset=4 (local.get $t)))
            (br $chosen)))
        (local.set $t (call $asyncpy.rt.dequeue))
        (if (i32.eqz (local.get $t))
          (then
            (br_if $next (call $asyncpy.rt.idle_step))
            ;; idle, and the host waits for us: return to it (2)
            (global.set $asyncpy.rt.current (local.get $saved_cur))
            (global.set $asyncpy.rt.depth (i32.sub (global.get $asyncpy.rt.depth) (i32.const 1)))
            (return (i32.const 2))))
        (global.set $asyncpy.rt.current (local.get $t))
        (i32.store offset=20 (local.get $t) (i32.const 2))
        (global.set $asyncpy.rt.program.sp (i32.load offset=4 (local.get $t)))
        (if (i32.ne (i32.load (local.get $t)) (i32.add (local.get $t) (i32.const 128)))
          (then (call $asyncpy.rt.asyncify.start_rewind (local.get $t)))))
      (call_indirect $asyncpy.rt.program.table (type $entry)
        (i32.load offset=16 (local.get $t)) (i32.load offset=12 (local.get $t)))
      (global.set $asyncpy.rt.current (local.get $saved_cur))
      (local.set $s (call $asyncpy.rt.asyncify.get_state))
      (if (i32.eq (local.get $s) (i32.const 1))
        (then
          (if (global.get $asyncpy.rt.switching)
            (then
              (global.set $asyncpy.rt.switching (i32.const 0))
              (call $asyncpy.rt.asyncify.stop_unwind)
              (call $asyncpy.rt.check (local.get $t))
              (global.set $asyncpy.rt.program.sp (local.get $saved_sp))
              (br $next)))
          ;; a pause the host started: remember where, unwind to the host
          (if (i32.gt_u (global.get $asyncpy.rt.depth) (i32.const 1))
            (then (call $asyncpy.rt.trap.nested_host_pause (i32.const 0))))
          (i32.store offset=4 (local.get $t) (global.get $asyncpy.rt.program.sp))
          (global.set $asyncpy.rt.host_task (local.get $t))
          (global.set $asyncpy.rt.host_target (local.get $target))
          (global.set $asyncpy.rt.program.sp (local.get $saved_sp))
          (global.set $asyncpy.rt.depth (i32.sub (global.get $asyncpy.rt.depth) (i32.const 1)))
          (return (i32.const 0))))
      ;; the task returned: it is done
      (call $asyncpy.rt.check (local.get $t))
      (global.set $asyncpy.rt.program.sp (local.get $saved_sp))
      (global.set $asyncpy.rt.live (i32.sub (global.get $asyncpy.rt.live) (i32.const 1)))
      (i32.store offset=20 (local.get $t) (i32.const 0))
      (if (i32.eqz (i32.load offset=32 (local.get $t)))
        (then (call $asyncpy.rt.release (local.get $t)))
        (else
          ;; a call whose wrapper has returned already: the host collects it
          (if (i32.and (i32.load offset=32 (local.get $t)) (i32.const 2))
            (then (call $asyncpy.rt.push_done (local.get $t))))))
      (br_if $next (i32.ne (local.get $t) (local.get $target))))
    (global.set $asyncpy.rt.depth (i32.sub (global.get $asyncpy.rt.depth) (i32.const 1)))
    (i32.const 1))

  ;; Move sleepers whose time has come to the run queue. With $advance and
  ;; none due, first move the clock to the earliest wake time.
  (func $asyncpy.rt.wake_sleepers (param $advance i32)
    (local $t i32)
    (local.set $t (global.get $asyncpy.rt.sleepers))
    (if (i32.and (local.get $advance) (i32.ne (local.get $t) (i32.const 0)))
      (then
        (if (i64.gt_u (i64.load offset=24 (local.get $t)) (global.get $asyncpy.rt.now))
          (then (global.set $asyncpy.rt.now (i64.load offset=24 (local.get $t)))))))
    (block $done
      (loop $more
        (local.set $t (global.get $asyncpy.rt.sleepers))
        (br_if $done (i32.eqz (local.get $t)))
        (br_if $done (i64.gt_u (i64.load offset=24 (local.get $t)) (global.get $asyncpy.rt.now)))
        (global.set $asyncpy.rt.sleepers (i32.load offset=8 (local.get $t)))
        (call $asyncpy.rt.enqueue (local.get $t))
        (br $more))))

  (func $asyncpy.rt.add_sleeper (param $t i32) (param $ticks i32)
    (local $wake i64) (local $prev i32) (local $cur i32)
    (local.set $wake (i64.add (global.get $asyncpy.rt.now) (i64.extend_i32_u (local.get $ticks))))
    (i64.store offset=24 (local.get $t) (local.get $wake))
    (i32.store offset=20 (local.get $t) (i32.const 4))
    ;; keep the list sorted by wake time, FIFO among equals
    (local.set $cur (global.get $asyncpy.rt.sleepers))
    (block $found
      (loop $walk
        (br_if $found (i32.eqz (local.get $cur)))
        (br_if $found (i64.gt_u (i64.load offset=24 (local.get $cur)) (local.get $wake)))
        (local.set $prev (local.get $cur))
        (local.set $cur (i32.load offset=8 (local.get $cur)))
        (br $walk)))
    (i32.store offset=8 (local.get $t) (local.get $cur))
    (if (local.get $prev)
      (then (i32.store offset=8 (local.get $prev) (local.get $t)))
      (else (global.set $asyncpy.rt.sleepers (local.get $t)))))

  (func $asyncpy.rt.block_on (param $q i32) (param $t i32)
    ;; a wait queue is two words {head, tail} in the program's memory, zero = empty
    (i32.store offset=8 (local.get $t) (i32.const 0))
    (i32.store offset=20 (local.get $t) (i32.const 3))
    (i32.store offset=100 (local.get $t) (local.get $q))
    (if (i32.load offset=4 (local.get $q))
      (then (i32.store offset=8 (i32.load offset=4 (local.get $q)) (local.get $t)))
      (else (i32.store (local.get $q) (local.get $t))))
    (i32.store offset=4 (local.get $q) (local.get $t)))


  ;; Nothing is runnable: make something runnable if time allows (1), or
  ;; say the scheduler must return to the host (0), or trap. Real-time
  ;; sleepers that are due go first; then the virtual clock jumps to its
  ;; next wake-up (virtual time passes at once when nothing can run).
  (func $asyncpy.rt.idle_step (result i32)
    (if (global.get $asyncpy.rt.rt_sleepers)
      (then
        (call $asyncpy.rt.wake_rt)
        (if (global.get $asyncpy.rt.runq_head) (then (return (i32.const 1))))))
    (if (global.get $asyncpy.rt.sleepers)
      (then (call $asyncpy.rt.wake_sleepers (i32.const 1)) (return (i32.const 1))))
    (if (i32.and (global.get $asyncpy.rt.host_flags) (i32.const 1))
      (then
        (if (i32.le_u (global.get $asyncpy.rt.depth) (i32.const 1)) (then (return (i32.const 0))))
        ;; a re-entrant call cannot return to an async host: its caller is a
        ;; synchronous import. Real time can still pass (busy-wait).
        (if (global.get $asyncpy.rt.rt_sleepers) (then (return (i32.const 1))))
        (call $asyncpy.rt.trap.nested_wait (i32.const 0))))
    ;; no host waits for us: a real-time sleep busy-waits on the clock
    (if (global.get $asyncpy.rt.rt_sleepers) (then (return (i32.const 1))))
    (call $asyncpy.rt.trap.deadlock (i32.const 0))
    (i32.const 0))

  (func $asyncpy.rt.push_done (param $t i32)
    (i32.store offset=20 (local.get $t) (i32.const 7))
    (i32.store offset=8 (local.get $t) (i32.const 0))
    (if (global.get $asyncpy.rt.done_tail)
      (then (i32.store offset=8 (global.get $asyncpy.rt.done_tail) (local.get $t)))
      (else (global.set $asyncpy.rt.done_head (local.get $t))))
    (global.set $asyncpy.rt.done_tail (local.get $t))
    (global.set $asyncpy.rt.done_count (i32.add (global.get $asyncpy.rt.done_count) (i32.const 1))))

  ;; Real-time sleepers: a list sorted by deadline (clock_ms), FIFO among equals.
  (func $asyncpy.rt.add_rt_sleeper (param $t i32) (param $wake i64)
    (local $prev i32) (local $cur i32)
    (i64.store offset=24 (local.get $t) (local.get $wake))
    (i32.store offset=20 (local.get $t) (i32.const 6))
    (local.set $cur (global.get $asyncpy.rt.rt_sleepers))
    (block $found
      (loop $walk
        (br_if $found (i32.eqz (local.get $cur)))
        (br_if $found (i64.gt_s (i64.load offset=24 (local.get $cur)) (local.get $wake)))
        (local.set $prev (local.get $cur))
        (local.set $cur (i32.load offset=8 (local.get $cur)))
        (br $walk)))
    (i32.store offset=8 (local.get $t) (local.get $cur))
    (if (local.get $prev)
      (then (i32.store offset=8 (local.get $prev) (local.get $t)))
      (else (global.set $asyncpy.rt.rt_sleepers (local.get $t)))))

  (func $asyncpy.rt.wake_rt
    (local $t i32) (local $now i64)
    (local.set $now (call $asyncpy.rt.host_clock))
    (block $done
      (loop $more
        (local.set $t (global.get $asyncpy.rt.rt_sleepers))
        (br_if $done (i32.eqz (local.get $t)))
        (br_if $done (i64.gt_s (i64.load offset=24 (local.get $t)) (local.get $now)))
        (global.set $asyncpy.rt.rt_sleepers (i32.load offset=8 (local.get $t)))
        (call $asyncpy.rt.enqueue (local.get $t))
        (br $more))))

  ;; The list starting at $head without $t (the new head). Sets found (1 if
  ;; $t was on it) and found_prev (its predecessor, 0 if it was first).
  (func $asyncpy.rt.unlink (param $head i32) (param $t i32) (result i32)
    (local $prev i32) (local $cur i32)
    (global.set $asyncpy.rt.found (i32.const 0))
    (global.set $asyncpy.rt.found_prev (i32.const 0))
    (local.set $cur (local.get $head))
    (block $done
      (loop $walk
        (br_if $done (i32.eqz (local.get $cur)))
        (if (i32.eq (local.get $cur) (local.get $t))
          (then
            (global.set $asyncpy.rt.found (i32.const 1))
            (global.set $asyncpy.rt.found_prev (local.get $prev))
            (if (local.get $prev)
              (then
                (i32.store offset=8 (local.get $prev) (i32.load offset=8 (local.get $t)))
                (return (local.get $head))))
            (return (i32.load offset=8 (local.get $t)))))
        (local.set $prev (local.get $cur))
        (local.set $cur (i32.load offset=8 (local.get $cur)))
        (br $walk)))
    (local.get $head))

  ;; ---- the API programs import from "asyncpy" (see examples/asyncpy.h)

  ;; go(fn, arg) -> task: start fn(arg) as a new task (it runs when the
  ;; scheduler next picks it; the caller keeps running).
  (func $asyncpy.rt.api.go (param $fn i32) (param $arg i32) (result i32)
    (local $t i32)
    (local.set $t (call $asyncpy.rt.new_task (local.get $fn) (local.get $arg)))
    (call $asyncpy.rt.enqueue (local.get $t))
    (local.get $t))

  (func $asyncpy.rt.api.yield
    (call $asyncpy.rt.enqueue (call $asyncpy.rt.self))
    (call $asyncpy.rt.pause))

  (func $asyncpy.rt.api.sleep_ticks (param $ticks i32)
    (call $asyncpy.rt.add_sleeper (call $asyncpy.rt.self) (local.get $ticks))
    (call $asyncpy.rt.pause))

  (func $asyncpy.rt.api.wait (param $q i32)
    (call $asyncpy.rt.block_on (local.get $q) (call $asyncpy.rt.self))
    (call $asyncpy.rt.pause))

  ;; wake(q) -> 1 if a task was woken (the first waiter), else 0
  (func $asyncpy.rt.api.wake (param $q i32) (result i32)
    (local $t i32)
    (local.set $t (i32.load (local.get $q)))
    (if (i32.eqz (local.get $t)) (then (return (i32.const 0))))
    (i32.store (local.get $q) (i32.load offset=8 (local.get $t)))
    (if (i32.eqz (i32.load (local.get $q))) (then (i32.store offset=4 (local.get $q) (i32.const 0))))
    (call $asyncpy.rt.enqueue (local.get $t))
    (i32.const 1))

  (func $asyncpy.rt.api.wake_all (param $q i32) (result i32)
    (local $n i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (call $asyncpy.rt.api.wake (local.get $q))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $more)))
    (local.get $n))


  ;; sleep_ms(ms): sleep on the host's clock (real time). With an async host
  ;; the module returns to it when every task waits; else it busy-waits.
  (func $asyncpy.rt.api.sleep_ms (param $ms i32)
    (call $asyncpy.rt.add_rt_sleeper (call $asyncpy.rt.self)
      (i64.add (call $asyncpy.rt.host_clock) (i64.extend_i32_u (local.get $ms))))
    (call $asyncpy.rt.pause))

  (func $asyncpy.rt.api.clock_ms (result i64) (call $asyncpy.rt.host_clock))

  (func $asyncpy.rt.api.current (result i32) (global.get $asyncpy.rt.current))
  (func $asyncpy.rt.api.live (result i32) (global.get $asyncpy.rt.live))
  (func $asyncpy.rt.api.now (result i64) (global.get $asyncpy.rt.now))

  ;; ---- export wrappers (built by link.py) call these

  ;; A new task for an export call; with the state rewinding (the host
  ;; resumes a pause that went through this export), the one it paused.
  (func $asyncpy.rt.export_begin (param $entry i32) (result i32)
    (local $t i32)
    (if (i32.eq (call $asyncpy.rt.asyncify.get_state) (i32.const 2))
      (then
        (local.set $t (global.get $asyncpy.rt.host_target))
        (if (i32.eqz (local.get $t)) (then (call $asyncpy.rt.trap.bad_resume (i32.const 0))))
        (global.set $asyncpy.rt.host_target (i32.const 0))
        (return (local.get $t))))
    (local.set $t (call $asyncpy.rt.new_task (local.get $entry) (i32.const 0)))
    (i32.store offset=16 (local.get $t) (i32.add (local.get $t) (i32.const 36)))
    (i32.store offset=32 (local.get $t) (i32.const 1))
    (call $asyncpy.rt.enqueue (local.get $t))
    (global.set $asyncpy.rt.call_pending (i32.const 0))
    (if (i32.eqz (global.get $asyncpy.rt.depth))
      (then (global.set $asyncpy.rt.entry_call (local.get $t))))
    (local.get $t))

  ;; Runs the scheduler for the call task $t: 1 when it is done (the wrapper
  ;; reads its results), 0 when the wrapper must return at once with zeros:
  ;; a host pause unwinding, or (host mode) the module is idle and the call
  ;; is now pending under the handle asyncpy_call_pending() gives.
  (func $asyncpy.rt.export_run (param $t i32) (result i32)
    (local $r i32)
    (local.set $r (call $asyncpy.rt.run_until (local.get $t)))
    (if (i32.eqz (local.get $r)) (then (return (i32.const 0))))
    (if (i32.eqz (global.get $asyncpy.rt.depth))
      (then (global.set $asyncpy.rt.entry_call (i32.const 0))))
    (if (i32.eq (local.get $r) (i32.const 2))
      (then
        (i32.store offset=32 (local.get $t) (i32.or (i32.load offset=32 (local.get $t)) (i32.const 2)))
        (global.set $asyncpy.rt.call_pending (local.get $t))
        (return (i32.const 0))))
    (global.set $asyncpy.rt.call_pending (i32.const 0))
    (i32.const 1))

  (func $asyncpy.rt.export_end (param $t i32)
    (call $asyncpy.rt.release (local.get $t)))

  ;; ---- the host-wait protocol (docs/host-protocol.md): exported by the
  ;; linker as asyncpy_<name>

  (func $asyncpy.rt.host.host_mode (param $flags i32)
    (global.set $asyncpy.rt.host_flags (local.get $flags)))

  (func $asyncpy.rt.host.call_pending (result i32)
    (local $t i32)
    (local.set $t (global.get $asyncpy.rt.call_pending))
    (global.set $asyncpy.rt.call_pending (i32.const 0))
    (local.get $t))

  ;; From inside an import: block the calling task on a host operation.
  (func $asyncpy.rt.host.suspend (result i32)
    (local $t i32) (local $sp i32)
    (local.set $t (global.get $asyncpy.rt.current))
    (if (i32.or (i32.eqz (i32.and (global.get $asyncpy.rt.host_flags) (i32.const 1)))
                (i32.eqz (local.get $t)))
      (then (return (i32.const 0))))
    (local.set $sp (global.get $asyncpy.rt.program.sp))
    (call $asyncpy.rt.check (local.get $t))
    (if (i32.le_u (local.get $sp) (i32.add (local.get $t) (i32.const 128)))
      (then (call $asyncpy.rt.trap.stack_overflow (i32.const 0))))
    (i32.store offset=4 (local.get $t) (local.get $sp))
    (i32.store offset=20 (local.get $t) (i32.const 5))
    (global.set $asyncpy.rt.switching (i32.const 1))
    (call $asyncpy.rt.asyncify.start_unwind (local.get $t))
    (local.get $t))

  (func $asyncpy.rt.host.current (result i32) (global.get $asyncpy.rt.current))

  (func $asyncpy.rt.host.resume (param $t i32)
    (if (i32.ne (i32.load offset=20 (local.get $t)) (i32.const 5))
      (then (call $asyncpy.rt.trap.bad_resume (i32.const 0))))
    ;; nothing saved: the import that suspended it is not a pause point
    ;; (its callers are not instrumented), so it cannot be rewound
    (if (i32.eq (i32.load (local.get $t)) (i32.add (local.get $t) (i32.const 128)))
      (then (call $asyncpy.rt.trap.not_a_pause_point (i32.const 0))))
    (call $asyncpy.rt.enqueue (local.get $t)))

  (func $asyncpy.rt.host.run (result i32)
    (drop (call $asyncpy.rt.run_until (i32.const 0)))
    (global.get $asyncpy.rt.done_count))

  (func $asyncpy.rt.host.take_done (result i32)
    (local $t i32)
    (local.set $t (global.get $asyncpy.rt.done_head))
    (if (local.get $t)
      (then
        (global.set $asyncpy.rt.done_head (i32.load offset=8 (local.get $t)))
        (if (i32.eqz (global.get $asyncpy.rt.done_head))
          (then (global.set $asyncpy.rt.done_tail (i32.const 0))))
        (i32.store offset=8 (local.get $t) (i32.const 0))
        (global.set $asyncpy.rt.done_count (i32.sub (global.get $asyncpy.rt.done_count) (i32.const 1)))))
    (local.get $t))

  (func $asyncpy.rt.host.result_i32 (param $t i32) (param $j i32) (result i32)
    (i32.load offset=36 (i32.add (local.get $t) (i32.shl (local.get $j) (i32.const 3)))))
  (func $asyncpy.rt.host.result_i64 (param $t i32) (param $j i32) (result i64)
    (i64.load offset=36 (i32.add (local.get $t) (i32.shl (local.get $j) (i32.const 3)))))
  (func $asyncpy.rt.host.result_f32 (param $t i32) (param $j i32) (result f32)
    (f32.load offset=36 (i32.add (local.get $t) (i32.shl (local.get $j) (i32.const 3)))))
  (func $asyncpy.rt.host.result_f64 (param $t i32) (param $j i32) (result f64)
    (f64.load offset=36 (i32.add (local.get $t) (i32.shl (local.get $j) (i32.const 3)))))

  (func $asyncpy.rt.host.release (param $t i32)
    (call $asyncpy.rt.release (local.get $t)))

  (func $asyncpy.rt.host.deadline (result i64)
    (if (result i64) (global.get $asyncpy.rt.rt_sleepers)
      (then (i64.load offset=24 (global.get $asyncpy.rt.rt_sleepers)))
      (else (i64.const -1))))

  ;; Drop a task that is not running, wherever it waits.
  (func $asyncpy.rt.host.cancel (param $t i32) (result i32)
    (local $s i32) (local $q i32)
    (local.set $s (i32.load offset=20 (local.get $t)))
    (if (i32.or (i32.eqz (local.get $s)) (i32.eq (local.get $s) (i32.const 2)))
      (then (return (i32.const 0))))
    (if (i32.eq (local.get $s) (i32.const 1))
      (then
        (global.set $asyncpy.rt.runq_head
          (call $asyncpy.rt.unlink (global.get $asyncpy.rt.runq_head) (local.get $t)))
        (if (i32.eq (global.get $asyncpy.rt.runq_tail) (local.get $t))
          (then (global.set $asyncpy.rt.runq_tail (global.get $asyncpy.rt.found_prev))))))
    (if (i32.eq (local.get $s) (i32.const 3))
      (then
        (local.set $q (i32.load offset=100 (local.get $t)))
        (i32.store (local.get $q) (call $asyncpy.rt.unlink (i32.load (local.get $q)) (local.get $t)))
        (if (i32.eq (i32.load offset=4 (local.get $q)) (local.get $t))
          (then (i32.store offset=4 (local.get $q) (global.get $asyncpy.rt.found_prev))))))
    (if (i32.eq (local.get $s) (i32.const 4))
      (then (global.set $asyncpy.rt.sleepers
              (call $asyncpy.rt.unlink (global.get $asyncpy.rt.sleepers) (local.get $t)))))
    (if (i32.eq (local.get $s) (i32.const 6))
      (then (global.set $asyncpy.rt.rt_sleepers
              (call $asyncpy.rt.unlink (global.get $asyncpy.rt.rt_sleepers) (local.get $t)))))
    (if (i32.eq (local.get $s) (i32.const 7))
      (then
        (global.set $asyncpy.rt.done_head
          (call $asyncpy.rt.unlink (global.get $asyncpy.rt.done_head) (local.get $t)))
        (if (i32.eq (global.get $asyncpy.rt.done_tail) (local.get $t))
          (then (global.set $asyncpy.rt.done_tail (global.get $asyncpy.rt.found_prev))))
        (global.set $asyncpy.rt.done_count (i32.sub (global.get $asyncpy.rt.done_count) (i32.const 1))))
      (else (global.set $asyncpy.rt.live (i32.sub (global.get $asyncpy.rt.live) (i32.const 1)))))
    (call $asyncpy.rt.release (local.get $t))
    (i32.const 1))

  ;; After a trap left an entry: the task that was running (dropped), or 0;
  ;; -1 when a re-entrant call was running (the frames of the task below it
  ;; are lost: the instance cannot go on). The scheduler is reset; the
  ;; entry's own call, if still alive, becomes pending (asyncpy_call_pending).
  (func $asyncpy.rt.host.recover (result i32)
    (local $t i32) (local $e i32)
    (if (i32.gt_u (global.get $asyncpy.rt.depth) (i32.const 1)) (then (return (i32.const -1))))
    (local.set $t (global.get $asyncpy.rt.current))
    (if (global.get $asyncpy.rt.depth)
      (then (global.set $asyncpy.rt.program.sp (global.get $asyncpy.rt.base_sp))))
    (global.set $asyncpy.rt.current (i32.const 0))
    (global.set $asyncpy.rt.depth (i32.const 0))
    (global.set $asyncpy.rt.switching (i32.const 0))
    (global.set $asyncpy.rt.host_task (i32.const 0))
    (global.set $asyncpy.rt.host_target (i32.const 0))
    (if (local.get $t)
      (then
        (global.set $asyncpy.rt.live (i32.sub (global.get $asyncpy.rt.live) (i32.const 1)))
        (call $asyncpy.rt.release (local.get $t))))
    (local.set $e (global.get $asyncpy.rt.entry_call))
    (global.set $asyncpy.rt.entry_call (i32.const 0))
    (global.set $asyncpy.rt.call_pending (i32.const 0))
    (if (i32.and (i32.ne (local.get $e) (i32.const 0)) (i32.ne (local.get $e) (local.get $t)))
      (then
        (i32.store offset=32 (local.get $e) (i32.or (i32.load offset=32 (local.get $e)) (i32.const 2)))
        (global.set $asyncpy.rt.call_pending (local.get $e))))
    (local.get $t))

  (func $asyncpy.rt.host.stack_size (result i32) (global.get $asyncpy.rt.block_size))
)
