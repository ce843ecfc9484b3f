"""The transform's driver: add the module-level pieces (globals, control
exports, frame helpers, resolved runtime imports), then rewrite each function
the analysis selected, in one process or split over two (asyncpy.parallel),
and finally wrap uninstrumented calls with --asserts."""

from __future__ import annotations

import gc
import sys
import time
from typing import TYPE_CHECKING

from asyncpy import binaryen as B
from asyncpy.abi import TRACE_FUNCTION
from asyncpy.analysis import Analysis
from asyncpy.errors import AsyncpyError
from asyncpy.options import ListMatcher
from asyncpy.parallel import instrument_split
from asyncpy.transform.additions import (
    _add_asserts,
    _add_control_functions,
    _add_globals,
    _check_names_free,
    _layout,
    _resolve_runtime_imports,
)
from asyncpy.transform.emit import TRACE_BASE, TRACE_MODULE, _Instrumenter
from asyncpy.transform.frames import _add_frame_helpers
from asyncpy.transform.report import FunctionStats, TransformReport
from asyncpy.transform.sites import _site_predicate, marked_site

if TYPE_CHECKING:
    from asyncpy.options import TransformOptions


def instrument(module: B.Module, analysis: Analysis, options: TransformOptions,
               progress=None, only: set[str] | None = None) -> TransformReport:
    """Instrument `module` in place for the functions `analysis` selects
    (of those, only the ones in `only` if given: a chunk of a big module,
    asyncpy.wasm.chunks); `progress.advance()` (asyncpy.progress) after
    each one."""
    # The rewrite and the liveness pass recurse along the nesting of a body,
    # which runs thousands deep (a br_table dispatch); the limit is raised
    # for this call only.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 1_000_000))
    # The objects alive now (the facts and the analysis: CUE, about a
    # million) live through the whole rewrite, which allocates fast enough
    # to set off some 40 full collections of Python's cycle collector, each
    # walking all of them: 3 s of CUE's 50. Frozen, the collector skips them
    # (not if a caller froze objects of its own: unfreezing would free them).
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        return _instrument(module, analysis, options, progress, only)
    finally:
        sys.setrecursionlimit(limit)
        if freeze:
            gc.unfreeze()


def _add_rewind_copies(module: B.Module, analysis: Analysis, options: TransformOptions,
                       is_site, walker) -> dict[str, str]:
    """For TransformOptions.rewind_copy="loops" (or rewind_copy_list: only
    the functions it names): a copy, under a new name, of every function to
    instrument that has a pause site inside a loop; with "top", of the one
    among them with the most such sites (an interpreter's bytecode loop).
    Returns {function: its copy}. The copy is instrumented in full and only
    a rewind enters it; the function itself then needs no rewind code,
    whose joins inside the loop cost register allocation (in wasmtime's
    Cranelift) more than the checks and saves do."""
    taken = {f.name for f in module.functions()}
    out = {}
    only = ListMatcher(options.rewind_copy_list)
    chosen = [(name, _sites_in_loops(module, name, is_site, walker)) for name in analysis.instrument
              if not only or only(name)]
    chosen = [(name, k) for name, k in chosen if k]
    if options.rewind_copy == "top" and chosen:
        # Copying more is not free: each copied function's own code shrinks,
        # -O2 then inlines it differently (measured: QuickJS 1.04x with the
        # bytecode loop copied alone, 1.13-1.18x with two more).
        chosen = [max(chosen, key=lambda c: c[1])]
    for name, _ in chosen:
        copy, n = f"{name}$asyncpy_rewind", 1
        while copy in taken:
            n += 1
            copy = f"{name}$asyncpy_rewind{n}"
        taken.add(copy)
        B.duplicate_function(module, name, copy)
        out[name] = copy
    return out


def _sites_in_loops(module: B.Module, name: str, is_site, walker) -> int:
    """How many pause sites of the function are inside a loop. With the
    native walker only the spine comes to Python, and every site and every
    loop around one is on it."""
    fref = module.function_ref(name)
    root = None
    if walker is not None:
        params, vars_ = B.function_locals(fref)
        try:
            root = walker.spine(fref, len(params) + len(vars_), name).root
        except (B.native.TooDeep, B.native.Refused):
            pass        # the Python walk below (a refusal is raised by the instrumentation)
        else:
            if root is None:
                return 0
    if root is None:
        root = B.read_tree(fref)
    else:
        is_site = marked_site
    count, stack = 0, [(root, False)]
    while stack:
        n, in_loop = stack.pop()
        if in_loop and is_site(n):
            count += 1
        in_loop = in_loop or n.kind == B.Kind.Loop
        stack.extend((c, in_loop) for c in n.kids)
    return count


def _instrument(module: B.Module, analysis: Analysis, options: TransformOptions,
                progress=None, only: set[str] | None = None) -> TransformReport:
    t0 = time.perf_counter()
    _check_names_free(module, options)
    layout = _layout(module, options)
    b = B.Builder(module)
    _add_globals(module, b, layout, options)
    _add_frame_helpers(module, b, layout, options.check_bounds)
    report = TransformReport()
    is_site = _site_predicate(analysis)
    if options.trace_unwind:
        B.add_function_import(module, TRACE_FUNCTION, TRACE_MODULE, TRACE_BASE, [B.I32], [])
    # A function's trace id is its index in analysis.instrument: the same in
    # every process of instrument_split.
    trace_ids = {n: i for i, n in enumerate(analysis.instrument)} if options.trace_unwind else {}

    # Copies are not call targets: the walker's pausing set is the same
    # before and after they are added.
    walker = B.native.Walker(module, analysis.reasons, is_site) if B.native.available() else None
    copies = _add_rewind_copies(module, analysis, options, is_site, walker) \
        if options.rewind_copy != "none" or options.rewind_copy_list else {}
    copy_of = {c: f for f, c in copies.items()}
    for f, c in copies.items():
        if f in trace_ids:
            trace_ids[c] = trace_ids[f]

    def run(names, progress):
        out: list[FunctionStats | None] = []
        for name in names:
            if only is not None and name not in only:
                # Another chunk's function (a stub here): it moves last as it
                # does in its own chunk, so every chunk orders functions alike.
                B.move_function_last(module, name, stub=True)
                out.append(None)
                continue
            inst = _Instrumenter(module, b, layout, name, is_site, options, walker)
            inst.trace_id = trace_ids.get(name)
            inst.rewind_copy = copies.get(name)
            stats = inst.run()
            if stats is None:
                # Nothing to change (no pause site after all); it still moves
                # last, where replace_function puts the others, so that the
                # order of functions is the same however the module is cut.
                B.move_function_last(module, name)
            out.append(stats)
            if progress is not None and name not in copy_of:
                progress.advance(1)
        return out

    # Functions are independent: with ASYNCPY_JOBS=2, big modules do them
    # on two cores (asyncpy.parallel).
    names = list(analysis.instrument) + list(copies.values())
    by_name = {}
    for stats in instrument_split(module, names, run, progress):
        if stats is not None:
            by_name[stats.name] = stats
            if stats.name not in copy_of:
                report.instrumented.append(stats)
    for f, c in copies.items():
        # The copy restores what the function saved: same sites, same frame.
        a, r = by_name.get(f), by_name.get(c)
        if a is None or r is None or \
                (a.sites, a.saved_locals, a.frame_bytes) != (r.sites, r.saved_locals, r.frame_bytes):
            raise AsyncpyError(f"internal error: the rewind copy of {f} does not number its sites or lay "
                               f"out its frame as {f} does ({a} / {r}); please report it with the input")
    if options.asserts:
        _add_asserts(module, b, analysis, set(by_name) | analysis.top_most | analysis.bottom_most)
    _add_control_functions(module, b, layout)
    _resolve_runtime_imports(module, b, analysis, layout)
    report.seconds = time.perf_counter() - t0
    return report
