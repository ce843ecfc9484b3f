"""--asserts, and the wasm-opt compatible entry point."""

import subprocess
import sys

import pytest
import wasmtime

from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.pipeline import transform_loaded
from asyncpy.wasm import load_bytes
from tests import pausehost as H

PROGRAM = """
(module
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $leaf (param $x i32) (result i32)
    (i32.add (call $sleep (local.get $x)) (i32.const 1)))
  (func $mid (param $x i32) (result i32)
    (i32.mul (call $leaf (local.get $x)) (i32.const 3)))
  (func (export "main") (result i32)
    (i32.add (call $mid (i32.const 4)) (call $mid (i32.const 5)))))
"""


def transform(text: str, **kw) -> bytes:
    wasm = wasmtime.wat2wasm(text)
    opts = TransformOptions(analysis=AnalysisOptions(imports=("env.sleep",), **kw.pop("analysis", {})), **kw)
    return transform_loaded(load_bytes(bytes(wasm), isolate=False), opts).wasm


def test_asserts_keep_correct_programs_working():
    wasm = transform(PROGRAM, asserts=True)
    base = H.run(wasmtime.wat2wasm(PROGRAM))
    assert H.run(wasm, pause_at="all").value == base.value


def test_asserts_trap_when_unwinding_through_an_uninstrumented_function():
    # $mid is wrongly declared never to pause: without asserts the program
    # silently computes garbage after a pause; with them it traps in $mid.
    wasm = transform(PROGRAM, asserts=True, analysis={"remove_list": ("mid",)})
    with pytest.raises(wasmtime.Trap):
        H.run(wasm, pause_at="all")


def test_without_asserts_the_module_itself_does_not_notice():
    # The same mistake without asserts: the module does not trap; only the
    # test host's own checks see the stack go wrong (an import re-entered
    # while unwinding) or the result differs.
    wasm = transform(PROGRAM, analysis={"remove_list": ("mid",)})
    base = H.run(wasmtime.wat2wasm(PROGRAM))
    try:
        result = H.run(wasm, pause_at="all")
    except AssertionError:
        return
    assert result.value != base.value


def wasm_opt(*args, cwd):
    return subprocess.run([sys.executable, "-m", "asyncpy.cli.wasmopt", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_wasm_opt_entry_takes_tinygo_arguments(tmp_path):
    src = tmp_path / "in.wat"
    src.write_text(PROGRAM)
    r = wasm_opt("--asyncify", "-Oz", "-g", "in.wat", "--output", "out.wasm",
                 "--pass-arg=asyncify-imports@env.sleep", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = (tmp_path / "out.wasm").read_bytes()
    base = H.run(wasmtime.wat2wasm(PROGRAM))
    assert H.run(out, pause_at="all").value == base.value
    assert H.run(out, pause_at="all").pauses > 0


@pytest.mark.parametrize("args, message", [
    (("--bogus", "in.wat", "-o", "o.wasm"), "unknown pass --bogus"),
    (("-O2", "--asyncify", "--strip-debug", "--not-a-pass", "in.wat", "-o", "o.wasm"),
     "unknown pass --not-a-pass"),
    (("-Q", "in.wat", "-o", "o.wasm"), "unsupported wasm-opt flag -Q"),
    (("--enable-nonsense", "in.wat", "-o", "o.wasm"), "unknown feature flag --enable-nonsense"),
    (("--asyncify", "in.wat", "-o", "o.wasm", "--pass-arg=asyncify-nonsense@1"), "asyncify-nonsense"),
    (("--asyncify", "in.wat", "-o", "o.wasm", "--pass-arg=asyncify-onlylist@@missing.txt"),
     "cannot read list file missing.txt"),
    (("--asyncify", "in.wat", "-o", "o.wasm", "--pass-arg=asyncify-onlylist@foo(int"), "unbalanced brackets"),
    (("--asyncify", "in.wat", "-o", "o.wasm", "--pass-arg=asyncify-onlylist@main",
      "--pass-arg=asyncify-removelist@leaf"), "only-list together with another list"),
    (("--asyncify", "in.wat", "-o", "o.wasm", "--pass-arg=asyncify-addlist@mid",
      "--pass-arg=asyncify-removelist@mid"), "mid is found in the add-list and in the remove-list"),
    (("--asyncify", "in.wat", "-o", "o.wasm", "--pass-arg=asyncify-onlylist@sleep"),
     "onlylist contained an imported function name"),
    (("--input-source-map=in.map", "in.wat", "-o", "o.wasm"), "cannot read a source map"),
    (("-O9", "in.wat", "-o", "o.wasm"), "unsupported wasm-opt flag -O9"),
    (("--optimize-level=7", "in.wat", "-o", "o.wasm"), "expected a level from 0 to 4"),
    (("--asyncify", "-o", "o.wasm"), "no input file"),
])
def test_wasm_opt_entry_rejects_what_it_does_not_do(tmp_path, args, message):
    (tmp_path / "in.wat").write_text(PROGRAM)
    r = wasm_opt(*args, cwd=tmp_path)
    assert r.returncode == 1
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o.wasm").exists()
