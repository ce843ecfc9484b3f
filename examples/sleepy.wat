;; A small program that blocks on a host import, directly and through a
;; function table. Try:
;;
;;   asyncpy analyze examples/sleepy.wat --imports env.sleep --why main
;;   asyncpy analyze examples/sleepy.wat --imports env.sleep --list
;;   asyncpy analyze examples/sleepy.wat --imports env.sleep --no-narrow --list
;;   asyncpy transform examples/sleepy.wat --imports env.sleep -o sleepy.async.wasm
;;
;; env.sleep may pause (the host suspends the program); env.print never does.
;; The table holds two kinds of functions: event handlers (i32) -> (), one
;; of which sleeps, and scoring functions (i32) -> (i32), none of which do.
;; Narrowing by type and table contents sees that $score can never reach
;; env.sleep, so neither it nor $checksum needs instrumenting; Binaryen's
;; rule (--no-narrow) instruments every function with an indirect call.
(module
  (import "env" "sleep" (func $sleep (param i32)))
  (import "env" "print" (func $print (param i32)))

  ;; The host keeps the asyncify data struct and buffer here (from 1024 up),
  ;; after the program's own data.
  (memory (export "memory") 1)

  (type $handler (func (param i32)))
  (type $scorer (func (param i32) (result i32)))

  (table 4 funcref)
  (elem (i32.const 0) $on_tick $on_idle $double $square)

  ;; event handlers, slots 0 and 1
  (func $on_tick (type $handler)
    (call $print (local.get 0))
    (call $sleep (i32.const 100)))
  (func $on_idle (type $handler)
    (call $print (i32.const -1)))

  ;; scorers, slots 2 and 3
  (func $double (type $scorer) (i32.mul (local.get 0) (i32.const 2)))
  (func $square (type $scorer) (i32.mul (local.get 0) (local.get 0)))

  ;; calls a handler through the table: may reach $on_tick, so may pause
  (func $dispatch (param $event i32) (param $arg i32)
    (call_indirect (type $handler) (local.get $arg) (local.get $event)))

  ;; calls a scorer through the table: never pauses
  (func $score (param $i i32) (result i32)
    (call_indirect (type $scorer)
      (local.get $i)
      (i32.add (i32.const 2) (i32.and (local.get $i) (i32.const 1)))))

  ;; sleeps directly
  (func $wait (param $ms i32)
    (call $sleep (local.get $ms)))

  (func $main (export "main")
    (local $i i32)
    (loop $next
      (call $dispatch (i32.and (local.get $i) (i32.const 1)) (call $score (local.get $i)))
      (call $wait (i32.const 10))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 4)))))

  (func $checksum (export "checksum") (param i32) (result i32)
    (call $score (local.get 0)))
)
