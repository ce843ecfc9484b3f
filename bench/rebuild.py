"""The rebuild cache, measured: `python -m bench.rebuild [MODULE] [--imports I,J]`.

A developer's loop changes one function and builds again. This makes two
builds of MODULE (default: CUE, as `python -m bench --big` unpacks it)
that differ in one constant of one function, both written by Binaryen from
the same IR so that nothing else moves, and times, each in this process
with the cache in a temporary directory:

* a plain transform of the edited build (no cache);
* a first incremental build of the original (`--incremental`, empty cache);
* the incremental rebuild of the edited build (the cache of the first).

It checks that the rebuild's output is the plain transform's, byte for
byte, and prints one line per step (`--json PATH` writes them).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def two_builds(data: bytes) -> tuple[bytes, bytes, str]:
    """(original, edited, the function edited): both written by Binaryen."""
    from asyncpy import binaryen as B
    from asyncpy.analysis import collect_facts

    out, edited_name = [], ""
    for edit in (False, True):
        m = B.Module.read(data)
        try:
            m.features = B.feature_mask(collect_facts(m).features)
            if edit:
                infos = [f for f in m.functions() if not f.imported]
                # A function a third of the way in: the edit lands in one chunk of several.
                for info in infos[len(infos) // 3:]:
                    if B.bump_i32_const(m.function_ref(info.name)):
                        edited_name = info.name
                        break
            out.append(m.write())
        finally:
            m.dispose()
    return out[0], out[1], edited_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", nargs="?", help="a .wasm (default: CUE)")
    ap.add_argument("--imports", default="wasi_snapshot_preview1.poll_oneoff")
    ap.add_argument("--json", help="where to write the figures")
    args = ap.parse_args()
    if args.module:
        data = Path(args.module).read_bytes()
    else:
        from bench.big import cue
        data = cue().read_bytes()

    from asyncpy.options import AnalysisOptions, TransformOptions
    from asyncpy.pipeline import transform_loaded
    from asyncpy.rebuild import RebuildCache
    from asyncpy.wasm import load_bytes

    original, edited, name = two_builds(data)
    print(f"edited one i32.const in {name}")
    options = TransformOptions(analysis=AnalysisOptions(imports=tuple(args.imports.split(","))))
    rows = {}

    def step(label, wasm, cache=None):
        loaded = load_bytes(wasm)
        t = time.perf_counter()
        r = transform_loaded(loaded, options, cache=cache)
        rows[label] = {"seconds": round(time.perf_counter() - t, 2), "chunks": r.report.chunks,
                       "chunks_reused": r.report.chunks_reused}
        print(f"{label}: {rows[label]['seconds']} s, {r.report.chunks} chunks, "
              f"{r.report.chunks_reused} reused")
        return r.wasm

    with tempfile.TemporaryDirectory() as tmp:
        plain = step("plain transform of the edited build", edited)
        cache = RebuildCache(Path(tmp))
        step("first incremental build", original, cache)
        rebuilt = step("incremental rebuild after the edit", edited, cache)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    if rebuilt != plain:
        raise SystemExit("the rebuild's output differs from the plain transform's")
    ratio = rows["incremental rebuild after the edit"]["seconds"] / \
        rows["plain transform of the edited build"]["seconds"]
    print(f"rebuild / plain: {ratio:.2f}x; same output bytes; cache {size >> 20} MB "
          f"(machine: {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"edited": name, "rows": rows, "cache_bytes": size}, indent=2))


if __name__ == "__main__":
    main()
