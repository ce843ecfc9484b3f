"""Linking the bundled runtime (`asyncpy/runtime_wat/`) into a program.

A program asks for the runtime by importing functions from the module
`asyncpy` (see `API` and examples/asyncpy.h), or the transform is asked to
wrap exports (`--reactor`). Linking then, before the analysis runs:

1. parses the runtime's WAT into a Binaryen module of its own (its `$names`
   come through the name section);
2. maps the runtime's imports onto the program:
   * `asyncify.*` become imports of the program (reused if it has them), so
     that the analysis sees the runtime's pause point (`asyncpy.rt.pause`,
     which calls start_unwind/stop_rewind: top-most) and scheduler loop
     (`asyncpy.rt.run_until`, which calls stop_unwind/start_rewind:
     bottom-most), and the transform turns them into calls to its control
     functions;
   * `program.alloc` becomes the program's allocator: `--task-alloc NAME`,
     else a function named (or exported as) `malloc` or `asyncpy_malloc`,
     else the runtime's own `asyncpy.rt.grow_alloc`, which takes fresh pages
     with `memory.grow` (for programs without an allocator; fine for wasi-libc
     C, whose malloc tolerates foreign growth). Blocks are never given back
     to the allocator: a finished task's block goes on a free list and is
     reused by the next task;
   * `program.stack_pointer` becomes the program's shadow-stack pointer:
     `--stack-pointer NAME`, else the global named `__stack_pointer`, else
     (stripped LLVM output) global 0 when it is a defined mutable i32 with a
     non-zero initial value, else a private global (programs without a
     shadow stack);
   * `program.table` becomes the program's first table (created if there is
     none): `asyncpy.go(fn, arg)` takes an index into it, as a C function
     pointer is;
3. copies every runtime global and function into the program
   (BinaryenExpressionCopy, then callees, globals, the table and memory
   accesses are renamed for their new home, see binaryen.copy_expression).
   Runtime names all start with `asyncpy.rt.`; a program import
   `asyncpy.NAME` is removed and the runtime's `asyncpy.rt.api.NAME` is added
   under the import's internal name, so the program's calls reach it
   directly;
4. wraps the chosen exports (Go 1.24 `//go:wasmexport` semantics, docs/DESIGN.md §5):
   export E becomes `asyncpy.rt.export.E`, which starts the original
   function as a new task through a trampoline `asyncpy.rt.entry.E` (placed
   in the table: tasks are launched and resumed through call_indirect) and
   runs the scheduler until that task is done. Parameters and results travel
   through 8-byte slots in the task's header, so at most 8 of each, scalar
   types only.

Traps are calls of functions named for their cause, so a backtrace reads
`asyncpy.rt.trap.deadlock`, `...stack_overflow`, `...not_in_task` (a
blocking call outside any task), `...out_of_memory`, `...nested_host_pause`
(a host pause inside a re-entrant export call), `...nested_wait` (a
re-entrant export call that would have to wait for an async host) or
`...bad_resume`.

5. exports the host-wait protocol (`asyncpy.rt.host.X` as `asyncpy_X`,
   docs/host-protocol.md), and wraps a command's `_start` too, so that its
   main is a task. The runtime's import `asyncpy_host.clock_ms` becomes an
   import of the program only if it uses real time (`asyncpy.sleep_ms`,
   `asyncpy.clock_ms`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from asyncpy import binaryen as B
from asyncpy.abi import DEFAULT_TASK_BLOCK, TASK_ARGS_OFFSET, TASK_MAX_SLOTS
from asyncpy.errors import AsyncpyError, UnsupportedError
from asyncpy.options import LinkOptions

RUNTIME_DIR = Path(__file__).parent
RUNTIME_WAT = RUNTIME_DIR / "tasks.wat"
PREFIX = "asyncpy.rt."
API_PREFIX = PREFIX + "api."
IMPORT_MODULE = "asyncpy"
SCALARS = (B.I32, B.I64, B.F32, B.F64)
# Exports never wrapped by --reactor (all): entry points that are not calls
# into a running program, and the allocator a host may use.
NOT_WRAPPED = ("_initialize", "_start", "malloc", "free", "calloc", "realloc", "asyncpy_malloc",
               "cabi_realloc")
ALLOCATOR_CANDIDATES = ("malloc", "asyncpy_malloc")
GROW_ALLOC = PREFIX + "grow_alloc"
HOST_PREFIX = PREFIX + "host."          # exported as asyncpy_<name> (docs/host-protocol.md)
HOST_EXPORT_PREFIX = "asyncpy_"
CLOCK_IMPORT = ("asyncpy_host", "clock_ms")
REAL_TIME_API = {"sleep_ms", "clock_ms"}
DEFAULT_BLOCK = DEFAULT_TASK_BLOCK


@dataclass
class LinkReport:
    wrapped: list[str] = field(default_factory=list)
    api: list[str] = field(default_factory=list)       # asyncpy.* imports resolved
    allocator: str = ""
    stack_pointer: str | None = None
    notes: list[str] = field(default_factory=list)


def imports_runtime(module: B.Module) -> bool:
    return any(f.import_module == IMPORT_MODULE for f in module.functions())


@lru_cache(maxsize=1)
def runtime_binary() -> bytes:
    from asyncpy.wasm import to_binary

    return to_binary(RUNTIME_WAT.read_bytes(), str(RUNTIME_WAT))


def api() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """The functions a program may import from `asyncpy`: name -> (params, results)."""
    with B.Module.read(runtime_binary()) as rt:
        return {f.name[len(API_PREFIX):]: (f.params, f.results)
                for f in rt.functions() if f.name.startswith(API_PREFIX)}


def _sig(params, results) -> str:
    return f"({' '.join(B.type_name(t) for t in params)}) -> ({' '.join(B.type_name(t) for t in results)})"


def _find_stack_pointer(module: B.Module, options: LinkOptions, report: LinkReport) -> str | None:
    globals_ = B.module_globals(module)
    by_name = {g.name: g for g in globals_}
    if options.stack_pointer:
        g = by_name.get(options.stack_pointer)
        if g is None:
            raise AsyncpyError(f"--stack-pointer {options.stack_pointer}: no global of that name")
        if g.type != B.I32 or not g.mutable:
            raise AsyncpyError(f"--stack-pointer {g.name}: not a mutable i32 global")
        return g.name
    g = by_name.get("__stack_pointer")
    if g is not None and g.type == B.I32 and g.mutable:
        return g.name
    if globals_:
        g = globals_[0]
        if not g.imported and g.type == B.I32 and g.mutable:
            init = B.global_init(module, g.name)
            if (B.const_i32(init) or 0) > 0:
                report.notes.append(f"using global {g.name} as the stack pointer (LLVM's global 0; "
                                    "name it with --stack-pointer if that is wrong)")
                return g.name
    return None


def _find_allocator(module: B.Module, options: LinkOptions) -> str:
    funcs = {f.name: f for f in module.functions()}
    exports = {e.name: e.value for e in module.exports() if e.kind == "function"}
    if options.allocator == "grow":
        return GROW_ALLOC
    candidates = (options.allocator,) if options.allocator else ALLOCATOR_CANDIDATES
    for c in candidates:
        name = c if c in funcs else exports.get(c)
        if name is None:
            continue
        f = funcs[name]
        if f.params != (B.I32,) or f.results != (B.I32,):
            raise AsyncpyError(f"allocator {c} has type {_sig(f.params, f.results)}, not (i32) -> (i32)")
        return name
    if options.allocator:
        raise AsyncpyError(f"--task-alloc {options.allocator}: no function or export of that name")
    return GROW_ALLOC


def _program_table(module: B.Module, needs_growth: bool) -> str:
    tables = module.tables()
    if not tables:
        name = PREFIX + "table"
        B.add_table(module, name, 0)
        return name
    t = tables[0]
    if t.imported and needs_growth:
        raise UnsupportedError(f"the program's table {t.name} is imported: cannot add the export "
                               "trampolines to it")
    return t.name


PIN_EXPORT = "asyncpy.pinned-table"


@contextmanager
def table_kept(module: B.Module) -> Iterator[None]:
    """Around optimising a program the runtime will be linked into: its
    table is exported for the while. Function pointers handed to
    `asyncpy.go` are table indices the optimiser cannot see used (there is
    no call_indirect until the runtime is in), so it would empty the table.
    (The runtime itself goes in after that optimisation, which must not
    inline the pause point into the program.)"""
    tables = module.tables()
    pinned = bool(tables) and not any(e.kind == "table" for e in module.exports())
    if pinned:
        B.add_table_export(module, tables[0].name, PIN_EXPORT)
    try:
        yield
    finally:
        if pinned:
            B.remove_export(module, PIN_EXPORT)


def link(module: B.Module, options: LinkOptions = LinkOptions()) -> LinkReport:
    """Link the runtime into `module` in place (see the module docstring)."""
    report = LinkReport()
    funcs = {f.name: f for f in module.functions()}
    if any(n.startswith(PREFIX) for n in funcs):
        raise AsyncpyError("the module already contains the asyncpy runtime (functions named "
                           f"{PREFIX}*): is it transformed already?")
    if B.memory_count(module) > 1:
        raise UnsupportedError("the task runtime needs a program with a single memory")
    if not B.has_memory(module):
        raise UnsupportedError("the asyncpy runtime needs a memory for its task blocks; the module has none")
    if B.memory_is_64(module):
        raise UnsupportedError("the asyncpy runtime supports wasm32 memories only (this one is memory64)")
    if options.block_size < 1024 or options.block_size % 16:
        raise AsyncpyError("--task-stack must be a multiple of 16, at least 1024")
    to_wrap = _exports_to_wrap(module, options)
    table = _program_table(module, bool(to_wrap))
    sp = _find_stack_pointer(module, options, report)
    report.stack_pointer = sp
    allocator = _find_allocator(module, options)
    report.allocator = allocator

    rt = B.Module.read(runtime_binary())
    try:
        rt_funcs = rt.functions()
        api_sigs = {f.name[len(API_PREFIX):]: (f.params, f.results)
                    for f in rt_funcs if f.name.startswith(API_PREFIX)}
        fmap: dict[str, str] = {}
        # The program's asyncpy.* imports: checked, removed, and their names
        # given to the runtime functions that implement them.
        for f in list(funcs.values()):
            if f.import_module != IMPORT_MODULE or f.import_base is None:
                continue
            want = api_sigs.get(f.import_base)
            if want is None:
                raise AsyncpyError(f"unknown runtime import asyncpy.{f.import_base} (the runtime "
                                   f"offers {', '.join(sorted(api_sigs))})")
            if (f.params, f.results) != want:
                raise AsyncpyError(f"import asyncpy.{f.import_base} has type {_sig(f.params, f.results)}, "
                                   f"the runtime's is {_sig(*want)}")
            if API_PREFIX + f.import_base in fmap:
                raise AsyncpyError(f"asyncpy.{f.import_base} is imported twice")
            B.remove_function(module, f.name)
            fmap[API_PREFIX + f.import_base] = f.name
            report.api.append(f.import_base)
        existing_asyncify = {f.import_base: f.name for f in funcs.values() if f.import_module == "asyncify"}
        for f in rt_funcs:
            if not f.imported:
                fmap.setdefault(f.name, f.name)
            elif f.import_module == "asyncify" and f.import_base is not None:
                name = existing_asyncify.get(f.import_base)
                if name is None:
                    name = f.name
                    B.add_function_import(module, name, "asyncify", f.import_base, f.params, f.results)
                fmap[f.name] = name
            elif (f.import_module, f.import_base) == ("program", "alloc"):
                fmap[f.name] = allocator
            elif (f.import_module, f.import_base) == CLOCK_IMPORT:
                # Real time is an import only for programs that use it, so
                # that the others keep running on hosts that know nothing of it.
                if set(report.api) & REAL_TIME_API:
                    B.add_function_import(module, f.name, *CLOCK_IMPORT, f.params, f.results)
                    fmap[f.name] = f.name
                    report.notes.append("real time: imports asyncpy_host.clock_ms")
                else:
                    fmap[f.name] = PREFIX + "no_clock"
            else:  # pragma: no cover - the runtime's own imports are fixed
                raise AsyncpyError(f"internal error: runtime import {f.import_module}.{f.import_base}")
        gmap: dict[str, str] = {}
        b = B.Builder(module)
        for g in B.module_globals(rt):
            if g.imported:
                if sp is None:
                    sp = PREFIX + "no_stack_pointer"
                    B.add_global(module, sp, B.I32, True, b.i32(0))
                gmap[g.name] = sp
                continue
            if B.has_global(module, g.name):  # pragma: no cover - checked by the prefix test
                raise AsyncpyError(f"the module already has a global {g.name}")
            init = b.i32(options.block_size) if g.name == PREFIX + "block_size" else \
                B.copy_expression(B.global_init(rt, g.name), module, {}, {}, None)
            B.add_global(module, g.name, g.type, g.mutable, init)
            gmap[g.name] = g.name
        for f in rt_funcs:
            if not f.imported:
                B.copy_function(rt, f.name, module, fmap[f.name], fmap, gmap, table)
    finally:
        rt.dispose()
    if to_wrap:
        _wrap_exports(module, to_wrap, table, fmap, report)
    _export_host_protocol(module)
    return report


def _export_host_protocol(module: B.Module) -> None:
    """Export $asyncpy.rt.host.X as asyncpy_X (docs/host-protocol.md)."""
    taken = {e.name for e in module.exports()}
    for f in module.functions():
        if f.name.startswith(HOST_PREFIX):
            name = HOST_EXPORT_PREFIX + f.name[len(HOST_PREFIX):]
            if name in taken:
                raise AsyncpyError(f"the program already exports {name}, a name of the runtime's "
                                   "host protocol")
            B.add_function_export(module, f.name, name)


def _exports_to_wrap(module: B.Module, options: LinkOptions) -> list[tuple[str, str]]:
    """(export name, internal function) pairs."""
    fexports = {e.name: e.value for e in module.exports() if e.kind == "function"}
    # A command's main runs as a task, so that it may block (wait for the
    # tasks it started, sleep) like any other.
    start = [("_start", fexports["_start"])] if "_start" in fexports else []
    if options.wrap_all:
        return start + [(n, v) for n, v in fexports.items()
                        if n not in NOT_WRAPPED and not n.startswith("asyncify_")]
    out = start
    for n in options.wrap or ():
        if n not in fexports:
            raise AsyncpyError(f"--reactor-exports {n}: the module exports no function of that name")
        out.append((n, fexports[n]))
    return out


def _wrap_exports(module: B.Module, pairs, table: str, fmap, report: LinkReport) -> None:
    sigs = {f.name: f for f in module.functions()}
    trampolines = []
    for export, internal in pairs:
        f = sigs[internal]
        for t in f.params + f.results:
            if t not in SCALARS:
                raise UnsupportedError(f"export {export}: only i32, i64, f32 and f64 cross a wrapped "
                                       f"export, not {B.type_name(t)}")
        if len(f.params) > TASK_MAX_SLOTS or len(f.results) > TASK_MAX_SLOTS:
            raise UnsupportedError(f"export {export}: at most {TASK_MAX_SLOTS} parameters and results")
        trampolines.append(PREFIX + "entry." + export)
    b = B.Builder(module)
    begin, run, end = PREFIX + "export_begin", PREFIX + "export_run", PREFIX + "export_end"
    for k, (_export, internal) in enumerate(pairs):
        f = sigs[internal]
        params, results = list(f.params), list(f.results)
        rtype = B.make_type(results)
        # trampoline (param $slots i32): results = F(params from slots) -> slots
        slots = lambda: b.local_get(0, B.I32)
        call = b.call(internal, [b.load(t, slots(), offset=8 * i) for i, t in enumerate(params)], rtype)
        if not results:
            body = call
            tvars: list[int] = []
        elif len(results) == 1:
            body = b.store(results[0], slots(), call)
            tvars = []
        else:
            tvars = [rtype]
            body = b.block(None, [b.local_set(1, call)] + [
                b.store(t, slots(), b.tuple_extract(b.local_get(1, rtype), j), offset=8 * j)
                for j, t in enumerate(results)], B.NONE)
        B.add_function(module, trampolines[k], [B.I32], [], tvars, body)
    # (Binaryen resolves a segment's functions when it is added: after them.)
    base = B.append_to_table(module, table, trampolines)
    for k, (export, internal) in enumerate(pairs):
        f = sigs[internal]
        params, results = list(f.params), list(f.results)
        rtype = B.make_type(results)
        # wrapper: same type as F
        t_local = len(params)
        task = lambda t_local=t_local: b.local_get(t_local, B.I32)
        stmts = [b.local_set(t_local, b.call(begin, [b.i32(base + k)], B.I32))]
        stmts += [b.store(t, task(), b.local_get(i, t), offset=TASK_ARGS_OFFSET + 8 * i)
                  for i, t in enumerate(params)]
        loads = [b.load(t, task(), offset=TASK_ARGS_OFFSET + 8 * j) for j, t in enumerate(results)]
        if not results:
            done = b.block(None, [b.call(end, [task()], B.NONE), b.return_()], B.NONE)
            wvars = [B.I32]
            fallback = []
        else:
            r_local = t_local + 1
            value = loads[0] if len(loads) == 1 else b.tuple_make(loads)
            done = b.block(None, [b.local_set(r_local, value), b.call(end, [task()], B.NONE),
                                  b.return_(b.local_get(r_local, rtype))], B.NONE)
            wvars = [B.I32, rtype]
            fallback = [b.zero(rtype)]
        # export_run returns 0 when a host pause unwinds through (return
        # zeros with the state left at unwinding, as any asyncify export) or
        # when the call went pending with an async host (asyncpy_call_pending).
        stmts.append(b.if_(b.call(run, [task()], B.I32), done))
        body = b.block(None, stmts + fallback, rtype)
        wrapper = PREFIX + "export." + export
        B.add_function(module, wrapper, params, results, wvars, body)
        B.remove_export(module, export)
        B.add_function_export(module, wrapper, export)
        report.wrapped.append(export)
