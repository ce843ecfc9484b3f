"""Helpers shared by the tests (the fixtures in conftest.py wrap these)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import wasmtime

from asyncpy.analysis import Analysis, analyze, collect_facts
from asyncpy.cache import cache_dir
from asyncpy.options import AnalysisOptions
from asyncpy.pipeline import read_module
from asyncpy.wasm import load_bytes

ROOT = Path(__file__).resolve().parent.parent


def wat2wasm(text: str) -> bytes:
    """WAT text to a wasm binary (bytes, not wasmtime's bytearray)."""
    return bytes(wasmtime.wat2wasm(text))


def analyze_bytes(data: bytes, options: AnalysisOptions | None = None, **kw) -> Analysis:
    """Run asyncpy's analysis on a binary, the way the CLI does."""
    options = options or AnalysisOptions(**kw)
    loaded = load_bytes(data, "<test>", isolate=False)
    with read_module(loaded) as m:
        return analyze(collect_facts(m), options)


def analyze_wat(text: str, options: AnalysisOptions | None = None, **kw) -> Analysis:
    return analyze_bytes(wat2wasm(text), options, **kw)


def defined_functions(a: Analysis) -> list[str]:
    return [n for n, f in a.facts.functions.items() if not f.imported]


def run_cli(*args, cwd=None, input=None) -> subprocess.CompletedProcess:
    """Run `asyncpy` in a child process (proves no abort / traceback)."""
    return subprocess.run([sys.executable, "-m", "asyncpy.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, input=input)


# --------------------------------------------------------------------------
# Real programs. corpus/ is written by another engineer; fall back to an
# inline build when its sources are not there yet.

GO_HELLO = """package main

import (
\t"fmt"
\t"sync"
\t"time"
)

func worker(id int, wg *sync.WaitGroup, out chan<- string) {
\tdefer wg.Done()
\ttime.Sleep(time.Duration(id) * time.Millisecond)
\tout <- fmt.Sprintf("worker %d done", id)
}

func main() {
\tvar wg sync.WaitGroup
\tout := make(chan string, 3)
\tfor i := 1; i <= 3; i++ {
\t\twg.Add(1)
\t\tgo worker(i, &wg, out)
\t}
\twg.Wait()
\tclose(out)
\tfor s := range out {
\t\tfmt.Println(s)
\t}
\tfmt.Println("hello from Go")
}
"""


def _cache() -> Path:
    d = cache_dir("tests")
    d.mkdir(parents=True, exist_ok=True)
    return d


def go_hello() -> Path:
    """The Go hello-world program (GOOS=wasip1), from corpus when available."""
    corpus_src = ROOT / "corpus" / "go" / "hello"
    if any(corpus_src.glob("*.go")):
        from corpus import build
        return build.go("hello")
    out = _cache() / "go-hello.wasm"
    if out.exists():
        return out
    from corpus.build import go_binary  # just the toolchain locator
    src = Path(tempfile.mkdtemp(dir=_cache()))
    (src / "main.go").write_text(GO_HELLO)
    (src / "go.mod").write_text("module hello\n\ngo 1.24\n")
    env = dict(os.environ, GOOS="wasip1", GOARCH="wasm", GOTOOLCHAIN="local",
               GOCACHE=str(_cache() / "gocache"), GOPATH=str(_cache() / "gopath"),
               CGO_ENABLED="0", GOPROXY="off")
    tmp = out.with_suffix(".tmp")
    subprocess.run([go_binary(), "build", "-trimpath", "-o", str(tmp), "."], cwd=src, env=env,
                   check=True, capture_output=True)
    os.replace(tmp, out)
    return out


def c_fnptr() -> Path:
    from corpus import build
    return build.c("fnptr")
