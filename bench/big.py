"""The scale rows of the bench (`python -m bench --big`): modules big enough
that the transform's own cost shows, measured side by side like every row
but transform only (no -O2 after, no runs: compiling 46 MB three times in
wasmtime would take longer than the transforms; the differential tests
check outputs).

| name | what | pausing imports |
| --- | --- | --- |
| `big/cue` | CUE's command line (Go, wasip1), 46 MB, prebuilt (the Go module proxy is not reachable here) | `poll_oneoff`, where a Go program sleeps |
| `go/stdlib` | corpus/go/stdlib: go/types, net/http, encoding/*, templates... about 25 MB | `env.pause` and `poll_oneoff` |
| `synthetic/locals` | bench/synthetic.py: 8,000 functions, 80,000 locals, 12 functions with 5,000+ | `env.pause` |

Binaryen runs at optimize level 2 as in every row, except on the synthetic
module: on a module of this shape its pass took 370 s and 14 GB at level 2
(issue 12's own measurement; Binaryen issue #8927 is the same shape), which
a shared machine cannot spare, so it runs at level 0 (5 s there) and the
JSON row says so (`binaryen_optimize`). Not re-measured at level 2 here.

CUE is unpacked from `cue.wasm.xz`, found through `$ASYNCPY_CUE_XZ` or in
`shared/corpus/` beside or above the repository, into the corpus cache
(`~/.cache/asyncpy/corpus`); it is never part of the repository.
"""  # noqa: E501 - a markdown table: its rows cannot wrap

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLL = "wasi_snapshot_preview1.poll_oneoff"
# Binaryen's pass on CUE takes minutes on a quiet machine, many more on a busy one.
WORKER_TIMEOUT = 3600


@dataclass(frozen=True)
class BigProgram:
    build: object                  # () -> Path
    imports: tuple[str, ...]
    binaryen_optimize: int = 2

    def worker_env(self) -> dict[str, str]:
        return {"ASYNCPY_BENCH_IMPORTS": ",".join(self.imports),
                "ASYNCPY_BENCH_BINARYEN_O": str(self.binaryen_optimize),
                "ASYNCPY_BENCH_TRANSFORM_ONLY": "1"}


def cue_archive() -> Path:
    env = os.environ.get("ASYNCPY_CUE_XZ")
    candidates = [Path(env)] if env else []
    for up in (ROOT.parent, ROOT.parent.parent, ROOT.parent.parent.parent):
        candidates.append(up / "shared" / "corpus" / "cue.wasm.xz")
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError("cue.wasm.xz not found (set ASYNCPY_CUE_XZ)")


def cue() -> Path:
    from corpus.build import cache_dir

    archive = cue_archive()
    key = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    out = cache_dir() / f"cue-{key}.wasm"
    if not out.exists():
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        with lzma.open(archive) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, out)
    return out


def go_stdlib() -> Path:
    from corpus.build import go

    return go("stdlib")


def synthetic() -> Path:
    from bench.synthetic import build

    return build()


PROGRAMS = {
    "synthetic/locals": BigProgram(synthetic, ("env.pause",), binaryen_optimize=0),
    "go/stdlib": BigProgram(go_stdlib, ("env.pause", POLL)),
    "big/cue": BigProgram(cue, (POLL,)),
}
