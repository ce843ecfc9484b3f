"""Random call-graph modules whose run-time behaviour can be checked.

`Program` describes functions, each a list of actions (call the pausing
import, call a function directly, call a table slot through call_indirect,
call a ref.func through call_ref). `to_wat()` renders it with tracing: every
function calls `trace.enter(id)` / `trace.leave(id)` around its body, so a
host `env.sleep` sees the wasm call stack. A global depth counter bounds the
recursion that calls through tables can create.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import wasmtime

from asyncpy.wasm.engine import engine as asyncpy_engine

# Function types of the generated functions; none returns a value.
TYPES = ["", "(param i32)", "(param i64)"]
ARGS = ["", "(i32.const 1)", "(i64.const 1)"]


@dataclass
class Program:
    types: list[int]                     # type index per function
    actions: list[list[tuple]]           # per function: ("sleep",), ("call", j), ("slot", s), ("ref", j)
    table: list[int]                     # function index per slot (the element segment)
    set_slots: list[tuple[int, int]] = field(default_factory=list)   # (slot, f) by table.set in $init
    exports: list[int] = field(default_factory=list)
    export_table: bool = False

    @property
    def size(self) -> int:
        return len(self.types) + len(self.set_slots)

    def to_wat(self) -> str:
        n = len(self.types)
        table_size = len(self.table) + len(self.set_slots)
        refd = sorted({j for acts in self.actions for a in acts if a[0] == "ref" for j in [a[1]]}
                      | {f for _, f in self.set_slots})
        out = ['(module',
               '  (import "env" "sleep" (func $sleep))',
               '  (import "env" "log" (func $log (param i32)))',
               '  (import "trace" "enter" (func $enter (param i32)))',
               '  (import "trace" "leave" (func $leave (param i32)))']
        for k, t in enumerate(TYPES):
            out.append(f'  (type $t{k} (func {t}))')
        out.append('  (global $depth (mut i32) (i32.const 0))')
        export = ' (export "table")' if self.export_table else ''
        out.append(f'  (table $tab{export} {max(table_size, 1)} funcref)')
        if self.table:
            out.append('  (elem (table $tab) (i32.const 0) func '
                       + ' '.join(f'$f{i}' for i in self.table) + ')')
        if refd:
            out.append('  (elem declare func ' + ' '.join(f'$f{i}' for i in refd) + ')')
        for i in range(n):
            body = []
            for a in self.actions[i]:
                if a[0] == "sleep":
                    body.append('(call $sleep)')
                elif a[0] == "log":
                    body.append(f'(call $log (i32.const {i}))')
                elif a[0] == "call":
                    j = a[1]
                    body.append(f'(call $f{j} {ARGS[self.types[j]]})')
                elif a[0] == "slot":
                    s = a[1]
                    f = self.slot_function(s)
                    body.append(f'(call_indirect $tab (type $t{self.types[f]}) '
                                f'{ARGS[self.types[f]]} (i32.const {s}))')
                elif a[0] == "ref":
                    j = a[1]
                    body.append(f'(call_ref $t{self.types[j]} {ARGS[self.types[j]]} (ref.func $f{j}))')
            exp = f' (export "f{i}")' if i in self.exports else ''
            out.append(
                f'  (func $f{i}{exp} (type $t{self.types[i]})\n'
                f'    (if (i32.gt_u (global.get $depth) (i32.const 5)) (then (return)))\n'
                f'    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))\n'
                f'    (call $enter (i32.const {i}))\n'
                + ''.join(f'    {b}\n' for b in body) +
                f'    (call $leave (i32.const {i}))\n'
                f'    (global.set $depth (i32.sub (global.get $depth) (i32.const 1))))')
        sets = ''.join(f'\n    (table.set $tab (i32.const {s}) (ref.func $f{f}))'
                       for s, f in self.set_slots)
        out.append(f'  (func $init (export "init"){sets})')
        out.append(')')
        return '\n'.join(out)

    def slot_function(self, s: int) -> int:
        if s < len(self.table):
            return self.table[s]
        return self.set_slots[s - len(self.table)][1]


def run_and_record_stacks(wasm: bytes, program: Program) -> list[tuple[int, ...]]:
    """Instantiate, call init and every export, and return the traced wasm
    call stack (function indices, outermost first) at every env.sleep."""
    engine = asyncpy_engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, wasm)
    stack: list[int] = []
    seen: list[tuple[int, ...]] = []

    def enter(i):
        stack.append(i)

    def leave(i):
        assert stack and stack[-1] == i, (stack, i)
        stack.pop()

    def sleep():
        seen.append(tuple(stack))

    v, i32 = wasmtime.FuncType([], []), wasmtime.FuncType([wasmtime.ValType.i32()], [])
    linker = wasmtime.Linker(engine)
    linker.define_func("env", "sleep", v, sleep)
    linker.define_func("env", "log", i32, lambda x: None)
    linker.define_func("trace", "enter", i32, enter)
    linker.define_func("trace", "leave", i32, leave)
    inst = linker.instantiate(store, module)
    exports = inst.exports(store)
    exports["init"](store)
    for i in program.exports:
        f = exports[f"f{i}"]
        args = {0: [], 1: [1], 2: [1]}[program.types[i]]
        f(store, *args)
        assert stack == []
    return seen
