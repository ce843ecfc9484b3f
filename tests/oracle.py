"""Binaryen's own asyncify pass, as the reference we measure against.

Used by tests and benchmarks only: the product never calls this pass. It runs
through the same bundled libbinaryen as asyncpy, in the same process, with
the analysis options translated to the pass arguments of the same meaning.
"""

from __future__ import annotations

from asyncpy import binaryen
from asyncpy.abi import STATE as STATE_GLOBAL
from asyncpy.options import AnalysisOptions


def pass_arguments(options: AnalysisOptions) -> dict[str, str]:
    args = {}
    if options.imports is not None:
        args["asyncify-imports"] = ",".join(options.imports)
    if options.ignore_imports:
        args["asyncify-ignore-imports"] = "1"
    if options.ignore_indirect:
        args["asyncify-ignore-indirect"] = "1"
    if options.remove_list:
        args["asyncify-removelist"] = ",".join(options.remove_list)
    if options.add_list:
        args["asyncify-addlist"] = ",".join(options.add_list)
    if options.propagate_add_list:
        args["asyncify-propagate-addlist"] = "1"
    if options.only_list:
        args["asyncify-onlylist"] = ",".join(options.only_list)
    return args


def run_asyncify(module: binaryen.Module, options: AnalysisOptions = AnalysisOptions(),
                 *, optimize: int = 0, extra_args: dict[str, str] | None = None) -> None:
    """Apply Binaryen's asyncify pass to `module` in place."""
    args = pass_arguments(options)
    args.update(extra_args or {})
    module.run_passes(["asyncify"], optimize=optimize, args=args)


def instrumented_by_binaryen(data: bytes, options: AnalysisOptions = AnalysisOptions()) -> set[str]:
    """The defined functions Binaryen's pass instruments: after the pass at
    optimisation level 0, exactly those touch the state global (besides the
    asyncify_* control functions the pass adds)."""
    with binaryen.Module.read(data) as m:
        m.features = binaryen.FEATURES_ALL
        run_asyncify(m, options)
        return {n for n in m.functions_touching_global(STATE_GLOBAL) if not n.startswith("asyncify_")}
