"""Bad input, faults and fuzzing (issue 7): never abort, never emit a
broken module. Small budgets here (about 30 s in all); the longer run is
`python -m tests.fuzz --cases 5000` (see tests/fuzz.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncpy.errors import AsyncpyError
from asyncpy.wasm import clean_name_section, clean_target_features, load_bytes, strip_custom_sections
from tests import fuzz
from tests.support import ROOT, run_cli, wat2wasm

SLEEPY = """(module
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func $main (export "main") (result i32) (local $x i32)
    (local.set $x (call $sleep (i32.const 1)))
    (global.set $g (local.get $x))
    (local.get $x))
  (func $other (export "other") (result i32) (call $main)))"""

# A function of SLEEPY is 1 (main) or 2 (other); index 0 is the import.


def names(*subsections: tuple[int, bytes]) -> bytes:
    payload = b"".join(bytes([sid]) + fuzz.uleb(len(body)) + body for sid, body in subsections)
    return fuzz.custom_section(b"name", payload)


def name_map(*pairs: tuple[int, bytes]) -> bytes:
    return fuzz.uleb(len(pairs)) + b"".join(fuzz.uleb(i) + fuzz.uleb(len(n)) + n for i, n in pairs)


def unnamed(text: str) -> bytes:
    """The module without its name section (so the test adds its own)."""
    data = wat2wasm(text)
    return data[:8] + b"".join(data[s:e] for sid, s, e, p in fuzz.sections(data)
                               if not (sid == 0 and data[p:p + 5] == b"\x04name"))


# --------------------------------------------------------------------------
# Inputs that made libbinaryen abort the process (found by the fuzzer).
# Each ran `transform` to Fatal() before the loader rebuilt the name section.

ABORTS = {
    # Module::addFunction: asyncify_start_unwind already exists
    "function-named-like-a-control-export": (names((1, name_map((1, b"asyncify_start_unwind")))), "default"),
    "function-named-asyncify_get_state": (names((1, name_map((2, b"asyncify_get_state")))), "default"),
    # the text round trip of --data-memory separate: "error in parsing wasm text"
    "empty-function-name": (names((1, name_map((1, b""))),), "separate"),
    "cjk-function-name": (names((1, name_map((1, "\u65e5\u672c".encode())))), "separate"),
    "c1-control-in-function-name": (names((1, name_map((1, b"\x85")))), "separate"),
    "digits-as-type-name": (names((4, name_map((0, b"0")))), "separate"),
    "empty-global-name": (names((7, name_map((0, b"")))), "separate"),
    "module-name-with-space": (names((0, fuzz.uleb(3) + b"a b")), "separate"),
    # SIGABRT
    "memory-named-asyncify_memory": (names((6, name_map((0, b"asyncify_memory")))), "separate"),
    "invalid-utf8-memory-name": (names((6, name_map((0, b"\x80")))), "separate"),
    # not an abort, but a broken module ("internal error ... does not validate")
    "digits-as-local-name": (names((2, fuzz.uleb(1) + fuzz.uleb(1) + name_map((0, b"1")))), "separate"),
}


def test_former_aborts_in_a_child():
    """All of ABORTS through the Python API, in one child process: it must
    live to print a result for every case."""
    code = textwrap.dedent("""
        import sys
        from tests.fuzz import check_api
        from tests.test_fuzz import ABORTS, SLEEPY, unnamed
        from asyncpy.options import TransformOptions
        base = unnamed(SLEEPY)
        for name, (section, mode) in ABORTS.items():
            out = check_api(base + section, TransformOptions(data_memory=mode))
            print(name, out.kind, flush=True)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    got = dict(line.split() for line in r.stdout.splitlines())
    assert got == {name: "ok" for name in ABORTS}


@pytest.mark.parametrize("case", ["function-named-like-a-control-export", "cjk-function-name"])
def test_former_aborts_cli(case, tmp_path):
    section, mode = ABORTS[case]
    out = fuzz.check_cli(unnamed(SLEEPY) + section, tmp_path, ["--data-memory", mode])
    assert out.kind == "ok"


def test_safe_names_are_kept():
    data = unnamed(SLEEPY) + names((1, name_map((1, b"main"), (2, b"other.thing"))),
                                   (7, name_map((0, b"__stack_pointer"))))
    assert strip_custom_sections(data) == data
    from asyncpy.pipeline import analyze_file  # noqa: F401  (same path as the CLI)
    from tests.support import analyze_bytes
    a = analyze_bytes(data)
    assert {"main", "other.thing"} <= set(a.facts.functions)


@pytest.mark.parametrize("raw, kept", [
    (b"main", True), (b"a b(c)", True), (b"$x", True), (b"_Z3fooi", True),
    (b"", False), (b"0", False), (b"123", False), (b"\x00", False), (b"a\nb", False),
    ("\u00e9".encode(), False), (b"\xff", False), (b"asyncify_start_unwind", False),
])
def test_function_names_cleaned(raw, kept):
    def sub(m):
        return bytes([1]) + fuzz.uleb(len(m)) + m
    expected = sub(name_map((1, raw))) if kept else sub(name_map())
    assert clean_name_section(sub(name_map((1, raw)))) == expected


def test_malformed_name_section_dropped():
    assert clean_name_section(b"\x01\x05\x01\x00\x09ab") is None          # name runs past its subsection
    assert clean_name_section(b"\x01\x03\x02\x01\x00") is None            # count says 2, one entry
    assert clean_name_section(b"\x01\x07\x02\x02\x01a\x01\x01b") is None  # indices out of order
    assert clean_name_section(b"\x01\x01\x00\x01\x01\x00") is None        # subsections repeated
    assert clean_name_section(b"\x0c\x02\xff\xff") == b""                 # unknown subsection: left out
    data = unnamed(SLEEPY)
    assert strip_custom_sections(data + fuzz.custom_section(b"name", b"\x01\x05\x01")) == data


def test_target_features_cleaned():
    good = b"\x02+\x08sign-ext-\x04simd"
    assert clean_target_features(good) == good
    assert clean_target_features(b"\x01?\x03gc") is None
    assert clean_target_features(b"\x02+\x02gc") is None
    data = unnamed(SLEEPY)
    assert strip_custom_sections(data + fuzz.custom_section(b"target_features", b"\x05")) == data


# --------------------------------------------------------------------------
# Outputs: atomic, the input untouched, an old output replaced only on success

@pytest.fixture
def files(tmp_path):
    src = tmp_path / "in.wasm"
    out = tmp_path / "out.wasm"
    return src, out


def _stamp(path):
    past = time.time() - 86400
    os.utime(path, (past, past))
    return path.read_bytes(), os.stat(path).st_mtime_ns


REFUSED = {
    "invalid": b"\0asm\x01\0\0\0\x01\x7f",
    "reference-live-across-pause": wat2wasm("""(module
      (import "env" "sleep" (func $sleep (param i32) (result i32)))
      (import "env" "keep" (func $keep (param externref)))
      (memory 1)
      (func (export "f") (param $r externref) (result i32) (local $x i32)
        (local.set $x (call $sleep (i32.const 1)))
        (call $keep (local.get $r))
        (local.get $x)))"""),
    "no-memory": wat2wasm('(module (import "env" "sleep" (func $s)) (func (export "f") (call $s)))'),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_failed_run_keeps_old_output_and_input(case, files):
    src, out = files
    src.write_bytes(REFUSED[case])
    out.write_bytes(b"old output")
    before = _stamp(src)
    r = run_cli("transform", src, "-o", out, "-q")
    assert r.returncode == 1 and r.stderr.startswith("asyncpy: error: ") and len(r.stderr.splitlines()) == 1
    assert out.read_bytes() == b"old output"
    assert (src.read_bytes(), os.stat(src).st_mtime_ns) == before
    assert sorted(p.name for p in src.parent.iterdir()) == ["in.wasm", "out.wasm"]


def test_successful_run_replaces_output_input_untouched(files):
    src, out = files
    src.write_bytes(wat2wasm(SLEEPY))
    out.write_bytes(b"old output")
    before = _stamp(src)
    r = run_cli("transform", src, "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    wasmtime.Module.validate(wasmtime.Engine(), out.read_bytes())
    assert (src.read_bytes(), os.stat(src).st_mtime_ns) == before
    assert sorted(p.name for p in src.parent.iterdir()) == ["in.wasm", "out.wasm"]


def test_output_same_as_input_refused(files):
    src, _ = files
    src.write_bytes(wat2wasm(SLEEPY))
    before = _stamp(src)
    r = run_cli("transform", src, "-o", src)
    assert r.returncode == 1 and "overwrite the input" in r.stderr
    assert (src.read_bytes(), os.stat(src).st_mtime_ns) == before


def test_write_atomically_failure_leaves_old_file(tmp_path, monkeypatch):
    from asyncpy.wasm import output

    out = tmp_path / "out.wasm"
    out.write_bytes(b"old")

    def broken_replace(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "replace", broken_replace)
    with pytest.raises(AsyncpyError, match="no space left on device; the existing file is unchanged"):
        output.write_output(out, b"new" * 1000)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.wasm"]


def test_killed_mid_write_leaves_old_output(files):
    """A run killed while the output is being written (here: SIGKILL just
    before the rename) leaves the old output whole."""
    src, out = files
    src.write_bytes(wat2wasm(SLEEPY))
    out.write_bytes(b"old output")
    code = textwrap.dedent(f"""
        import os, signal
        from asyncpy import pipeline
        pipeline.os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)
        from asyncpy.cli import main
        main(["transform", {str(src)!r}, "-o", {str(out)!r}, "-q"])
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == -9
    assert out.read_bytes() == b"old output"


@pytest.mark.parametrize("where", ["missing-dir", "is-a-dir"])
def test_unwritable_output_is_a_clear_error(where, files):
    src, _out = files
    src.write_bytes(wat2wasm(SLEEPY))
    if where == "missing-dir":
        target = src.parent / "no" / "such" / "out.wasm"
    else:
        target = src.parent / "adir"
        target.mkdir()
    r = run_cli("transform", src, "-o", target)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert "internal error" not in r.stderr and str(target.name) in r.stderr


# --------------------------------------------------------------------------
# Fuzzing, small budgets

_SEEDS = None


def seeds() -> dict[str, bytes]:
    global _SEEDS
    if _SEEDS is None:
        _SEEDS = fuzz.seed_modules(corpus=True)
    return _SEEDS


FAST = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@settings(FAST, max_examples=150)
@given(data=st.data())
@pytest.mark.slow  # a fuzz budget
def test_mutated_modules_api(data):
    """Mutated modules through load + transform in process: a clear
    AsyncpyError or an output wasmtime accepts (the Binaryen read runs in
    the loader's forked child, so an abort there is an error line)."""
    _label, module = data.draw(fuzz.mutated_module(seeds()))
    opts, optimize, text = data.draw(fuzz.api_options())
    fuzz.check_api(module, opts, optimize, text)


@settings(FAST, max_examples=6)
@given(data=st.data())
@pytest.mark.slow  # a fuzz budget
def test_mutated_modules_cli(data, tmp_path_factory):
    """The same through the command line in a child process: exit 0 with a
    valid output, or exit 1 with one line; input untouched, an old output
    kept on failure, no temporary files left."""
    _label, module = data.draw(fuzz.mutated_module(seeds()))
    fuzz.check_cli(module, tmp_path_factory.mktemp("cli"))


def test_mutation_kinds_reach_every_outcome():
    """The mutator is not vacuous: over a fixed sample, some mutants load
    and transform, some are rejected by the loader."""
    kinds = {}

    @settings(FAST, max_examples=80)
    @given(data=st.data())
    def run(data):
        _, module = data.draw(fuzz.mutated_module(seeds()))
        out = fuzz.check_api(module)
        kinds[out.kind] = kinds.get(out.kind, 0) + 1

    run()
    assert kinds.get("ok", 0) >= 5 and kinds.get("rejected", 0) >= 20, kinds


@settings(FAST, max_examples=40)
@given(wat=fuzz.programs(), data=st.data())
@pytest.mark.slow  # a fuzz budget
def test_generated_programs_pause_anywhere(wat, data):
    """Generated programs: asyncpy's and Binaryen's outputs give the
    original's result with no pause, every pause, and random pause sets."""
    def pause_sets(calls):
        if calls == 0:
            return []
        return [data.draw(st.sets(st.integers(0, calls - 1), max_size=6))]
    fuzz.check_program(wat, pause_sets)


@settings(FAST, max_examples=40)
@given(wat=fuzz.programs(), recipe=fuzz.recipes(), data=st.data())
def test_generated_programs_with_every_transform_option(wat, recipe, data):
    """The same oracle with asserts, bounds checks, relocatable and exported
    globals, the separate data memory and the lists (chosen to keep the
    program correct) in combination: the output must still behave like
    the original, and asserts must never trap on a correct analysis."""
    def pause_sets(calls):
        if calls == 0:
            return []
        return [data.draw(st.sets(st.integers(0, calls - 1), max_size=6))]
    fuzz.check_program(wat, pause_sets, recipe)


def test_generated_programs_are_not_trivial():
    """Over a fixed sample, the generator produces pausing programs with
    every local type, indirect calls, loops and br_table."""
    seen = {"calls": 0, "texts": []}

    @settings(FAST, max_examples=40)
    @given(wat=fuzz.programs())
    def run(wat):
        seen["texts"].append(wat)

    run()
    text = "\n".join(seen["texts"])
    for needle in ("(local v128)", "(local f32)", "(local f64)", "(local i64)", "call_indirect",
                   "br_table", "(loop", "select", "local.tee", "(call $sleep", "i64.store", "br_if"):
        assert needle in text, needle


def test_check_program_catches_a_broken_transform(monkeypatch):
    """The program oracle fails when the transform misses a function."""
    from asyncpy.options import AnalysisOptions

    wat = """(module
      (import "env" "sleep" (func $sleep (param i32) (result i32)))
      (import "env" "log" (func $log (param i64)))
      (memory (export "memory") 2)
      (func $f (param i32) (result i32) (local i32)
        (local.set 1 (i32.mul (local.get 0) (i32.const 3)))
        (i32.add (call $sleep (local.get 0)) (local.get 1)))
      (func (export "main") (result i64)
        (i64.extend_i32_u (i32.add (call $f (i32.const 5)) (call $f (i32.const 7))))))"""
    real = fuzz.transformed

    def broken(wasm, options=fuzz.OPTIONS):
        ours, _theirs = real(wasm, AnalysisOptions(imports=("env.sleep",), remove_list=("f",)))
        return ours, real(wasm)[1]

    monkeypatch.setattr(fuzz, "transformed", broken)
    with pytest.raises(fuzz.Finding, match="asyncpy"):
        fuzz.check_program(wat, lambda calls: [{0}])


def test_loader_refuses_with_one_line_for_truncations():
    """Every prefix of a real module: a clear InputError or a valid load."""
    data = wat2wasm(SLEEPY)
    for n in range(len(data)):
        try:
            load_bytes(data[:n], "cut.wasm", isolate=False)
        except AsyncpyError as e:
            assert "\n" not in str(e) and str(e).startswith("cut.wasm")


# --------------------------------------------------------------------------
# --data-memory separate copies the module through Binaryen's text format
# (binaryen.with_added_memory), and Binaryen 116's printer writes import and
# export names unescaped. loader.text_unsafe_name(data) spots such names, so
# the pipeline can refuse them with a clear line before the round trip.

TEXT_UNSAFE = {
    "quote-in-export": ('"env" "sleep"', '"a\\22b"'),          # "internal error: ... does not validate"
    "backslash-in-import-field": ('"env" "a\\5c"', '"main"'),      # Fatal: error in parsing wasm text
    "quote-in-import-field": ('"env" "\\22"', '"main"'),        # Fatal: error in parsing wasm text
    "empty-import-module": ('"" "sleep"', '"main"'),             # Fatal: error in parsing wasm text
}


def _text_unsafe_module(case: str) -> bytes:
    imp, exp = TEXT_UNSAFE[case]
    return wat2wasm(f"""(module (import {imp} (func $s (param i32) (result i32))) (memory 1)
      (func (export {exp}) (result i32) (call $s (i32.const 1))))""")


@pytest.mark.parametrize("case", sorted(TEXT_UNSAFE))
def test_text_unsafe_names_detected(case):
    from asyncpy.wasm import text_unsafe_name

    assert text_unsafe_name(_text_unsafe_module(case)) is not None
    assert text_unsafe_name(wat2wasm(SLEEPY)) is None
    # the default layout needs no text round trip: these names are fine there
    assert fuzz.check_api(_text_unsafe_module(case)).kind == "ok"


@pytest.mark.parametrize("case", sorted(TEXT_UNSAFE))
def test_text_unsafe_names_separate_memory(case, tmp_path):
    fuzz.check_cli(_text_unsafe_module(case), tmp_path, ["--data-memory", "separate"])
    # check_cli accepts a clean refusal; an output must keep the names
    out = tmp_path / "out.wasm"
    if out.read_bytes() != fuzz.SENTINEL:
        fuzz.check_interface(_text_unsafe_module(case), out.read_bytes())


EXPORT_CLASH = """(module (import "env" "sleep" (func $s (param i32) (result i32))) (memory 1)
  (func (export "{name}") (result i32) (call $s (i32.const 1))))"""


@pytest.mark.parametrize("name, option", [("__asyncify_state", "--export-globals"),
                                          ("__asyncify_data", "--export-globals"),
                                          ("asyncify_memory", "--data-memory=separate")])
def test_export_name_clash_is_a_clear_error(name, option, tmp_path):
    fuzz.check_cli(wat2wasm(EXPORT_CLASH.format(name=name)), tmp_path, [option])


@pytest.mark.parametrize("op", ["(i64x2.splat (i64.const 0))", "(i32x4.splat (i32.const 0))"])
def test_simd_feature_detected_from_splat(op):
    wasm = wat2wasm(f'(module (memory 1) (func (export "f") (drop {op})))')
    assert fuzz.check_api(wasm).kind == "ok"


def test_output_path_fuzz_cases(tmp_path):
    """A few cases of the long run's output-path fuzzer (python -m tests.fuzz
    --kinds outputs), so that its checks keep working."""
    import random

    rnd = random.Random(16)
    outcomes = [fuzz.check_output_case(rnd, tmp_path, set()) for _ in range(4)]
    assert all(o.split(":")[0] in ("ok", "refused", "skipped") for o in outcomes), outcomes
    assert list(tmp_path.iterdir()) == []       # each case cleans up (and unmounts) after itself
