"""Work on two cores (asyncpy.parallel) gives the same result as one.

The split only happens in a process that has not started Binaryen's thread
pool (a forked child would wait forever for its threads), so each case runs
in a fresh interpreter, with the thresholds lowered so that small corpus
programs split too; its outputs are then run here on the pausing host at
every pause point and compared with the original's run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asyncpy.binaryen import native
from tests import pausehost as H
from tests.test_transform import C_HOST, Case, mismatch

ROOT = Path(__file__).resolve().parent.parent
SPLITS = 1 if native.available() else 2

SCRIPT = r"""
import json, sys
from asyncpy import binaryen as B, parallel
from asyncpy.options import AnalysisOptions
from asyncpy.wasm import load
from asyncpy.pipeline import transform_loaded
from asyncpy.options import TransformOptions
src, out, mode = sys.argv[1:4]
assert B.fork_safe()
parallel.MIN_ITEMS = parallel.MIN_FUNCTIONS = 1
if mode == "child-fails":
    def broken(module, keep):
        raise RuntimeError("child cannot hand its functions back")
    B.functions_binary = broken
r = transform_loaded(load(src), TransformOptions(analysis=AnalysisOptions(imports=("env.pause",))))
open(out, "wb").write(r.wasm)
json.dump({"stats": [[f.name, f.sites, f.saved_locals, f.frame_bytes] for f in r.report.instrumented],
           "parallel": parallel.stats, "fork_safe_after": B.fork_safe()}, sys.stdout)
"""


def sampled_points(case: Case, wasm: bytes, label: str) -> list[str]:
    """Mismatches pausing at a spread of single calls, and at all of them
    (as tests/test_transform.py does for the C programs)."""
    n = case.baseline.calls
    points = sorted({*range(min(n, 4)), *range(0, n, max(1, n // 6)), n - 1})
    return [m for p in [{k} for k in points] + [H.ALL] if (m := mismatch(case, wasm, p, label))]


def transform_in_child(src: Path, out: Path, mode: str, jobs: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), ASYNCPY_JOBS=str(jobs))
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(src), str(out), mode], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


@pytest.mark.parametrize("name", ["fnptr", "qsort"])
def test_two_processes_instrument_like_one(name, tmp_path):
    from corpus import build
    src = build.c(name)
    one = transform_in_child(src, tmp_path / "one.wasm", "normal", jobs=1)
    two = transform_in_child(src, tmp_path / "two.wasm", "normal", jobs=2)
    assert one["parallel"]["splits"] == 0
    # The facts split too, unless the native walker scans them (in C, one
    # process is faster than a fork); then the instrumentation.
    assert two["parallel"] == {"splits": SPLITS, "child_failures": 0}
    assert two["stats"] == one["stats"] and one["stats"]
    assert not two["fork_safe_after"]  # validation and writing started the pool
    original = src.read_bytes()
    wasm = (tmp_path / "two.wasm").read_bytes()
    case = Case(original, wasm, b"", None, H.run(original, **C_HOST), C_HOST)
    assert sampled_points(case, wasm, "two processes") == []


def test_a_failed_child_costs_time_not_correctness(tmp_path):
    from corpus import build
    src = build.c("fnptr")
    one = transform_in_child(src, tmp_path / "one.wasm", "normal", jobs=1)
    r = transform_in_child(src, tmp_path / "two.wasm", "child-fails", jobs=2)
    assert r["parallel"] == {"splits": SPLITS, "child_failures": 1}
    assert r["stats"] == one["stats"]
    original = src.read_bytes()
    wasm = (tmp_path / "two.wasm").read_bytes()
    case = Case(original, wasm, b"", None, H.run(original, **C_HOST), C_HOST)
    assert sampled_points(case, wasm, "after a failed child") == []


def test_a_childs_binary_holds_only_its_own_bodies():
    """What a child hands back (functions_binary) carries the bodies of its
    functions only; the others are `unreachable`, and imports stay imports."""
    from asyncpy import binaryen as B
    from asyncpy.binaryen.module import functions_binary

    wat = """(module (import "env" "f" (func $imp (result i32)))
      (func $mine (result i32) (i32.add (call $imp) (i32.const 1)))
      (func $theirs (result i32) (i32.mul (call $imp) (i32.const 2))))"""
    with B.Module.parse_text(wat) as m:
        data = functions_binary(m, ["mine"])
    with B.Module.read(data) as back:
        text = back.text()
    assert "i32.add" in text and "i32.mul" not in text
    assert '(import "env" "f"' in text
