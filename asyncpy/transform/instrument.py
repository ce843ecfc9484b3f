"""The transform's driver: add the module-level pieces (globals, control
exports, frame helpers, resolved runtime imports), then rewrite each function
the analysis selected, in one process or split over two (asyncpy.parallel),
and finally wrap uninstrumented calls with --asserts."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from asyncpy import binaryen as B
from asyncpy.abi import TRACE_FUNCTION
from asyncpy.analysis import Analysis
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
from asyncpy.transform.report import TransformReport
from asyncpy.transform.sites import _site_predicate

if TYPE_CHECKING:
    from asyncpy.options import TransformOptions


def instrument(module: B.Module, analysis: Analysis, options: TransformOptions,
               progress=None) -> TransformReport:
    """Instrument `module` in place for the functions `analysis` selects;
    `progress.advance()` (asyncpy.progress) after each one."""
    # The rewrite and the liveness pass recurse along the nesting of a body,
    # which runs thousands deep (a br_table dispatch); the limit is raised
    # for this call only.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 1_000_000))
    try:
        return _instrument(module, analysis, options, progress)
    finally:
        sys.setrecursionlimit(limit)


def _instrument(module: B.Module, analysis: Analysis, options: TransformOptions,
                progress=None) -> TransformReport:
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

    walker = B.native.Walker(module, analysis.reasons, is_site) if B.native.available() else None

    def run(names, progress):
        out = []
        for name in names:
            inst = _Instrumenter(module, b, layout, name, is_site, options, walker)
            inst.trace_id = trace_ids.get(name)
            out.append(inst.run())
            if progress is not None:
                progress.advance(1)
        return out

    # Functions are independent: with ASYNCPY_JOBS=2, big modules do them
    # on two cores (asyncpy.parallel).
    for stats in instrument_split(module, analysis.instrument, run, progress):
        if stats is not None:
            report.instrumented.append(stats)
    if options.asserts:
        done = {f.name for f in report.instrumented}
        _add_asserts(module, b, analysis, done | analysis.top_most | analysis.bottom_most)
    _add_control_functions(module, b, layout)
    _resolve_runtime_imports(module, b, analysis, layout)
    report.seconds = time.perf_counter() - t0
    return report
