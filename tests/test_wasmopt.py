"""asyncpy-wasm-opt as a build's wasm-opt: whole command lines in order,
Binaryen's pass arguments and list rules, custom sections, and TinyGo's
command shapes on a module built like TinyGo's output. Where Debian's
Binaryen (/usr/bin/wasm-opt, installed with emscripten) is present, the
same command line is run through it and the programs' outputs compared."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from asyncpy.wasm import custom_section, sections
from tests import pausehost as H

REPO = Path(__file__).resolve().parent.parent
BINARYEN = shutil.which("wasm-opt", path="/usr/bin")
needs_binaryen = pytest.mark.skipif(BINARYEN is None, reason="Debian's binaryen (/usr/bin/wasm-opt) "
                                    "is not installed (apt-get install binaryen or emscripten)")


def wasm_opt(*args, cwd, tool=None):
    cmd = [tool] if tool else [sys.executable, "-m", "asyncpy.cli.wasmopt"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([*cmd, *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env,
                          check=False)


# C++-style names (as wasm-ld writes them, demangled) on the functions.
CPP = r"""
(module
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $"foo(int, double)" (param i32) (result i32)
    (i32.add (call $sleep (local.get 0)) (i32.const 1)))
  (func $"bar()" (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func $"caller(int)" (param i32) (result i32)
    (call $"bar()" (call $"foo(int, double)" (local.get 0))))
  (func $main (export "main") (result i32)
    (i32.add (call $"caller(int)" (i32.const 4)) (call $"caller(int)" (i32.const 5)))))
"""


def exported_functions(wasm: bytes) -> set[str]:
    m = wasmtime.Module(wasmtime.Engine(), wasm)
    return {e.name for e in m.exports}


def instrumented(wasm: bytes) -> set[str]:
    """Functions holding an unwind check (read from Binaryen's text)."""
    from asyncpy import binaryen as B

    with B.Module.read(wasm) as m:
        text = m.text()
    out, current = set(), None
    for line in text.splitlines():
        if line.startswith(" (func $"):
            current = line.split()[1][1:]
        elif current and not current.startswith("asyncify_") and "global.get $__asyncify_state" in line:
            out.add(current)
    return out


@pytest.fixture
def cpp(tmp_path):
    (tmp_path / "in.wasm").write_bytes(wasmtime.wat2wasm(CPP))
    return tmp_path


def test_cpp_signatures_in_lists_raw_escaped_and_from_a_file(cpp):
    base = H.run(wasmtime.wat2wasm(CPP)).value
    (cpp / "only.txt").write_text("foo(int, double)\ncaller\\28int\\29\nmain\n")
    for only in ("@foo(int, double),caller(int),main", "@@only.txt",
                 "@foo\\28int\\2c\\20double\\29,caller\\28*,main"):
        r = wasm_opt("--asyncify", "--pass-arg=asyncify-imports@env.sleep", "-g",
                     f"--pass-arg=asyncify-onlylist{only}", "in.wasm", "-o", "out.wasm", cwd=cpp)
        assert r.returncode == 0, r.stderr
        assert "warning" not in r.stderr, r.stderr
        out = (cpp / "out.wasm").read_bytes()
        assert H.run(out, pause_at=H.ALL).value == base
        assert len(instrumented(out)) == 3, only     # foo, caller, main; not bar


def test_unmatched_list_entries_warn_in_binaryens_words(cpp):
    r = wasm_opt("--asyncify", "--pass-arg=asyncify-removelist@nothing(int, int),bar()",
                 "--pass-arg=asyncify-addlist@zz*", "in.wasm", "-o", "out.wasm", cwd=cpp)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        ("warning: Asyncify removelist contained a non-existing function name: nothing(int, int) "
         "(nothing\\28int\\2c\\20int\\29)"),
        "warning: Asyncify addlist contained a non-matching pattern: zz* (zz*)"]


def test_verbose_prints_binaryens_lines_and_our_reasons(cpp):
    r = wasm_opt("--asyncify", "--pass-arg=asyncify-verbose", "--pass-arg=asyncify-imports@env.sleep",
                 "in.wasm", "-o", "out.wasm", cwd=cpp)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "[asyncify] sleep is an import that can change the state" in lines
    assert "[asyncify] foo\\28int\\2c\\20double\\29 can change the state due to sleep" in lines
    assert "[asyncify] main can change the state due to caller\\28int\\29" in lines
    assert any(ln.startswith("[asyncpy] main pauses: main calls caller") for ln in lines), lines


@needs_binaryen
def test_verbose_lines_name_what_binaryen_names(cpp):
    """On a program without indirect calls, Binaryen's and our
    "[asyncify]" lines agree."""
    args = ("--asyncify", "--pass-arg=asyncify-verbose", "--pass-arg=asyncify-imports@env.sleep",
            "in.wasm", "-o", "out.wasm")
    ours = wasm_opt(*args, cwd=cpp)
    theirs = wasm_opt(*args, cwd=cpp, tool=BINARYEN)
    pick = lambda out: sorted(ln for ln in out.splitlines() if ln.startswith("[asyncify]"))
    assert pick(ours.stdout) == pick(theirs.stdout)


def test_steps_run_in_order_and_unknown_passes_fail_first(cpp):
    # An unknown pass is refused before the input is even read.
    r = wasm_opt("--post-emscripten", "--no-such-pass", "missing.wasm", "-o", "out.wasm", cwd=cpp)
    assert r.returncode == 1 and r.stderr.strip() == \
        "asyncpy-wasm-opt: error: unknown pass --no-such-pass: libbinaryen 116 has no pass of that name"
    # Emscripten's -O2 command line, whole.
    r = wasm_opt("--strip-dwarf", "--post-emscripten", "-O2", "--low-memory-unused", "--asyncify",
                 "--pass-arg=asyncify-imports@env.invoke_*,env.sleep", "--zero-filled-memory",
                 "--strip-debug", "--strip-producers", "in.wasm", "-o", "out.wasm", "--mvp-features",
                 cwd=cpp)
    assert r.returncode == 0, r.stderr
    out = (cpp / "out.wasm").read_bytes()
    assert H.run(out, pause_at=H.ALL).value == H.run(wasmtime.wat2wasm(CPP)).value
    assert not any(sid == 0 for sid, *_ in sections(out))     # no -g: no name section
    # A pass after --asyncify sees its output: --remove-unused-module-elements
    # there would keep the asyncify exports; --print-function-map lists them.
    r = wasm_opt("--asyncify", "--print-function-map", "in.wasm", cwd=cpp)
    assert r.returncode == 0 and "asyncify_start_unwind" in r.stdout
    r = wasm_opt("--print-function-map", "--asyncify", "in.wasm", "-q", cwd=cpp)
    assert r.returncode == 0 and "asyncify_start_unwind" not in r.stdout and r.stderr == ""


def test_optimize_level_reaches_the_asyncify_step(cpp):
    # -O levels are global, as in wasm-opt: with one anywhere, the
    # instrumented functions are optimised too, so the output is smaller.
    sizes = {}
    for flags in ((), ("--optimize-level=2",), ("-O1",)):
        r = wasm_opt("--asyncify", *flags, "in.wasm", "-o", "out.wasm", cwd=cpp)
        assert r.returncode == 0, r.stderr
        sizes[flags] = len((cpp / "out.wasm").read_bytes())
    assert sizes[("--optimize-level=2",)] < sizes[()]
    assert sizes[("-O1",)] < sizes[()]


def test_module_without_memory_gets_one(tmp_path):
    wat = """(module (import "env" "sleep" (func $sleep (param i32) (result i32)))
               (func (export "main") (result i32) (call $sleep (i32.const 1))))"""
    (tmp_path / "in.wasm").write_bytes(wasmtime.wat2wasm(wat))
    r = wasm_opt("--asyncify", "in.wasm", "-o", "out.wasm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = wasmtime.Module(wasmtime.Engine(), (tmp_path / "out.wasm").read_bytes())
    assert "asyncify_start_unwind" in {e.name for e in m.exports}


def _with_custom(wasm: bytes, *secs: tuple[bytes, bytes]) -> bytes:
    return wasm + b"".join(custom_section(n, b) for n, b in secs)


def _custom_names(wasm: bytes) -> list[str]:
    out = []
    for sid, _, _end, payload in sections(wasm):
        if sid == 0:
            n = wasm[payload]
            out.append(wasm[payload + 1:payload + 1 + n].decode())
    return out


def test_custom_sections_kept_dylink_first_and_stripped_on_request(tmp_path):
    base = bytes(wasmtime.wat2wasm(CPP))
    # dylink.0 placed last on purpose: the output must have it first.
    src = _with_custom(base, (b"producers", b"\x01\x08language\x01\x01C\x00"),
                       (b".debug_info", b"\x00" * 8), (b"dylink.0", b"\x01\x04\x00\x00\x00\x00"))
    (tmp_path / "in.wasm").write_bytes(src)
    r = wasm_opt("--asyncify", "-g", "in.wasm", "-o", "out.wasm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = (tmp_path / "out.wasm").read_bytes()
    names = _custom_names(out)
    assert names[0] == "dylink.0" and out[8] == 0, names
    assert "producers" in names and "name" in names and ".debug_info" not in names
    assert "DWARF debug info (.debug_info) is dropped" in r.stderr
    r = wasm_opt("--strip-dwarf", "--asyncify", "--strip-producers", "in.wasm", "-o", "out.wasm",
                 cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    assert _custom_names((tmp_path / "out.wasm").read_bytes()) == ["dylink.0"]


def test_writes_in_place_as_builds_run_it(cpp):
    # emcc runs `wasm-opt prog.wasm ... -o prog.wasm`; also through a symlink.
    (cpp / "link.wasm").symlink_to("in.wasm")
    for out in ("in.wasm", "link.wasm"):
        (cpp / "in.wasm").write_bytes(wasmtime.wat2wasm(CPP))
        r = wasm_opt("--asyncify", "--pass-arg=asyncify-imports@env.sleep", "in.wasm", "-o", out, cwd=cpp)
        assert r.returncode == 0, r.stderr
        assert (cpp / "link.wasm").is_symlink()
        data = (cpp / "in.wasm").read_bytes()
        assert H.run(data, pause_at=H.ALL).value == H.run(wasmtime.wat2wasm(CPP)).value


def test_output_source_map(cpp):
    import json

    r = wasm_opt("--asyncify", "in.wasm", "-o", "out.wasm", "--output-source-map=out.wasm.map",
                 "--output-source-map-url=out.wasm.map", cwd=cpp)
    assert r.returncode == 0, r.stderr
    assert json.loads((cpp / "out.wasm.map").read_text())["version"] == 3
    assert "sourceMappingURL" in _custom_names((cpp / "out.wasm").read_bytes())


def test_version_line_is_what_emscripten_parses(tmp_path):
    r = wasm_opt("--version", cwd=tmp_path)
    assert r.returncode == 0
    first = r.stdout.splitlines()[0]
    assert first.startswith("wasm-opt version ") and int(first.split()[2]) >= 108


def test_pass_arg_forms_and_asyncify_arguments(cpp):
    base = H.run(wasmtime.wat2wasm(CPP)).value
    r = wasm_opt("--asyncify", "-pa", "asyncify-imports@env.sleep", "--pass-arg", "asyncify-asserts",
                 "--pass-arg=asyncify-relocatable", "--pass-arg=asyncify-export-globals",
                 "--pass-arg=asyncify-ignore-indirect", "in.wasm", "-o", "out.wasm", cwd=cpp)
    assert r.returncode == 0, r.stderr
    m = wasmtime.Module(wasmtime.Engine(), (cpp / "out.wasm").read_bytes())
    assert {(i.module, i.name) for i in m.imports} >= {("env", "__asyncify_state"),
                                                       ("env", "__asyncify_data")}
    assert {"__asyncify_state", "__asyncify_data"} <= {e.name for e in m.exports}
    r = wasm_opt("--asyncify", "--pass-arg=asyncify-in-secondary-memory",
                 "--pass-arg=asyncify-secondary-memory-size@2", "in.wasm", "-o", "out.wasm", cwd=cpp)
    assert r.returncode == 0, r.stderr
    m = wasmtime.Module(wasmtime.Engine(), (cpp / "out.wasm").read_bytes())
    mem = {e.name: e.type for e in m.exports}
    assert mem["asyncify_memory"].limits.min == 2
    r = wasm_opt("--asyncify", "--pass-arg=asyncify-asserts", "--pass-arg=asyncify-removelist@caller(int)",
                 "--pass-arg=asyncify-imports@env.sleep", "in.wasm", "-o", "out.wasm", cwd=cpp)
    assert r.returncode == 0, r.stderr
    with pytest.raises(wasmtime.Trap):      # unwinding through caller(int), which was removed
        H.run((cpp / "out.wasm").read_bytes(), pause_at=H.ALL)
    assert H.run((cpp / "out.wasm").read_bytes()).value == base


# ---------------------------------------------------------------------------
# TinyGo: its command lines on a module shaped like its asyncify output

SCHEDULER = Path(__file__).with_name("tinygo") / "scheduler.wat"
TINYGO_SHAPES = [
    ("--asyncify", "-Oz", "-g", "in.wasm", "--output", "out.wasm"),          # tinygo 0.2x-0.3x
    ("--asyncify", "-O2", "-g", "in.wasm", "--output", "out.wasm"),
    ("--asyncify", "-Os", "-g", "in.wasm", "--output=out.wasm"),
    ("--asyncify", "-Oz", "-g", "--enable-bulk-memory", "--enable-sign-ext",
     "--enable-nontrapping-float-to-int", "--enable-mutable-globals", "in.wasm", "--output", "out.wasm"),
    ("--asyncify", "-O0", "-g", "in.wasm", "-o", "out.wasm"),
]


def run_scheduler(wasm: bytes) -> list[int]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    printed: list[int] = []
    log = wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []), printed.append)
    inst = wasmtime.Instance(store, wasmtime.Module(engine, wasm), [log])
    inst.exports(store)["run"](store)
    return printed


# Tasks a (3 steps) and b (4 steps) interleave: x*x + i printed after each pause.
EXPECTED = [100, 400, 122, 442, 146, 486, 532]


@pytest.mark.parametrize("shape", TINYGO_SHAPES, ids=lambda s: " ".join(s[:3]))
def test_tinygo_command_shapes(shape, tmp_path):
    (tmp_path / "in.wasm").write_bytes(wasmtime.wat2wasm(SCHEDULER.read_text()))
    r = wasm_opt(*shape, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ours = (tmp_path / "out.wasm").read_bytes()
    assert run_scheduler(ours) == EXPECTED
    assert "name" in _custom_names(ours)                 # -g keeps names
    if BINARYEN:
        r = wasm_opt(*shape, cwd=tmp_path, tool=BINARYEN)
        assert r.returncode == 0, r.stderr
        assert run_scheduler((tmp_path / "out.wasm").read_bytes()) == EXPECTED
