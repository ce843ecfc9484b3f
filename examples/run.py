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

from asyncpy.wasm.engine import engine as asyncpy_engine

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"


class UsageError(Exception):
    """An ordinary mistake on the command line: one line, exit status 1."""


def build(src: Path, reactor: bool = True) -> Path:
    if not src.is_file():
        raise UsageError(f"{src}: no such file (the examples are examples/*.c)")
    if src.suffix != ".c":
        raise UsageError(f"{src}: expected a C source file (.c)")
    BUILD.mkdir(exist_ok=True)
    flags = ["--target=wasm32-wasi", "-O2", "-s", f"-I{HERE}"] + (["-mexec-model=reactor"] if reactor else [])
    key = hashlib.sha256(src.read_bytes() + (HERE / "asyncpy.h").read_bytes() + " ".join(flags).encode())
    out = BUILD / f"{src.stem}-{key.hexdigest()[:12]}.wasm"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        r = subprocess.run([sys.executable, "-m", "ziglang", "cc", *flags, str(src), "-o", str(tmp)])
        if r.returncode != 0:       # the compiler has printed its diagnostics
            tmp.unlink(missing_ok=True)
            raise UsageError(f"{src}: the C compiler failed (exit status {r.returncode})")
        tmp.replace(out)
    return out


def transform(wasm: Path, *extra: str) -> Path:
    out = wasm.with_suffix(".async.wasm")
    r = subprocess.run([sys.executable, "-m", "asyncpy.cli", "transform", str(wasm), "--reactor",
                        "--ignore-imports", "-q", "-o", str(out), *extra])
    if r.returncode != 0:           # asyncpy has printed its one error line
        raise UsageError(f"asyncpy transform {wasm.name} failed (exit status {r.returncode})")
    return out


def instantiate(wasm: Path):
    engine = asyncpy_engine()
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


def parse_call(call: str) -> tuple[str, list[int]]:
    name, _, args = call.partition(":")
    try:
        return name, [int(a) for a in args.split(",") if a]
    except ValueError:
        raise UsageError(f"{call}: arguments must be integers, as in {name}:1,2") from None


def call_export(store, ex, call: str):
    name, values = parse_call(call)
    funcs = sorted(n for n in ex if isinstance(ex[n], wasmtime.Func) and not n.startswith(("asyncify_", "_")))
    func = ex[name] if name in ex else None
    if not isinstance(func, wasmtime.Func):
        raise UsageError(f"{call}: the module has no exported function {name!r} "
                         f"(it exports: {', '.join(funcs) or 'none'})")
    params = [str(t) for t in func.type(store).params]
    if len(values) != len(params):
        example = f"{name}:" + ",".join(str(i + 1) for i in range(len(params))) if params else name
        raise UsageError(f"{call}: {name} takes {len(params)} argument{'s' * (len(params) != 1)} "
                         f"({', '.join(params) or 'none'}), got {len(values)}; e.g. {example}")
    try:
        return name, values, func(store, *values)
    except wasmtime.Trap as e:
        raise UsageError(f"{call}: trap: {str(e).splitlines()[0]}") from None


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        sys.exit(__doc__)
    src, calls = Path(argv[0]), argv[1:]
    for call in calls:
        parse_call(call)            # a typo fails before the build, not after it
    wasm = transform(build(src))
    store, ex = instantiate(wasm)
    for call in calls:
        name, values, result = call_export(store, ex, call)
        print(f"{name}({', '.join(map(str, values))}) = {result}", flush=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UsageError as e:
        sys.exit(f"run.py: error: {e}")
    except KeyboardInterrupt:
        sys.exit(130)
