"""The native walker (asyncpy/binaryen/native) against the Python walk it
replaces, which stays as the reference and the fallback.

For every function of the corpus programs and the WAT test programs: the
same sites, numbered the same, the same liveness at every site and before
every pausing child of a block, the same read/write sets, and the same
call-graph facts from the scan. Then whole transforms: byte-identical
outputs with and without it, including a body nested too deep for the C
recursion (which falls back to Python for that function)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asyncpy import binaryen as B
from asyncpy.analysis import analyze, collect_facts
from asyncpy.binaryen import native
from asyncpy.binaryen.library import _ffi, _lib
from asyncpy.binaryen.scan import scan_body_python
from asyncpy.options import AnalysisOptions
from asyncpy.transform.liveness import live_across_sites, local_mask
from asyncpy.transform.sites import _site_predicate, marked_site, number_sites
from tests.pause_programs import PROGRAMS

ROOT = Path(__file__).resolve().parent.parent

needs_native = pytest.mark.skipif(not native.available(), reason=f"native walker: {native.failure()}")


def test_the_native_walker_builds():
    """ziglang is a dependency: without the walker every big transform
    silently takes the slow path, so its absence is a failure here."""
    assert native.available(), native.failure()


def _addr(ref) -> int:
    return int(_ffi.cast("uintptr_t", ref))


def _python_view(fref, is_site):
    """The Python walk's results, keyed by expression address."""
    order: list = []
    root = B.read_tree(fref, order)
    nsites = number_sites(order, is_site, "f")
    if not nsites:
        return nsites, {}, {}, {}, {}
    site_live, live_in = live_across_sites(root, len(order), marked_site)
    spans = {_addr(n.ref): (n.lo, n.hi, n.site) for n in order if n.hi >= n.lo}
    by_id = {id(n): _addr(n.ref) for n in order}
    masks = {_addr(n.ref): (local_mask(n, B.Kind.LocalGet), local_mask(n, B.Kind.LocalSet)) for n in order}
    return (nsites, {k: v for k, v in site_live.items() if v}, {by_id[k]: v for k, v in live_in.items()},
            spans, masks)


def _native_view(walker, fref, nlocals):
    sp = walker.spine(fref, nlocals, "f")
    if sp.root is None:
        return sp.nsites, {}, {}, {}, {}
    nodes, stack = [], [sp.root]
    while stack:
        n = stack.pop()
        nodes.append(n)
        stack.extend(n.kids)
    spans = {_addr(n.ref): (n.lo, n.hi, n.site) for n in nodes if n.hi >= n.lo}
    by_id = {id(n): _addr(n.ref) for n in nodes}
    return (sp.nsites, sp.site_live, {by_id[k]: v for k, v in sp.live_in.items()}, spans,
            {_addr(n.ref): sp.touched(n) for n in nodes})


def _compare_module(wasm: bytes, imports: tuple[str, ...] | None) -> int:
    """Asserts both walks agree on every defined function; returns how many
    functions had sites."""
    with B.Module.read(wasm) as m:
        m.features = B.FEATURES_ALL
        analysis = analyze(collect_facts(m), AnalysisOptions(imports=imports))
        is_site = _site_predicate(analysis)
        walker = native.Walker(m, analysis.reasons, is_site)
        with_sites = 0
        for info in m.functions():
            if info.imported:
                continue
            fref = m.function_ref(info.name)
            body = _lib.BinaryenFunctionGetBody(fref)
            assert native.scan(body) == scan_body_python(body), info.name
            params, vars_ = B.function_locals(fref)
            py = _python_view(fref, is_site)
            nat = _native_view(walker, fref, len(params) + len(vars_))
            assert nat[0] == py[0], f"{info.name}: site count"
            assert nat[1] == py[1], f"{info.name}: locals live after each site"
            assert nat[2] == py[2], f"{info.name}: locals live before pausing children"
            assert nat[3] == py[3], f"{info.name}: site ranges"
            for addr, sets in nat[4].items():
                assert sets == py[4][addr], f"{info.name}: locals read/written below a node"
            with_sites += py[0] > 0
        return with_sites


@needs_native
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_wat_programs_walk_the_same(name):
    from tests.test_transform import wat_case
    case = wat_case(name)
    _compare_module(case.original, None)


@needs_native
@pytest.mark.parametrize("name", ["fnptr", "qsort", "recursion", "pingpong"])
def test_c_programs_walk_the_same(name):
    from corpus import build
    assert _compare_module(build.c(name).read_bytes(), ("env.pause",)) > 0


@needs_native
@pytest.mark.slow
@pytest.mark.parametrize("name", ["lua", "quickjs"])
def test_interpreters_walk_the_same(name):
    from corpus import build
    assert _compare_module(build.build(name).read_bytes(), ("env.pause",)) > 0


SCRIPT = r"""
import sys
from asyncpy.binaryen import native
from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.pipeline import transform_file
src, out, imports = sys.argv[1:4]
expected = sys.argv[4] == "native"
assert native.available() == expected, native.failure()
r = transform_file(src, TransformOptions(analysis=AnalysisOptions(imports=tuple(imports.split(",")))))
open(out, "wb").write(r.wasm)
"""


def _transform(src: Path, out: Path, imports: str, use_native: bool) -> bytes:
    env = dict(os.environ, PYTHONPATH=str(ROOT), ASYNCPY_NATIVE="1" if use_native else "0")
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(src), str(out), imports,
                        "native" if use_native else "python"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return out.read_bytes()


@needs_native
@pytest.mark.parametrize("name", ["qsort", "fnptr"])
def test_transform_output_is_the_same_without_it(name, tmp_path):
    from corpus import build
    src = build.c(name)
    a = _transform(src, tmp_path / "native.wasm", "env.pause", True)
    b = _transform(src, tmp_path / "python.wasm", "env.pause", False)
    assert a == b


def _deep_module(depth: int) -> bytes:
    """A function whose pausing call sits under `depth` nested blocks, each
    followed by a local.set: deeper than the C walker recurses. Built
    through the builder (a text parser would recurse as deep)."""
    with B.Module.parse_text('(module (import "env" "pause" (func $pause)) (memory 1))') as m:
        b = B.Builder(m)
        x = lambda: b.local_get(0, B.I32)
        body = b.block(None, [b.call("pause", [], B.NONE),
                              b.local_set(0, b.binary(B.Op.add32, x(), b.i32(1)))], B.NONE)
        for i in range(depth):
            body = b.block(f"b{i}", [body, b.local_set(0, b.binary(B.Op.add32, x(), x()))], B.NONE)
        B.add_function(m, "f", [], [B.I32], [B.I32], b.block(None, [body, x()], B.I32))
        B.add_function_export(m, "f", "f")
        return m.write()


@needs_native
def test_too_deep_for_c_falls_back_to_python(tmp_path):
    src = tmp_path / "deep.wasm"
    src.write_bytes(_deep_module(native.MAX_DEPTH + 50))
    a = _transform(src, tmp_path / "native.wasm", "env.pause", True)
    b = _transform(src, tmp_path / "python.wasm", "env.pause", False)
    assert a == b
    with B.Module.read(src.read_bytes()) as m:
        analysis = analyze(collect_facts(m), AnalysisOptions(imports=("env.pause",)))
        walker = native.Walker(m, analysis.reasons, _site_predicate(analysis))
        with pytest.raises(native.TooDeep):
            walker.spine(m.function_ref("f"), 1, "f")
