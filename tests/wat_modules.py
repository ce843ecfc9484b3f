"""Small WAT modules, one per analysis rule, shared by the analysis tests and
the differential test against Binaryen's asyncify pass.

Each module names its functions so tests can talk about them. Imports that
do not pause in a test are named `env.log*`; the one that pauses is
`env.sleep`.
"""

# Direct calls only: a chain to sleep, a branch that never pauses, and an
# unrelated import `env.log` that pauses only under the default (every import).
DIRECT = """
(module
  (import "env" "sleep" (func $sleep (param i32)))
  (import "env" "log" (func $log (param i32)))
  (func $a (call $sleep (i32.const 1)))
  (func $b (call $a))
  (func $c (call $b))
  (func $pure (result i32) (i32.const 7))
  (func $logger (call $log (call $pure)))
  (func $main (export "main") (call $c) (drop (call $pure)))
  (func $quiet (export "quiet") (drop (call $pure)))
)
"""

# Shortest path: main reaches sleep through a long chain (listed first) and a
# short one; the reason must follow the short one.
DIAMOND = """
(module
  (import "env" "sleep" (func $sleep))
  (func $long1 (call $long2))
  (func $long2 (call $long3))
  (func $long3 (call $sleep))
  (func $short (call $sleep))
  (func $main (export "main") (call $long1) (call $short))
  (func $top (export "top") (call $main))
)
"""

# Mutual recursion and a self loop: the fixed point must terminate and
# cover the whole cycle.
CYCLE = """
(module
  (import "env" "sleep" (func $sleep))
  (func $even (param i32)
    (if (local.get 0) (then (call $odd (i32.sub (local.get 0) (i32.const 1))))))
  (func $odd (param i32)
    (if (i32.eq (local.get 0) (i32.const 1)) (then (call $sleep)))
    (if (local.get 0) (then (call $even (i32.sub (local.get 0) (i32.const 1))))))
  (func $self (param i32)
    (if (local.get 0) (then (call $self (i32.sub (local.get 0) (i32.const 1))))))
  (func $main (export "main") (call $even (i32.const 10)) (call $self (i32.const 3)))
)
"""

# A closed table (not exported, not imported, never written): call_indirect
# of type $v can reach only $p and $q; $hidden has type $v and pauses but
# is not in the table; the call_indirect of type $i can reach only $plain_i.
TABLE_CLOSED = """
(module
  (import "env" "sleep" (func $sleep))
  (type $v (func))
  (type $i (func (param i32) (result i32)))
  (table $t 4 funcref)
  (elem (table $t) (i32.const 0) func $p $q $plain_i)
  (func $p (type $v) (call $sleep))
  (func $q (type $v))
  (func $hidden (type $v) (call $sleep))
  (func $plain_i (type $i) (i32.add (local.get 0) (i32.const 1)))
  (func $pausing_i (type $i) (call $sleep) (local.get 0))
  (func $dispatch_v (param i32) (call_indirect $t (type $v) (local.get 0)))
  (func $dispatch_i (param i32) (result i32)
    (call_indirect $t (type $i) (local.get 0) (i32.const 2)))
  (func $main (export "main") (param i32) (result i32)
    (call $dispatch_v (local.get 0))
    (call $dispatch_i (i32.const 2)))
  (func $uses_i (export "uses_i") (result i32) (call $dispatch_i (i32.const 2)))
  (func $hidden_caller (call $hidden))
  (func $pausing_i_caller (result i32) (call $pausing_i (i32.const 0)))
)
"""

# An exported table is open: the host may store any escaping function of
# type $v. $exported_pauser escapes (it is exported) and pauses, so the
# call_indirect may reach it; $secret pauses but never escapes. ($v takes an
# i64 so that no import and no other export has that type.)
TABLE_EXPORTED = """
(module
  (import "env" "sleep" (func $sleep))
  (type $v (func (param i64)))
  (table $t (export "table") 2 funcref)
  (elem (table $t) (i32.const 0) func $quiet)
  (func $quiet (type $v))
  (func $exported_pauser (export "pauser") (type $v) (call $sleep))
  (func $secret (type $v) (call $sleep))
  (func $secret_caller (export "secret_caller") (call $secret (i64.const 0)))
  (func $dispatch (export "dispatch") (param i32)
    (call_indirect $t (type $v) (i64.const 0) (local.get 0)))
)
"""

# An imported table is open to imports of the right type: $host_v may be
# placed in it by the host and may pause.
TABLE_IMPORTED = """
(module
  (import "env" "table" (table $t 2 funcref))
  (import "env" "host_v" (func $host_v))
  (import "env" "log_i" (func $log_i (param i32)))
  (type $v (func))
  (type $ii (func (param i32 i32)))
  (func $quiet (type $v))
  (func $dispatch (export "dispatch") (param i32) (call_indirect $t (type $v) (local.get 0)))
  (func $dispatch_ii (export "dispatch_ii") (param i32)
    (call_indirect $t (type $ii) (i32.const 0) (i32.const 0) (local.get 0)))
)
"""

# table.set makes a table open: $late pauses and escapes through ref.func,
# so the call_indirect can reach it even though no segment holds it; $never
# has the type and pauses but does not escape.
TABLE_SET = """
(module
  (import "env" "sleep" (func $sleep))
  (type $v (func (param i64)))
  (table $t 2 funcref)
  (elem (table $t) (i32.const 0) func $quiet)
  (elem declare func $late)
  (func $quiet (type $v))
  (func $late (type $v) (call $sleep))
  (func $never (type $v) (call $sleep))
  (func $install (export "install") (table.set $t (i32.const 1) (ref.func $late)))
  (func $dispatch (export "dispatch") (param i32)
    (call_indirect $t (type $v) (i64.const 0) (local.get 0)))
  (func $never_caller (export "never_caller") (call $never (i64.const 0)))
)
"""

# table.grow also opens a table.
TABLE_GROW = """
(module
  (import "env" "sleep" (func $sleep))
  (type $v (func (param i64)))
  (table $t 1 funcref)
  (elem declare func $late)
  (func $late (type $v) (call $sleep))
  (func $never (type $v) (call $sleep))
  (func $grow (export "grow") (drop (table.grow $t (ref.func $late) (i32.const 1))))
  (func $dispatch (export "dispatch") (param i32)
    (call_indirect $t (type $v) (i64.const 0) (local.get 0)))
  (func $never_caller (export "never_caller") (call $never (i64.const 0)))
)
"""

# Two closed tables: a call_indirect on $t1 cannot reach what only $t2 holds.
TWO_TABLES = """
(module
  (import "env" "sleep" (func $sleep))
  (type $v (func))
  (table $t1 1 funcref)
  (table $t2 1 funcref)
  (elem (table $t1) (i32.const 0) func $quiet)
  (elem (table $t2) (i32.const 0) func $pauser)
  (func $quiet (type $v))
  (func $pauser (type $v) (call $sleep))
  (func $via_t1 (export "via_t1") (call_indirect $t1 (type $v) (i32.const 0)))
  (func $via_t2 (export "via_t2") (call_indirect $t2 (type $v) (i32.const 0)))
)
"""

# call_ref reaches only functions whose reference escapes through ref.func
# (or a segment, or an export); $same_type_hidden pauses but never escapes.
CALL_REF = """
(module
  (import "env" "sleep" (func $sleep))
  (type $v (func (param i64)))
  (type $i (func (param i32)))
  (elem declare func $target $quiet_i)
  (func $target (type $v) (call $sleep))
  (func $same_type_hidden (type $v) (call $sleep))
  (func $quiet_i (type $i))
  (func $run_v (export "run_v") (call_ref $v (i64.const 0) (ref.func $target)))
  (func $run_i (export "run_i") (call_ref $i (i32.const 1) (ref.func $quiet_i)))
  (func $hidden_caller (export "hidden_caller") (call $same_type_hidden (i64.const 0)))
)
"""

# In-wasm runtime: $pause calls start_unwind (it pauses but is not
# instrumented; its callers are), $finish calls stop_rewind (same),
# $scheduler calls stop_unwind/start_rewind (bottom of the stack: never
# instrumented, and propagation stops there, so $top is not instrumented).
RUNTIME = """
(module
  (import "asyncify" "start_unwind" (func $start_unwind (param i32)))
  (import "asyncify" "stop_unwind" (func $stop_unwind))
  (import "asyncify" "start_rewind" (func $start_rewind (param i32)))
  (import "asyncify" "stop_rewind" (func $stop_rewind))
  (memory 1)
  (func $pause (call $start_unwind (i32.const 16)))
  (func $finish (call $stop_rewind))
  (func $worker (call $pause) (call $finish))
  (func $task (call $worker))
  (func $other_task (call $finish))
  (func $scheduler (export "run") (call $task) (call $stop_unwind)
    (call $start_rewind (i32.const 16)) (call $task))
  (func $top (export "top") (call $scheduler))
  (func $idle (export "idle"))
)
"""

# The lists: names chosen so each list has something to do.
LISTS = """
(module
  (import "env" "sleep" (func $sleep))
  (import "env" "log" (func $log (param i32)))
  (func $leaf (call $sleep))
  (func $mid (call $leaf))
  (func $upper (call $mid))
  (func $safe_wrapper (call $leaf))
  (func $calls_safe (call $safe_wrapper))
  (func $lonely (drop (i32.const 0)))
  (func $lonely_caller (call $lonely))
  (func $lonely_caller2 (call $lonely_caller))
  (func $main (export "main") (call $upper) (call $calls_safe) (call $lonely_caller2)
    (call $log (i32.const 0)))
)
"""

# A mix of everything Binaryen and asyncpy should agree on with narrowing off.
MIXED = """
(module
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (import "env" "log" (func $log (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (type $v (func))
  (type $ii (func (param i32) (result i32)))
  (memory 1)
  (table $t 4 funcref)
  (elem (table $t) (i32.const 0) func $cb_pause $cb_plain $cb_write)
  (func $cb_pause (type $ii) (call $sleep (local.get 0)))
  (func $cb_plain (type $ii) (i32.mul (local.get 0) (i32.const 3)))
  (func $cb_write (type $ii) (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (local.get 0)))
  (func $apply (param i32 i32) (result i32)
    (call_indirect $t (type $ii) (local.get 1) (local.get 0)))
  (func $loop (param i32) (result i32) (local i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get 0)))
      (local.set 1 (i32.add (local.get 1)
                            (call $apply (local.get 0) (i32.rem_u (local.get 0) (i32.const 3)))))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $l)))
    (local.get 1))
  (func $report (param i32) (call $log (local.get 0)))
  (func $math (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $main (export "main") (result i32)
    (call $report (call $loop (i32.const 5)))
    (call $math (i32.const 1)))
  (func $helper (export "helper") (result i32) (call $math (i32.const 2)))
)
"""

#: Modules on which asyncpy with narrowing off must match Binaryen exactly.
#: (CALL_REF is left out: Binaryen 116's pass does not count call_ref as an
#: indirect call, see test_analysis.test_binaryen_misses_call_ref.)
DIFFERENTIAL = {
    "direct": DIRECT,
    "diamond": DIAMOND,
    "cycle": CYCLE,
    "table_closed": TABLE_CLOSED,
    "table_exported": TABLE_EXPORTED,
    "table_imported": TABLE_IMPORTED,
    "table_set": TABLE_SET,
    "table_grow": TABLE_GROW,
    "two_tables": TWO_TABLES,
    "runtime": RUNTIME,
    "lists": LISTS,
    "mixed": MIXED,
}

ALL = dict(DIFFERENTIAL, call_ref=CALL_REF)
