"""Running a Plan: every step in order on one Binaryen module, with
`--asyncify` done by asyncpy's transform at its position.

Custom sections: the loader keeps all but `name` and `target_features`
away from Binaryen's reader (DWARF it cannot parse makes it exit the
process). They are put back on output: `dylink.0` first (dynamic loaders
need it), the others (`producers`, ...) at the end, unless a strip pass
removed them. DWARF cannot be carried: Binaryen would have to rewrite it
for the changed code, which needs its reader to parse it. It is dropped,
with a warning when no flag asked for that.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from asyncpy import binaryen
from asyncpy.cli.wasmopt import asyncify_args
from asyncpy.cli.wasmopt.cmdline import Asyncify, Optimize, Plan, RunPass
from asyncpy.errors import AsyncpyError
from asyncpy.wasm import Loaded, load, load_bytes
from asyncpy.wasm.load import attach_custom_sections, ensure_memory

# What each strip pass removes from the sections kept aside (Binaryen's Strip.cpp).
_DWARF = lambda n: n.startswith((".debug", "reloc..debug"))
_STRIPS = {
    "strip-dwarf": _DWARF,
    "strip-debug": lambda n: _DWARF(n) or n == "sourceMappingURL",
    "strip": lambda n: _DWARF(n) or n == "sourceMappingURL",
    "strip-producers": lambda n: n == "producers",
    "strip-target-features": lambda n: False,   # Binaryen itself holds that section
}
# Sections whose contents describe code or layout that may have changed:
# never written back (Binaryen writes a fresh sourceMappingURL when asked).
_STALE = lambda n: n == "sourceMappingURL" or n.startswith(("reloc.", "linking"))


@dataclass
class Outcome:
    wasm: bytes | None             # None with -S (then `text` is set)
    text: str | None
    source_map: str | None
    warnings: list[str]


def _feature_mask(plan: Plan, section_mask: int, used: frozenset[str]) -> int:
    # wasm-opt 116 starts from its default set (MVP, sign-ext,
    # mutable-globals) and the input's target_features section.
    mask = section_mask | binaryen.feature_mask(("sign-ext", "mutable-globals"))
    # "All" stops short of GC and strings: with those enabled libbinaryen 116
    # writes type encodings that engines of today reject, and no input that
    # asyncpy can read uses them.
    every = binaryen.feature_mask(n for n in binaryen.FEATURES if n not in ("gc", "strings"))
    for op, name in plan.feature_ops:
        bits = every if name is None else binaryen.FEATURES[name]
        mask = mask | bits if op == "enable" else mask & ~bits
    # Mutable globals are always on: every engine has them, and asyncpy's
    # feature detection reports them for every module (the transform's
    # exported globals need them).
    mask |= binaryen.FEATURES["mutable-globals"]
    missing = [n for n in sorted(used) if not mask & binaryen.FEATURES[n]]
    if missing:
        raise AsyncpyError(f"the module uses {', '.join(missing)}, which the feature flags disable "
                           f"(add --enable-{missing[0]}); Binaryen would reject it as invalid too")
    return mask


def _transform(module: binaryen.Module, plan: Plan, args: asyncify_args.AsyncifyArgs,
               mask: int, say) -> tuple[binaryen.Module, list[str]]:
    """The asyncify step: through asyncpy's transform, as bytes (the
    transform loads, checks and validates its input and output itself)."""
    from asyncpy.options import TransformOptions
    from asyncpy.pipeline import transform_loaded

    data = module.write(names=True)
    if not args.secondary_memory:
        data = ensure_memory(data)              # Binaryen's MemoryUtils::ensureExists
    memory = None
    if binaryen.memory_count(module) > 1 and not args.secondary_memory:
        memory = args.memory or "memory"       # Binaryen's default name
    options = TransformOptions(
        analysis=args.analysis, asserts=args.asserts, relocatable=args.relocatable,
        export_globals=args.export_globals, memory=memory,
        data_memory="separate" if args.secondary_memory else "default",
        data_pages=args.secondary_pages)
    result = transform_loaded(load_bytes(data, "<asyncify input>", isolate=False), options)
    if args.verbose:
        say(verbose_lines(result.analysis))
    new = binaryen.Module.read(result.wasm)
    # The separate data memory is a second memory.
    new.features = mask | (binaryen.FEATURES["multimemory"] if args.secondary_memory else 0)
    if plan.optimize > 0:
        # Binaryen's pass optimises the functions it instrumented, at the
        # run's global level; so do we.
        new.optimize_functions([f.name for f in result.report.instrumented], _pass_options(plan))
    return new, result.analysis.warnings


def verbose_lines(analysis) -> str:
    """What `--pass-arg=asyncify-verbose` prints: Binaryen's lines (same
    wording, so tools that read them keep working), then asyncpy's reason
    for each instrumented function, a shortest path to a pausing import."""
    facts = analysis.facts
    head, prop = [], []
    for name, r in analysis.reasons.items():
        f = facts.functions[name]
        if f.imported:
            if r.kind == "import":
                head.append(f"[asyncify] {name} is an import that can change the state")
        elif r.kind in ("runtime", "indirect-unknown"):
            head.append(f"[asyncify] {name} can change the state due to initial scan")
        elif r.kind == "add-list":
            head.append(f"[asyncify] {name} is in the add-list, add")
        elif r.kind == "only-list":
            pass
        elif r.via is not None:
            prop.append(f"[asyncify] {name} can change the state due to {r.via}")
    for name in analysis.top_most:
        head.append(f"[asyncify] {name} can change the state due to initial scan")
    if analysis.options.only_list:
        for name, f in facts.functions.items():
            if not f.imported:
                head.append(f"[asyncify] {name}'s state is set based on the only-list to "
                            f"{int(name in analysis.reasons)}")
    lines = head + sorted(prop)
    for name in analysis.instrument:
        head_line, *path = analysis.explain(name).split("\n  ")
        lines.append(f"[asyncpy] {head_line.rstrip(':')}: {'; '.join(path)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _pass_options(plan: Plan) -> binaryen.PassOptions:
    return binaryen.PassOptions(optimize=plan.optimize, shrink=plan.shrink,
                                low_memory_unused=plan.low_memory_unused,
                                zero_filled_memory=plan.zero_filled_memory,
                                fast_math=plan.fast_math, debug_info=plan.debug_info)


def check(plan: Plan) -> asyncify_args.AsyncifyArgs | None:
    """Everything that can be refused before any work."""
    if plan.input is None:
        raise AsyncpyError("no input file")
    if plan.input_source_map is not None:
        raise AsyncpyError("--input-source-map: libbinaryen 116's C API cannot read a source map "
                           "(BinaryenModuleRead takes none), so the mapping would be lost; build "
                           "without source maps (-gsource-map) to use asyncpy-wasm-opt")
    bad = binaryen.unknown_passes(plan.pass_names)
    if bad:
        raise AsyncpyError(f"unknown pass --{bad[0]}: libbinaryen 116 has no pass of that name")
    asyncify_args.check_names(plan.pass_args)
    if any(isinstance(s, Asyncify) for s in plan.steps):
        return asyncify_args.from_pass_args(plan.pass_args)
    return None


def execute(plan: Plan, say=lambda text: sys.stdout.write(text)) -> Outcome:
    args = check(plan)
    assert plan.input is not None           # check() refused it otherwise
    loaded: Loaded = load(plan.input)
    warnings: list[str] = []
    custom = list(loaded.custom)
    options = _pass_options(plan)
    other_args = {k: v for k, v in plan.pass_args.items() if not k.startswith("asyncify-")}
    module = binaryen.Module.read(loaded.data)
    try:
        from asyncpy.analysis import collect_facts

        mask = _feature_mask(plan, module.features, collect_facts(module).features)
        module.features = mask
        pending: list[str] = []

        def flush():
            if pending:
                module.run_named_passes(pending, other_args, options)
                pending.clear()

        for step in plan.steps:
            if isinstance(step, RunPass):
                pending.append(step.name)
                strip = _STRIPS.get(step.name)
                if strip is not None:
                    custom = [(n, raw) for n, raw in custom if not strip(n)]
            elif isinstance(step, Optimize):
                flush()
                binaryen.PassOptions(step.optimize, step.shrink, options.low_memory_unused,
                                     options.zero_filled_memory, options.fast_math,
                                     options.debug_info).apply()
                module.run_default_pipeline(other_args)
            elif isinstance(step, Asyncify):
                flush()
                assert args is not None             # check() read them: there is an Asyncify step
                new, more = _transform(module, plan, args, mask, say)
                module.dispose()
                module = new
                warnings += [w for w in more if not w.startswith("--imports")]
        flush()
        dwarf = sorted({n for n, _ in custom if _DWARF(n)})
        if dwarf:
            warnings.append(f"DWARF debug info ({', '.join(dwarf)}) is dropped: libbinaryen's C API "
                            "cannot read it to update it for the changed code (use --strip-dwarf "
                            "to say so, or -gsource-map-free builds)")
        if plan.ignore_implicit_traps:
            warnings.append("--ignore-implicit-traps/--traps-never-happen is not applied: libbinaryen "
                            "116's C API cannot set it (the output is still correct, only less optimised)")
        custom = [(n, raw) for n, raw in custom if not _DWARF(n) and not _STALE(n)]
        if not module.validate():
            raise AsyncpyError("internal error: the result does not validate in Binaryen "
                               "(please report it with the command line and input)")
        if plan.text:
            return Outcome(None, module.text(), None, warnings)
        url = plan.output_source_map_url
        if plan.output_source_map is not None and url is None:
            url = plan.output_source_map
        wasm, smap = module.write_with_map(names=plan.debug_info,
                                           source_map_url=url if plan.output_source_map else None)
    finally:
        module.dispose()
    return Outcome(attach_custom_sections(wasm, custom), None, smap, warnings)
