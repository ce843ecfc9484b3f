"""Cost of one task switch (pause + resume, a few frames deep) in wasmtime.

    python examples/switch_cost.py [N]

Uses tests/runtime_prog.wat: one background worker that pauses 4 frames
deep (worker -> deep -> deep -> deep -> yield), and the export `run(N)`,
whose task yields N times. Each of its yields is two switches: to the
worker (rewind 5 frames, run, unwind them) and back (unwind/rewind the
export's 2 frames). Reports the time per switch, best of 5.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import wasmtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asyncpy.link import LinkOptions  # noqa: E402
from asyncpy.options import OPT_LEVELS, AnalysisOptions, TransformOptions  # noqa: E402
from asyncpy.pipeline import transform_loaded  # noqa: E402
from asyncpy.wasm import load  # noqa: E402


def main(n: int = 200_000) -> None:
    prog = ROOT / "tests" / "runtime_prog.wat"
    for level in ("O0", "O2"):
        options = TransformOptions(analysis=AnalysisOptions(imports=("env.hostsleep",)))
        r = transform_loaded(load(prog), options,
                             runtime=LinkOptions(wrap=("spawn", "run"), block_size=4096),
                             optimize=OPT_LEVELS[level])
        store = wasmtime.Store()
        module = wasmtime.Module(store.engine, r.wasm)
        i32 = wasmtime.ValType.i32()
        imports = [wasmtime.Func(store, wasmtime.FuncType([i32], [i32]), lambda x: x) for _ in module.imports]
        ex = wasmtime.Instance(store, module, imports).exports(store)
        ex["spawn"](store, 1, 1)
        ex["run"](store, 1000)                      # warm up
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            ex["run"](store, n)
            best = min(best, time.perf_counter() - t0)
        print(f"-{level}: {best / (2 * n) * 1e9:.0f} ns per switch ({2 * n} switches in {best * 1e3:.1f} ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
