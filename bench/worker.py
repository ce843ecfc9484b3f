"""One transform, measured in a fresh process: `python -m bench.worker SIDE IN OUT`.

SIDE is `ours` (asyncpy's pipeline, no optimisation) or `theirs` (Binaryen's
asyncify pass, the way `wasm-opt --asyncify -O2` runs it) or `features` (only
report the input's feature set), or `plain` (no transform, only the -O2 that
follows, for the -O2 floor of the uninstrumented program), or `profiled` (a tracing build run once,
pausing at every `env.pause` as bench/host.py does, then asyncpy with
`--only-list` of the functions seen on the stack and `--asserts`; the timed
figure is that second transform), or `profiled-copy` (the same with
--rewind-copy), or `full-copy` (the full analysis with --rewind-copy-top),
or `ablate:PARTS` (cost measurement only:
asyncpy with parts of the instrumentation left out, PARTS joined by `+`
from TransformOptions.ablate, or `statement` for the per-statement restore).
IN holds the module bytes as the loader
cleaned them; the worker writes OUT.json (the measurements) and, for a
transform, OUT.o2.wasm (the output after Binaryen's -O2).

Each transform gets a process of its own so that its peak memory can be read
from /proc (VmHWM, the high-water mark of the resident set) against the
resident set just before it starts, and so that a crash in libbinaryen is a
line in the table instead of the end of the run.

What the timed part covers, side by side:

* ours:   transform_loaded(...): read into Binaryen, detect features, analyse,
          instrument, validate in Binaryen, write, validate in wasmtime;
* theirs: read into Binaryen, set the same features, run the `asyncify` pass
          with optimize level 2 (its own local clean-up, as under `wasm-opt
          --asyncify -O2`), validate in Binaryen, write.

Then, untimed for the transform figure but reported: the output is read back
and Binaryen's -O2 pipeline (optimize 2, shrink 0) runs on it, the same for
both sides.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

# The scale rows (bench/big.py) change these through the environment.
IMPORTS = tuple(os.environ.get("ASYNCPY_BENCH_IMPORTS", "env.pause").split(","))
BINARYEN_OPTIMIZE = int(os.environ.get("ASYNCPY_BENCH_BINARYEN_O", "2"))
TRANSFORM_ONLY = os.environ.get("ASYNCPY_BENCH_TRANSFORM_ONLY") == "1"   # no -O2 after, no counting walk
STATE_GLOBAL = "__asyncify_state"


def cpu() -> float:
    """CPU seconds of this process (all its threads) and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def proc_status() -> dict[str, int]:
    """VmRSS / VmHWM of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def _profile(data: bytes, path: str) -> tuple[list[str], int]:
    """The functions on the stack at the pauses of one pausing run."""
    from asyncpy.profile import instrument_for_profile
    from bench.host import Program, make_engine

    wasm, rec = instrument_for_profile(data, IMPORTS, data_memory="default", name=path)
    prog = Program(make_engine(), wasm, Path(path).stem)
    prog.on_unwind = rec.unwind
    r = prog.run(True)
    if r.error or r.exit_code:
        raise RuntimeError(f"the profiling run failed: exit {r.exit_code} {r.error or ''}")
    return rec.profile.names(), r.pause_calls


def _ours(data: bytes, path: str, side: str = "ours") -> dict:
    from asyncpy import binaryen
    from asyncpy.options import AnalysisOptions, TransformOptions
    from asyncpy.pipeline import transform_loaded
    from asyncpy.wasm import Loaded

    loaded = Loaded(path=path, data=data, original_size=len(data))
    extra: dict = {}
    if side == "full-copy":   # the full analysis, --rewind-copy-top
        options = TransformOptions(analysis=AnalysisOptions(imports=IMPORTS), rewind_copy="top")
    elif side in ("profiled", "profiled-copy"):
        names, pauses = _profile(data, path)
        extra = {"profile_functions": len(names), "profile_pauses": pauses}
        from asyncpy.profile import list_entry
        listed = tuple(list_entry(n) for n in names)
        options = TransformOptions(analysis=AnalysisOptions(imports=IMPORTS, only_list=listed),
                                   asserts=True, rewind_copy="loops" if side == "profiled-copy" else "none")
    elif side.startswith("ablate:"):
        parts = frozenset(side[len("ablate:"):].split("+"))
        options = TransformOptions(analysis=AnalysisOptions(imports=IMPORTS), ablate=parts - {"statement"},
                                   restore="statement" if "statement" in parts else "prologue")
    else:
        options = TransformOptions(analysis=AnalysisOptions(imports=IMPORTS))
    before = proc_status()
    c0 = cpu()
    t0 = time.perf_counter()
    result = transform_loaded(loaded, options)
    seconds = time.perf_counter() - t0
    cpu_seconds = cpu() - c0
    after = proc_status()
    return {
        "seconds": seconds, "cpu_seconds": cpu_seconds,
        "rss_before": before["VmRSS"], "hwm_after": after["VmHWM"],
        # a forked helper (asyncpy.parallel) shares the parent's pages; its own peak, for the record
        "child_peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "wasm": result.wasm,
        "instrumented": len(result.report.instrumented),
        "defined": result.analysis.defined_count,
        "pause_sites": result.report.sites,
        "features": sorted(result.features),
        "feature_mask": binaryen.feature_mask(result.features),
        **extra,
    }


def _theirs(data: bytes, mask: int) -> dict:
    from asyncpy import binaryen
    from asyncpy.options import AnalysisOptions
    from tests.oracle import run_asyncify

    options = AnalysisOptions(imports=IMPORTS)
    before = proc_status()
    c0 = cpu()
    t0 = time.perf_counter()
    module = binaryen.Module.read(data)
    try:
        module.features = mask
        run_asyncify(module, options, optimize=BINARYEN_OPTIMIZE)
        if not module.validate():
            raise RuntimeError("Binaryen's asyncify output does not validate")
        wasm = module.write()
        seconds = time.perf_counter() - t0
        cpu_seconds = cpu() - c0
        after = proc_status()
        # untimed: which functions the pass instrumented (those that touch the
        # state global, besides the asyncify_* control functions it adds)
        instrumented = [] if TRANSFORM_ONLY else [
            n for n in module.functions_touching_global(STATE_GLOBAL) if not n.startswith("asyncify_")]
        defined = sum(1 for f in module.functions() if not f.imported and not f.name.startswith("asyncify_"))
    finally:
        module.dispose()
    return {
        "seconds": seconds, "cpu_seconds": cpu_seconds,
        "rss_before": before["VmRSS"], "hwm_after": after["VmHWM"],
        "wasm": wasm, "instrumented": None if TRANSFORM_ONLY else len(instrumented), "defined": defined,
        "optimize": BINARYEN_OPTIMIZE,
        "feature_mask": mask,
    }


def _features(data: bytes) -> dict:
    from asyncpy import binaryen
    from asyncpy.analysis import collect_facts

    with binaryen.Module.read(data) as m:
        names = collect_facts(m).features
    return {"features": sorted(names), "feature_mask": binaryen.feature_mask(names)}


def _optimize(wasm: bytes, mask: int) -> tuple[bytes, float]:
    from asyncpy import binaryen

    t0 = time.perf_counter()
    with binaryen.Module.read(wasm) as m:
        m.features = mask
        m.optimize(2, 0)
        out = m.write()
    return out, time.perf_counter() - t0


class _Done(Exception):
    pass


def main(argv: list[str]) -> int:
    side, src, out = argv[0], Path(argv[1]), Path(argv[2])
    mask = int(argv[3]) if len(argv) > 3 else None
    report: dict = {"side": side}
    try:
        data = src.read_bytes()
        if side == "features":
            report.update(_features(data))
        else:
            if side == "plain":   # no transform: the -O2 floor of the uninstrumented program
                r = {"seconds": 0.0, "rss_before": 0, "hwm_after": 0, "wasm": data, "feature_mask": mask}
            else:
                r = _theirs(data, mask) if side == "theirs" else _ours(data, str(src), side)
            wasm = r.pop("wasm")
            report.update(r)
            report["peak_bytes"] = max(0, r["hwm_after"] - r["rss_before"])
            report["raw_bytes"] = len(wasm)
            if TRANSFORM_ONLY:
                raise _Done
            o2, o2_seconds = _optimize(wasm, r["feature_mask"])
            report["o2_bytes"] = len(o2)
            report["o2_seconds"] = o2_seconds
            out.with_suffix(".o2.wasm").write_bytes(o2)
    except _Done:
        pass
    except Exception as e:  # reported in the table, never fatal to the run
        report["error"] = f"{type(e).__name__}: {e}".strip()
        report["traceback"] = traceback.format_exc(limit=6)
    out.with_suffix(".json").write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
