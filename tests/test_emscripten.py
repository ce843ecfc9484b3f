"""Emscripten (Debian's 3.1.6) links -sASYNCIFY programs with
asyncpy-wasm-opt as its only wasm-opt; each program must print under node
exactly what the same program linked with Debian's Binaryen prints.

The cases (tests/emscripten_builds.py) are built once per session, in
parallel, ours and Binaryen's side by side."""

from __future__ import annotations

import re

import pytest

from asyncpy.wasm import sections
from tests import emscripten_builds as E

pytestmark = pytest.mark.skipif(not E.emcc_available(),
                                reason="emcc (Debian's emscripten package) or node is not installed; "
                                       ".ci/run installs them")
pytestmark = [pytestmark, pytest.mark.slow, pytest.mark.emscripten]   # emcc builds: ~80 s here


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("emcc")
    return root, E.build_all(root=root)


@pytest.mark.parametrize("case", [c.id for c in E.CASES])
def test_program_output_equals_binaryens(case, builds):
    _, results = builds
    ours, theirs = results[case]
    assert theirs.ok, f"the Binaryen build itself failed: {theirs.error}"
    assert ours.ok, ours.error
    assert ours.stdout == theirs.stdout and ours.stdout.strip()
    # ours really ran, with --asyncify on its command line
    assert any("--asyncify" in call for call in ours.wasm_opt_calls), ours.wasm_opt_calls


@pytest.mark.parametrize("case", ["O2", "O3", "Oz", "EM_ASYNC_JS", "exceptions", "embind-await"])
def test_optimised_builds_are_not_larger(case, builds):
    ours, theirs = builds[1][case]
    assert ours.ok and theirs.ok
    assert ours.wasm_bytes <= theirs.wasm_bytes


def test_advise_prints_binaryens_lines(builds):
    ours, theirs = builds[1]["advise"]
    pattern = re.compile(r"^\[asyncify\] (\S+) can change the state", re.MULTILINE)
    ours_names, their_names = set(pattern.findall(ours.link_stdout)), set(pattern.findall(theirs.link_stdout))
    assert {"main", "nap", "deep"} <= ours_names
    # Narrowed indirect calls instrument less than Binaryen, never more.
    assert ours_names <= their_names
    assert "[asyncify] emscripten_sleep is an import that can change the state" in ours.link_stdout
    assert re.search(r"^\[asyncpy\] nap pauses: nap calls emscripten_sleep", ours.link_stdout, re.MULTILINE)


def test_side_module_keeps_dylink_first(builds):
    root, results = builds
    assert results["main+side"][0].ok
    side = (root / "main+side-ours" / "side.wasm").read_bytes()
    first = next(sections(side))
    assert first[0] == 0 and side[first[3] + 1:first[3] + 1 + side[first[3]]] == b"dylink.0"
