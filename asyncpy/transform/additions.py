"""What the transform adds at module level, beside the instrumented bodies.

The `__asyncify_state`/`__asyncify_data` globals (defined, or imported with
--relocatable), the five control exports of the asyncify ABI, the direct
calls that replace `asyncify.*` imports, the --asserts traps in functions
that must not see the state change, and the initial bytes of a separate
data memory. Names it would add must be free in the input."""

from __future__ import annotations

from typing import TYPE_CHECKING

from asyncpy import binaryen as B
from asyncpy.abi import (
    ASYNCIFY,
    CONTROL_EXPORTS,
    DATA,
    NORMAL,
    PAGE_SIZE,
    REWINDING,
    SEPARATE_MEMORY,
    SEPARATE_STRUCT,
    STATE,
    UNWINDING,
)
from asyncpy.analysis import Analysis
from asyncpy.binaryen import Kind as K
from asyncpy.binaryen import Op
from asyncpy.errors import AsyncpyError, UnsupportedError
from asyncpy.transform.frames import Layout

if TYPE_CHECKING:
    from asyncpy.options import TransformOptions


def _layout(module: B.Module, options: TransformOptions) -> Layout:
    if options.data_memory == "separate":
        if options.memory is not None:
            raise AsyncpyError("--memory and --data-memory separate exclude each other")
        return Layout(ptr=B.I32, memory=SEPARATE_MEMORY)
    if not B.has_memory(module):
        raise UnsupportedError("the module has no memory to hold the asyncify buffer "
                               "(use --data-memory separate)")
    memory = None
    if options.memory is None and B.memory_count(module) > 1:
        names = [e.name for e in module.exports() if e.kind == "memory"]
        raise AsyncpyError(f"the module has {B.memory_count(module)} memories: choose the one for the "
                           f"asyncify buffer with --memory EXPORT (exported: {', '.join(names) or 'none'}), "
                           "or use --data-memory separate")
    if options.memory is not None:
        exp = next((e for e in module.exports() if e.kind == "memory" and e.name == options.memory), None)
        if exp is None:
            raise AsyncpyError(f"--memory {options.memory}: no memory is exported under that name")
        memory = exp.value
    return Layout(ptr=B.I64 if B.memory_is_64(module, memory) else B.I32, memory=memory)


def _add_globals(module: B.Module, b: B.Builder, layout: Layout, options: TransformOptions) -> None:
    for name, t in ((STATE, B.I32), (DATA, layout.ptr)):
        if B.has_global(module, name):
            raise AsyncpyError(f"the module already has a global {name}: is it instrumented already?")
        if options.relocatable:
            B.add_global_import(module, name, "env", name, t, True)
        else:
            B.add_global(module, name, t, True, b.zero(t))
        if options.export_globals:
            B.add_global_export(module, name, name)


def _add_control_functions(module: B.Module, b: B.Builder, layout: Layout) -> None:
    """The five exports every asyncify runtime calls. The four that change
    the state trap if the data struct says current > end."""
    pt = layout.ptr

    def checked(state: int, with_ptr: bool):
        data = b.global_get(DATA, pt)
        cur = b.load(pt, data, memory=layout.memory)
        end = b.load(pt, b.global_get(DATA, pt), offset=layout.end_offset, memory=layout.memory)
        over = b.binary(Op.gt_u64 if pt == B.I64 else Op.gt_u32, cur, end)
        stmts = [b.global_set(STATE, b.i32(state))]
        if with_ptr:
            stmts.append(b.global_set(DATA, b.local_get(0, pt)))
        stmts.append(b.if_(over, b.unreachable()))
        return b.block(None, stmts, B.NONE)

    for name, state, with_ptr in (("asyncify_start_unwind", UNWINDING, True),
                                  ("asyncify_stop_unwind", NORMAL, False),
                                  ("asyncify_start_rewind", REWINDING, True),
                                  ("asyncify_stop_rewind", NORMAL, False)):
        B.add_function(module, name, [pt] if with_ptr else [], [], [], checked(state, with_ptr))
        B.add_function_export(module, name, name)
    B.add_function(module, "asyncify_get_state", [], [B.I32], [], b.global_get(STATE, B.I32))
    B.add_function_export(module, "asyncify_get_state", "asyncify_get_state")


def _resolve_runtime_imports(module: B.Module, b: B.Builder, analysis: Analysis, layout: Layout) -> None:
    """`asyncify.start_unwind` etc. imported by an in-wasm runtime become
    functions of the same internal name that call ours."""
    for f in analysis.facts.functions.values():
        if f.import_module != ASYNCIFY:
            continue
        target = f"asyncify_{f.import_base}"
        if target not in CONTROL_EXPORTS:
            raise AsyncpyError(f"unknown asyncify runtime import asyncify.{f.import_base}")
        info = next(i for i in module.functions() if i.name == f.name)
        params, results = info.params, info.results
        B.remove_function(module, f.name)
        args = [b.local_get(i, t) for i, t in enumerate(params)]
        B.add_function(module, f.name, params, results, [],
                       b.call(target, args, B.make_type(results)))


def _add_asserts(module: B.Module, b: B.Builder, analysis: Analysis, skip: set[str]) -> int:
    """`--asserts`: in every defined function that is not instrumented,
    trap if a call returns with the state not normal, i.e. a stack was
    unwound through a function that cannot save itself (the analysis was
    told too little, e.g. a wrong --imports or --remove-list). Runtime
    functions that change the state on purpose are left alone."""
    count = 0
    for name, f in analysis.facts.functions.items():
        if f.imported or name in skip:
            continue
        fref = module.function_ref(name)
        root = B.read_tree(fref)
        calls = []
        stack: list[tuple[B.Node, B.Node | None, int]] = [(root, None, 0)]
        while stack:
            n, parent, i = stack.pop()
            if n.kind in (K.Call, K.CallIndirect, K.CallRef):
                calls.append((n, parent, i))
            stack.extend((c, n, j) for j, c in enumerate(n.kids))
        if not calls:
            continue
        params, vars_ = B.function_locals(fref)
        names = B.local_names(fref)
        # Innermost calls first: wrapping a call replaces it in its parent,
        # so a call nested in another (`f(g(x))`) must be wrapped while its
        # parent is still the call, not the block that later wraps it.
        for n, parent, i in reversed(calls):
            t = n.type
            check = b.if_(b.global_get(STATE, B.I32), b.unreachable())
            if t == B.NONE:
                wrapped = b.block(None, [n.ref, check], B.NONE)
            elif t == B.UNREACHABLE:
                continue
            else:
                vars_.append(t)
                r = len(params) + len(vars_) - 1
                wrapped = b.block(None, [b.local_set(r, n.ref), check, b.local_get(r, t)], t)
            if parent is None:
                root.ref = wrapped
            else:
                kids = [c.ref for c in parent.kids]
                kids[i] = wrapped
                parent.kids[i].ref = wrapped
                B.set_children(parent.ref, kids)
        B.replace_function(module, name, vars_, root.ref, names)
        count += 1
    return count


def _check_names_free(module: B.Module, options: TransformOptions) -> None:
    """Binaryen aborts the process on a duplicate export, so every export we
    are going to add is checked first."""
    ours = set(CONTROL_EXPORTS)
    if options.export_globals:
        ours |= {STATE, DATA}
    if options.data_memory == "separate":
        ours.add(SEPARATE_MEMORY)
    taken = {e.name for e in module.exports()} & ours
    if taken:
        raise AsyncpyError(f"the module already exports {sorted(taken)[0]}: is it instrumented already?")


def separate_memory_init(options: TransformOptions) -> bytes:
    """Initial contents of the separate data memory: the struct at 0, with
    the buffer right after it and up to the end of the memory, so a host
    can call asyncify_start_unwind(0) without allocating anything."""
    start = SEPARATE_STRUCT + 8
    end = options.data_pages * PAGE_SIZE
    return start.to_bytes(4, "little") + end.to_bytes(4, "little")
