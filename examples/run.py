"""Build, transform and run an example reactor.

    python examples/run.py examples/ticker.c advance:3 advance:5 peek

1. builds the C file with ziglang (`-mexec-model=reactor`, cached in
   examples/build/ by content),
2. `asyncpy transform --reactor --ignore-imports` (links the bundled
   runtime, wraps every export, instruments what can reach a task switch),
3. instantiates it in wasmtime with WASI (stdout inherited), calls
   `_initialize`, then each `export:arg,arg` given, printing the results.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import wasmtime

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"


def build(src: Path, reactor: bool = True) -> Path:
    BUILD.mkdir(exist_ok=True)
    flags = ["--target=wasm32-wasi", "-O2", "-s", f"-I{HERE}"] + (["-mexec-model=reactor"] if reactor else [])
    key = hashlib.sha256(src.read_bytes() + (HERE / "asyncpy.h").read_bytes() + " ".join(flags).encode())
    out = BUILD / f"{src.stem}-{key.hexdigest()[:12]}.wasm"
    if not out.exists():
        subprocess.run([sys.executable, "-m", "ziglang", "cc", *flags, str(src), "-o", str(out)], check=True)
    return out


def transform(wasm: Path, *extra: str) -> Path:
    out = wasm.with_suffix(".async.wasm")
    subprocess.run([sys.executable, "-m", "asyncpy.cli", "transform", str(wasm), "--reactor",
                    "--ignore-imports", "-q", "-o", str(out), *extra], check=True)
    return out


def instantiate(wasm: Path):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    cfg = wasmtime.WasiConfig()
    cfg.inherit_stdout()
    cfg.inherit_stderr()
    store.set_wasi(cfg)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    inst = linker.instantiate(store, wasmtime.Module.from_file(engine, str(wasm)))
    ex = inst.exports(store)
    if "_initialize" in ex:
        ex["_initialize"](store)
    return store, ex


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    src, calls = Path(argv[0]), argv[1:]
    wasm = transform(build(src))
    store, ex = instantiate(wasm)
    for call in calls:
        name, _, args = call.partition(":")
        values = [int(a) for a in args.split(",") if a]
        result = ex[name](store, *values)
        print(f"{name}({', '.join(map(str, values))}) = {result}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
