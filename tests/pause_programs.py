"""WAT programs for the transform's differential tests (tests/test_transform.py).

Conventions (what tests/pausehost.py expects):

* `env.sleep*` imports pause; every other `env` import (`log`, `tick`) only
  logs its arguments, so an effect repeated or lost while rewinding shows up
  in the log;
* memory is exported as "memory" and the program leaves [0, 8192) alone: the
  host puts the asyncify data struct at 16 and the buffer after it;
* the export `main` (no parameters) returns the result compared.

Effects the program itself has (a global counter, memory stores, the
`tick` import) are placed before pause sites on purpose: re-running them
while rewinding changes the result.
"""

PRELUDE = """
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (import "env" "log" (func $log (param i64)))
  (import "env" "tick" (func $tick (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func $bump (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (global.get $g))
"""


def module(body: str, prelude: str = PRELUDE) -> str:
    return f"(module{prelude}{body})"


PROGRAMS: dict[str, str] = {}

# Straight-line calls, results kept in locals and used after later pauses.
PROGRAMS["direct"] = module("""
  (func (export "main") (result i32)
    (local $a i32) (local $b i32)
    (local.set $a (call $sleep (i32.const 1)))
    (call $log (i64.extend_i32_u (local.get $a)))
    (drop (call $sleep (i32.const 2)))
    (local.set $b (i32.add (local.get $a) (call $bump)))
    (call $sleep (i32.const 3))
    (local.set $b (i32.add (local.get $b)))
    (call $log (i64.extend_i32_u (local.get $b)))
    (i32.add (i32.mul (local.get $b) (global.get $g)) (call $sleep (local.get $a))))
""")

# A chain main -> f -> g -> sleep, each with parameters and locals of its own.
PROGRAMS["nested"] = module("""
  (func $g (param $x i32) (result i32)
    (local $y i32)
    (local.set $y (i32.mul (local.get $x) (i32.const 3)))
    (i32.add (call $sleep (local.get $x)) (local.get $y)))
  (func $f (param $x i32) (param $z i64) (result i64)
    (local $t i32)
    (local.set $t (call $g (local.get $x)))
    (call $log (local.get $z))
    (i64.add (local.get $z)
      (i64.extend_i32_u (i32.add (local.get $t) (call $g (i32.add (local.get $x) (i32.const 1)))))))
  (func $h (param $x i32)
    (call $log (call $f (local.get $x) (i64.const 99)))
    (drop (call $g (i32.const 7))))
  (func (export "main") (result i64)
    (local $acc i64)
    (local.set $acc (call $f (i32.const 2) (i64.const 1000)))
    (call $h (i32.const 5))
    (i64.mul (local.get $acc) (call $f (i32.const 4) (local.get $acc))))
""")

# Pausing calls nested inside expressions, one construct per function.
PROGRAMS["expressions"] = module("""
  (func $add2 (result i32)                      ;; both operands pause
    (i32.add (call $sleep (i32.const 1)) (call $sleep (i32.const 2))))
  (func $effect_first (result i32)              ;; effectful operands before a pausing sibling
    (i32.sub (i32.add (call $tick (i32.const 10)) (call $bump)) (call $sleep (i32.const 3))))
  (func $arg_of_pause (result i32)              ;; a pausing call as the argument of another
    (call $sleep (i32.add (call $sleep (i32.const 4)) (call $bump))))
  (func $if_cond (param $x i32) (result i32)    ;; only the condition pauses
    (if (result i32) (i32.and (call $sleep (local.get $x)) (i32.const 1))
      (then (i32.add (local.get $x) (call $bump)))
      (else (i32.sub (local.get $x) (i32.const 1)))))
  (func $if_all (param $x i32) (result i32)     ;; condition and both arms pause
    (if (result i32) (i32.and (call $sleep (local.get $x)) (i32.const 2))
      (then (i32.mul (call $sleep (i32.const 5)) (call $bump)))
      (else (i32.add (call $bump) (call $sleep (i32.const 6))))))
  (func $if_no_else (param $x i32) (result i32)
    (local $r i32)
    (local.set $r (local.get $x))
    (if (i32.gt_u (local.get $x) (i32.const 1))
      (then (local.set $r (i32.add (local.get $r) (call $sleep (local.get $x))))))
    (local.get $r))
  (func $brif (param $x i32) (result i32)       ;; br_if with pausing value and condition
    (block $b (result i32)
      (drop (br_if $b (call $sleep (local.get $x))
                      (i32.and (call $sleep (i32.const 8)) (i32.const 1))))
      (i32.add (call $bump) (call $sleep (i32.const 9)))))
  (func $brtable (param $x i32) (result i32)    ;; br_table with pausing value and index
    (i32.add
      (block $b0 (result i32)
        (drop (block $b1 (result i32)
          (br_table $b0 $b1 $b0 (call $sleep (local.get $x))
                                (i32.rem_u (call $sleep (i32.const 11)) (i32.const 3)))))
        (i32.const 1000))
      (call $bump)))
  (func $sel (param $x i32) (result i32)        ;; select with pausing operands
    (select (call $sleep (local.get $x)) (i32.add (call $bump) (call $sleep (i32.const 12)))
            (i32.and (call $sleep (i32.const 13)) (i32.const 1))))
  (func $ret (param $x i32) (result i32)        ;; return of a pausing call
    (if (i32.gt_u (local.get $x) (i32.const 3))
      (then (return (call $sleep (i32.mul (local.get $x) (call $bump))))))
    (i32.const 77))
  (func $mem (result i32)                       ;; memory traffic around pauses
    (i32.store (i32.const 9000) (i32.add (i32.load (i32.const 9000)) (i32.const 5)))
    (i32.store (i32.add (i32.const 9004) (i32.and (call $sleep (i32.const 14)) (i32.const 4)))
               (call $sleep (i32.load (i32.const 9000))))
    (i32.add (i32.load (i32.const 9004)) (i32.load (i32.const 9008))))
  (func $tee_global (result i32)
    (local $t i32)
    (global.set $g (i32.add (local.tee $t (call $sleep (i32.const 15))) (global.get $g)))
    (i32.xor (local.get $t) (global.get $g)))
  (func $void_pause (param $x i32)
    (drop (call $sleep (local.get $x)))
    (call $log (i64.extend_i32_u (call $bump))))
  (func (export "main") (result i32)
    (local $acc i32) (local $i i32)
    (local.set $acc (call $add2))
    (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3)) (call $effect_first)))
    (local.set $acc (i32.add (local.get $acc) (call $arg_of_pause)))
    (loop $l
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7))
        (i32.add (i32.add (call $if_cond (local.get $i)) (call $if_all (local.get $i)))
                 (i32.add (call $if_no_else (local.get $i)) (call $brif (local.get $i))))))
      (local.set $acc (i32.xor (local.get $acc)
        (i32.add (call $brtable (local.get $i))
                 (i32.add (call $sel (local.get $i)) (call $ret (local.get $i))))))
      (call $void_pause (local.get $i))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 6))))
    (local.set $acc (i32.add (local.get $acc) (call $mem)))
    (local.set $acc (i32.add (local.get $acc) (call $tee_global)))
    (call $log (i64.extend_i32_u (global.get $g)))
    (local.get $acc))
""")

# Loops: nested loops, a loop left on a pausing value, a counter that lives
# only across the back edge.
PROGRAMS["loops"] = module("""
  (func (export "main") (result i64)
    (local $i i32) (local $j i32) (local $acc i64) (local $k i32)
    (block $out
      (loop $outer
        (local.set $j (i32.const 0))
        (loop $inner
          (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31))
                                   (i64.extend_i32_u (call $sleep (i32.add (local.get $i) (local.get $j))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $inner (i32.lt_u (local.get $j) (i32.const 3))))
        (call $log (local.get $acc))
        (br_if $out (i32.eq (i32.and (call $sleep (i32.const 100)) (i32.const 7)) (i32.const 7)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $i) (i32.const 5)))))
    (loop $count
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $count (i32.lt_u (i32.add (local.get $k) (i32.and (call $sleep (local.get $k)) (i32.const 1)))
                              (i32.const 4))))
    (i64.add (local.get $acc) (i64.extend_i32_u (i32.add (local.get $i) (local.get $k)))))
""")

# call_indirect through a table: two pausing targets, one that does not pause,
# slots picked by a loop counter that stays live.
PROGRAMS["indirect"] = module("""
  (type $t (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $p1 $quiet $p2 $quiet)
  (func $p1 (param $x i32) (result i32) (i32.add (call $sleep (local.get $x)) (i32.const 1)))
  (func $p2 (param $x i32) (result i32)
    (local $s i32)
    (local.set $s (call $sleep (local.get $x)))
    (i32.xor (local.get $s) (call $sleep (i32.add (local.get $x) (local.get $s)))))
  (func $quiet (param $x i32) (result i32) (i32.mul (local.get $x) (i32.const 3)))
  (func (export "main") (result i32)
    (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 17))
        (call_indirect (type $t) (i32.add (local.get $i) (call $bump))
                                 (i32.and (local.get $i) (i32.const 3)))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 8))))
    (local.get $acc))
""")

# Locals of every value type, parameters included, live across pauses.
PROGRAMS["locals"] = module("""
  (func $work (param $p32 i32) (param $p64 i64) (param $pf f32) (param $pd f64) (param $pv v128) (result f64)
    (local $a i32) (local $b i64) (local $c f32) (local $d f64) (local $v v128) (local $w v128)
    (local.set $a (i32.const -5))
    (local.set $b (i64.const 0x1234_5678_9abc_def0))
    (local.set $c (f32.const 3.25))
    (local.set $d (f64.const -1.0e3))
    (local.set $v (v128.const i32x4 1 -2 3 -4))
    (local.set $w (v128.const f64x2 0.5 -0.25))
    (local.set $a (i32.add (local.get $a) (call $sleep (local.get $p32))))
    (local.set $v (i32x4.add (local.get $v) (local.get $pv)))
    (local.set $b (i64.add (local.get $b) (i64.extend_i32_u (call $sleep (i32.const 2)))))
    (local.set $c (f32.mul (local.get $c) (local.get $pf)))
    (local.set $d (f64.add (local.get $d) (f64.convert_i32_u (call $sleep (i32.const 3)))))
    (call $log (local.get $p64))
    (call $log (local.get $b))
    (call $log (i64x2.extract_lane 1 (local.get $v)))
    (f64.add
      (f64.add (f64.convert_i32_s (local.get $a))
               (f64.convert_i64_s (i64.rem_u (local.get $b) (i64.const 1000003))))
      (f64.add
        (f64.add (f64.promote_f32 (local.get $c)) (f64.add (local.get $d) (local.get $pd)))
        (f64.add (f64.convert_i32_s (i32x4.extract_lane 3 (local.get $v)))
                 (f64x2.extract_lane 1 (local.get $w))))))
  (func (export "main") (result f64)
    (local $r f64)
    (local.set $r (call $work (i32.const 1) (i64.const -7) (f32.const 1.5) (f64.const 2.5)
                              (v128.const i32x4 10 20 30 40)))
    (f64.add (local.get $r)
      (call $work (call $sleep (i32.const 9)) (i64.const 3) (f32.const -2.0) (f64.const 0.125)
                  (v128.const i64x2 -1 1))))
""")

# Multi-value: a pausing function returning two values, a block of tuple type
# holding a pause, and a pausing import with two results.
PROGRAMS["multivalue"] = module("""
  (func $pair (param $x i32) (result i32 i64)
    (call $sleep (local.get $x))
    (i64.extend_i32_u (call $sleep (i32.add (local.get $x) (i32.const 1)))))
  (func $swap (param $x i32) (result i64 i32)
    (local $a i32) (local $b i64)
    (call $sleep2 (local.get $x))
    (local.set $b)
    (local.set $a)
    (local.get $b)
    (i32.add (local.get $a) (call $sleep (i32.const 3))))
  (func (export "main") (result i64)
    (local $a i32) (local $b i64) (local $c i64) (local $d i32)
    (call $pair (i32.const 5))
    (local.set $b)
    (local.set $a)
    (block (result i32 i64)
      (call $sleep (i32.const 7))
      (i64.mul (i64.const 3) (i64.extend_i32_u (call $sleep (local.get $a)))))
    (local.set $c)
    (local.set $d)
    (call $log (local.get $c))
    (call $swap (local.get $d))
    (local.set $d)
    (i64.add (i64.add (local.get $b) (local.get $c))
             (i64.add (i64.extend_i32_u (i32.add (local.get $a) (local.get $d))))))
""", PRELUDE.replace("(memory",
                     '(import "env" "sleep2" (func $sleep2 (param i32) (result i32 i64)))\n  (memory', 1))

# memory64: the data struct is {i64 current, i64 end}.
PROGRAMS["memory64"] = module("""
  (func $f (param $p i64) (result i64)
    (i64.store (local.get $p) (i64.extend_i32_u (call $sleep (i32.wrap_i64 (local.get $p)))))
    (i64.add (i64.load (local.get $p)) (local.get $p)))
  (func (export "main") (result i64)
    (local $i i64) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (local.get $acc)
        (call $f (i64.add (i64.const 9000) (i64.mul (local.get $i) (i64.const 8))))))
      (br_if $l (i64.lt_u (local.tee $i (i64.add (local.get $i) (i64.const 1))) (i64.const 4))))
    (call $log (local.get $acc))
    (i64.add (local.get $acc) (i64.load (i64.const 9008))))
""", PRELUDE.replace('(memory (export "memory") 1)', '(memory (export "memory") i64 1)'))

# Recursion: every level pauses before and after recursing.
PROGRAMS["recursive"] = module("""
  (func $rec (param $n i32) (result i64)
    (local $here i32)
    (if (i32.eqz (local.get $n)) (then (return (i64.extend_i32_u (call $sleep (i32.const 0))))))
    (local.set $here (call $sleep (local.get $n)))
    (i64.add
      (i64.mul (call $rec (i32.sub (local.get $n) (i32.const 1))) (i64.const 3))
      (i64.extend_i32_u (i32.add (local.get $here) (call $sleep (i32.mul (local.get $n) (i32.const 10)))))))
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (i32.and (call $sleep (local.get $n)) (i32.const 1)))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "main") (result i64)
    (i64.add (call $rec (i32.const 6)) (i64.extend_i32_u (call $fib (i32.const 6)))))
""")

# Two coroutines on one instance: run(id) loops calling a pausing import.
COROUTINES = module("""
  (func $step (param $id i32) (param $i i32) (result i32)
    (local $k i32)
    (local.set $k (i32.add (i32.mul (local.get $id) (i32.const 100)) (local.get $i)))
    (i32.add (call $sleep (local.get $k)) (local.get $k)))
  (func (export "run") (param $id i32) (result i64)
    (local $i i32) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 1009))
                               (i64.extend_i32_u (call $step (local.get $id) (local.get $i)))))
      (call $log (i64.or (i64.shl (i64.extend_i32_u (local.get $id)) (i64.const 32)) (local.get $acc)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                          (i32.add (i32.const 5) (local.get $id)))))
    (local.get $acc))
""")
