"""`asyncpy profile` and profile-guided instrumentation: the list holds
exactly the functions on the stack at real pauses, several runs merge, the
module instrumented from the list pauses correctly on the profiled path,
and a pause on a path no run took traps in the uninstrumented function
(named in the trap) with --asserts."""

from __future__ import annotations

import asyncio
import json

import pytest
import wasmtime

from asyncpy.cli.lists import split_list
from asyncpy.host import Instance
from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.pipeline import transform_loaded
from asyncpy.profile import list_entry, profile_program, read_list, write_list
from asyncpy.wasm import load_bytes
from tests.support import run_cli, wat2wasm

# `a` pauses through via_a, `b` through via_b (which counts its calls, so
# running it again on a rewind shows); `quiet` cannot pause.
PROGRAM = """
(module
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $leaf (param i32) (result i32) (call $sleep (local.get 0)))
  (func $via_a (param i32) (result i32) (i32.add (call $leaf (local.get 0)) (i32.const 1)))
  (global $calls (mut i32) (i32.const 0))
  (func $via_b (param i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.add (call $leaf (local.get 0)) (global.get $calls)))
  (func $a (export "a") (param i32) (result i32) (call $via_a (local.get 0)))
  (func $b (export "b") (param i32) (result i32) (call $via_b (local.get 0)))
  (func $quiet (export "quiet") (param i32) (result i32) (i32.add (local.get 0) (i32.const 9)))
)
"""

HOST = """
import asyncio
async def sleep(n):
    await asyncio.sleep(0)
    return n + 1
IMPORTS = {{"env": {{"sleep": sleep}}}}
async def main(inst):
    for name in {exports!r}:
        print(name, await inst.call(name, 3))
    return 0
"""


async def _sleep(n):
    await asyncio.sleep(0)
    return n + 1


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "prog.wasm"
    path.write_bytes(wat2wasm(PROGRAM))
    return path


def host_file(tmp_path, exports):
    p = tmp_path / f"host_{'_'.join(exports)}.py"
    p.write_text(HOST.format(exports=list(exports)))
    return p


def instrument_from_list(wasm: bytes, entries, asserts=True) -> bytes:
    opts = TransformOptions(analysis=AnalysisOptions(imports=("env.sleep",), only_list=tuple(entries)),
                            asserts=asserts, data_memory="separate")
    return transform_loaded(load_bytes(wasm, "prog.wasm"), opts).wasm


def call(wasm: bytes, name: str, arg: int):
    inst = Instance(wasm, {"env": {"sleep": _sleep}})
    return asyncio.run(inst.call(name, arg))


def test_profile_lists_the_functions_on_the_stack(program, tmp_path):
    code, prof, full = profile_program(program, host=host_file(tmp_path, ["a", "quiet"]))
    assert code == 0
    assert full == 5                       # the full analysis: leaf, via_a, via_b, a, b
    assert set(prof.counts) == {"leaf", "via_a", "a"}
    assert prof.pauses == 1 and prof.counts["leaf"] == 1


def test_profiled_module_pauses_and_unprofiled_path_traps(program, tmp_path):
    _, prof, _ = profile_program(program, host=host_file(tmp_path, ["a"]))
    wasm = instrument_from_list(program.read_bytes(), prof.names())
    assert call(wasm, "a", 3) == 5          # paused in sleep and resumed: (3 + 1) + 1
    assert call(wasm, "quiet", 3) == 12
    with pytest.raises(wasmtime.Trap) as e:
        call(wasm, "b", 3)                 # via_b was never on the stack at a pause
    assert "via_b" in str(e.value)
    # Without --asserts the same pause goes unnoticed where it happens, and
    # the result is wrong (or the host fails later): what --asserts is for.
    unchecked = instrument_from_list(program.read_bytes(), prof.names(), asserts=False)
    assert call(unchecked, "b", 3) != 5    # via_b ran twice: its count is off


def test_cli_profile_merges_runs(program, tmp_path):
    out = tmp_path / "profile.txt"
    r = run_cli("profile", str(program), "--host", str(host_file(tmp_path, ["a"])), "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout[r.stdout.index("{"):])
    assert doc["schema"] == "asyncpy.profile/1" and doc["pauses"] == 1
    assert read_list(out) == ["a", "leaf", "via_a"]
    r = run_cli("profile", str(program), "--host", str(host_file(tmp_path, ["b"])), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert read_list(out) == ["a", "b", "leaf", "via_a", "via_b"]
    # The merged list, through --only-list @FILE, makes both paths pause.
    wasm = instrument_from_list(program.read_bytes(), split_list([f"@{out}"]))
    assert call(wasm, "a", 3) == 5 and call(wasm, "b", 3) == 5
    r = run_cli("profile", str(program), "--host", str(host_file(tmp_path, ["a"])), "-o", str(out),
                "--replace")
    assert read_list(out) == ["a", "leaf", "via_a"]


def test_list_entries_survive_list_parsing(tmp_path):
    names = ["plain", "foo(int, double)", "a*b", "multi\nline"]
    out = tmp_path / "p.txt"
    write_list(out, names, merge=False)
    entries = split_list([f"@{out}"])
    from asyncpy.options import matches_any
    for n in names:
        assert matches_any(n, entries), n
    assert list_entry("foo(int, double)") == "foo(int* double)"


LOOP_PROGRAM = """
(module
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $leaf (param i32) (result i32) (call $sleep (local.get 0)))
  (func $sum (export "sum") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $leaf (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc))
)
"""


@pytest.mark.parametrize("flags", [["--only-list", "@LIST", "--asserts", "--rewind-copy"],
                                   ["--rewind-copy-list", "@LIST"], ["--rewind-copy-top"]])
def test_cli_rewind_copy_from_a_profile(flags, tmp_path):
    """The documented workflows: a profile, then --rewind-copy on the
    profiled build or --rewind-copy-list on the full one. The loop function
    gets its rewind copy and the program pauses correctly at every sleep."""
    program = tmp_path / "loop.wasm"
    program.write_bytes(wat2wasm(LOOP_PROGRAM))
    listed = tmp_path / "p.txt"
    r = run_cli("profile", str(program), "--host", str(host_file(tmp_path, ["sum"])), "-o", str(listed))
    assert r.returncode == 0, r.stderr
    assert "sum" in read_list(listed)
    out = tmp_path / "out.wasm"
    r = run_cli("transform", str(program), "--imports", "env.sleep",
                *[f"@{listed}" if f == "@LIST" else f for f in flags], "-o", str(out))
    assert r.returncode == 0, r.stderr
    wasm = out.read_bytes()
    from asyncpy import binaryen as B
    with B.Module.read(wasm) as m:
        assert "sum$asyncpy_rewind" in {f.name for f in m.functions()}
    assert call(wasm, "sum", 3) == 4 + 3 + 2


def test_cli_rewind_copy_modes_are_exclusive(tmp_path):
    """--rewind-copy and --rewind-copy-top pick different functions: both is
    one error line, before any output is written."""
    program = tmp_path / "loop.wasm"
    program.write_bytes(wat2wasm(LOOP_PROGRAM))
    out = tmp_path / "out.wasm"
    r = run_cli("transform", str(program), "--imports", "env.sleep", "--rewind-copy", "--rewind-copy-top",
                "-o", str(out))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "asyncpy: error: --rewind-copy and --rewind-copy-top choose different functions to copy: give one"]
    assert not out.exists()
