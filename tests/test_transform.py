"""The transform, checked by running it: differential tests on a pausing host.

Every program runs three ways on tests/pausehost.py:

1. the original module, no pauses: the baseline;
2. asyncpy's output, pausing at one import call (once per call), and at all;
3. Binaryen's asyncify output (tests.oracle, a test reference only) with
   the same import list, the same way.

Results, logs of non-pausing imports, stdout and the number of import calls
must all equal the baseline. Plus: two coroutines interleaved on one
instance, buffer overflow (the ABI's traps and `check_bounds`), validation,
and the constructs we refuse (UnsupportedError).

Compiled modules are cached per process (functools.cache), so each program is
transformed once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncpy import binaryen as B
from asyncpy.analysis import analyze, collect_facts
from asyncpy.errors import AsyncpyError, UnsupportedError
from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.pipeline import transform_loaded
from asyncpy.transform import instrument
from asyncpy.wasm import load_bytes
from tests import pausehost as H
from tests.oracle import run_asyncify
from tests.pause_programs import COROUTINES, PROGRAMS
from tests.support import wat2wasm

# ---------------------------------------------------------------------------
# Building the three variants of a program

def pausing_imports(wasm: bytes, prefix: str) -> tuple[str, ...]:
    return tuple(sorted(f"env.{i.name}" for i in H.compile(wasm).imports
                        if i.module == "env" and i.name.startswith(prefix)))


def ours(wasm: bytes, options: AnalysisOptions, **kw) -> bytes:
    return transform_loaded(load_bytes(wasm, isolate=False), TransformOptions(analysis=options, **kw)).wasm


def binaryens(wasm: bytes, options: AnalysisOptions) -> bytes:
    with B.Module.read(load_bytes(wasm, isolate=False).data) as m:
        m.features = B.FEATURES_ALL
        run_asyncify(m, options)
        assert m.validate(), "Binaryen's own asyncify output does not validate"
        return m.write()


@dataclass(frozen=True)
class Case:
    original: bytes
    ours: bytes
    binaryen: bytes
    options: AnalysisOptions
    baseline: H.Result
    host: dict          # keyword arguments for H.run


@functools.cache
def wat_case(name: str) -> Case:
    wasm = wat2wasm(PROGRAMS[name])
    opts = AnalysisOptions(imports=pausing_imports(wasm, "sleep"))
    return Case(wasm, ours(wasm, opts), binaryens(wasm, opts), opts, H.run(wasm), {})


def corpus_pause(name, n, args, results):
    """corpus.HOST_IMPORTS: pause(n) = n + 1, so stdout matches corpus/expected."""
    return [(args[0] + 1) & 0xFFFFFFFF]


C_HOST = dict(pausing=("pause",), result_fn=corpus_pause)


@functools.cache
def c_case(name: str) -> Case:
    from corpus import build
    wasm = build.c(name).read_bytes()
    opts = AnalysisOptions(imports=("env.pause",))
    return Case(wasm, ours(wasm, opts), binaryens(wasm, opts), opts, H.run(wasm, **C_HOST), C_HOST)


def mismatch(case: Case, wasm: bytes, pause_at, label: str = "asyncpy"):
    """None if running `wasm` pausing at `pause_at` reproduces the baseline,
    else a description of the first difference."""
    try:
        r = H.run(wasm, pause_at, **case.host)
    except (wasmtime.Trap, wasmtime.WasmtimeError, AssertionError) as e:
        return f"{label}, pause at {pause_at}: {type(e).__name__}: {str(e).strip().splitlines()[-1]}"
    if r.observed != case.baseline.observed:
        return f"{label}, pause at {pause_at}: got {r.observed}, baseline {case.baseline.observed}"
    expected = case.baseline.calls if pause_at == H.ALL else len(pause_at or ())
    if r.pauses != expected:
        return f"{label}, pause at {pause_at}: {r.pauses} pauses, expected {expected}"
    return None


def every_point(case: Case, wasm: bytes, label: str) -> list[str]:
    points = [{k} for k in range(case.baseline.calls)] + [H.ALL]
    return [m for p in points if (m := mismatch(case, wasm, p, label))]


# ---------------------------------------------------------------------------
# WAT programs

WAT = sorted(PROGRAMS)


@pytest.mark.parametrize("name", WAT)
def test_no_pause_is_the_baseline(name):
    case = wat_case(name)
    assert case.baseline.calls > 0 and case.baseline.pauses == 0
    r = H.run(case.ours)
    assert r.observed == case.baseline.observed and r.pauses == 0


@pytest.mark.parametrize("name", WAT)
def test_pause_at_each_import_call(name):
    case = wat_case(name)
    bad = every_point(case, case.ours, "asyncpy")
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("name", WAT)
def test_binaryen_parity(name):
    """Binaryen's asyncify output on the same host behaves the same: this
    also checks that the host and the programs are right."""
    case = wat_case(name)
    bad = every_point(case, case.binaryen, "binaryen")
    assert not bad, "\n".join(bad[:10])
    for point in [{0}, {case.baseline.calls - 1}, H.ALL]:
        assert H.run(case.binaryen, point) == H.run(case.ours, point)


@pytest.mark.parametrize("name", WAT)
def test_outputs_validate_and_load(name):
    case = wat_case(name)
    for wasm in (case.ours, case.binaryen):
        with B.Module.read(wasm) as m:
            m.features = B.FEATURES_ALL
            assert m.validate()
        wasmtime.Module.validate(H.engine(), wasm)
    # The control exports have the ABI's signatures (pointer width per memory).
    ptr = "i64" if name == "memory64" else "i32"
    exports = {e.name: e.type for e in H.compile(case.ours).exports}
    for fn, params, results in (("asyncify_start_unwind", [ptr], []), ("asyncify_stop_unwind", [], []),
                                ("asyncify_start_rewind", [ptr], []), ("asyncify_stop_rewind", [], []),
                                ("asyncify_get_state", [], ["i32"])):
        t = exports[fn]
        assert ([str(p) for p in t.params], [str(r) for r in t.results]) == (params, results), fn


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_pause_subsets(data):
    name = data.draw(st.sampled_from(["expressions", "recursive", "loops", "nested", "multivalue", "locals"]))
    case = wat_case(name)
    points = data.draw(st.sets(st.integers(0, case.baseline.calls - 1)))
    assert mismatch(case, case.ours, points) is None


def test_differential_can_fail():
    """A module instrumented without a function on the pause path must
    fail the differential (the test is not vacuous)."""
    case = wat_case("nested")
    broken = ours(case.original, AnalysisOptions(imports=case.options.imports, remove_list=("g",)))
    assert every_point(case, broken, "broken")


# ---------------------------------------------------------------------------
# C programs (corpus, zig cc --target=wasm32-wasi)



@pytest.mark.parametrize("name", [
    "fnptr",
    pytest.param("recursion", marks=pytest.mark.slow),
    pytest.param("qsort", marks=pytest.mark.slow),
    "pingpong",
])
def test_c_program(name):
    case = c_case(name)
    try:
        from corpus import expected
        assert case.baseline.out == expected(f"c/{name}")
    except FileNotFoundError:
        pass
    assert case.baseline.value is None or case.baseline.value == H.Exit(0)
    n = case.baseline.calls
    points = sorted({*range(min(n, 4)), *range(0, n, max(1, n // 6)), n - 1})
    for label, wasm in (("binaryen", case.binaryen), ("asyncpy", case.ours)):
        bad = [m for p in [{k} for k in points] + [H.ALL] if (m := mismatch(case, wasm, p, label))]
        assert not bad, "\n".join(bad[:5])


# ---------------------------------------------------------------------------
# Coroutines: two paused stacks in separate buffers, interleaved

def arg_result(name, n, args, results):
    return [(args[0] * 3 + 1) & 0xFFFF]     # independent of the call order


def run_sequential(wasm: bytes, ids) -> dict:
    out = {}
    for i in ids:
        inst = H.Instance(wasm, result_fn=arg_result)
        out[i] = (inst.drive("run", (i,), inst.buffer(H.DATA_ADDR, H.BUF_SIZE)
                             if inst.instrumented else None), inst.log)
        inst.close()
    return out


def run_interleaved(wasm: bytes, ids) -> tuple[dict, int]:
    """Start every coroutine, then resume them round-robin, each from its own
    buffer, until all have returned."""
    inst = H.Instance(wasm, result_fn=arg_result)
    inst.policy = lambda n: True
    bufs = {i: inst.buffer(H.DATA_ADDR + k * (H.BUF_SIZE + 64), H.BUF_SIZE) for k, i in enumerate(ids)}
    logs = {i: [] for i in ids}
    results, started = {}, set()
    switches = 0
    while len(results) < len(ids):
        for i in ids:
            if i in results:
                continue
            before = len(inst.log)
            try:
                if i in started:
                    results[i] = inst.resume("run", (i,), bufs[i])
                else:
                    started.add(i)
                    results[i] = inst.call("run", (i,), bufs[i])
            except H.Unwound:
                switches += 1
            logs[i].extend(inst.log[before:])
    inst.close()
    return {i: (results[i], logs[i]) for i in ids}, switches


@pytest.mark.parametrize("variant", ["asyncpy", "binaryen"])
def test_coroutines_interleaved(variant):
    wasm = wat2wasm(COROUTINES)
    opts = AnalysisOptions(imports=("env.sleep",))
    inst = ours(wasm, opts) if variant == "asyncpy" else binaryens(wasm, opts)
    ids = (1, 2)
    expected = run_sequential(wasm, ids)
    assert expected == run_sequential(inst, ids)
    got, switches = run_interleaved(inst, ids)
    assert switches == sum(5 + i for i in ids)
    assert got == expected


# ---------------------------------------------------------------------------
# Buffer overflow

SENTINEL = b"\xaa" * 512


def overflow_instance(wasm: bytes, size: int) -> tuple[H.Instance, H.Buffer]:
    inst = H.Instance(wasm)
    buf = inst.buffer(H.DATA_ADDR, size)
    inst.memory.write(inst.store, SENTINEL, buf.end)
    inst.policy = lambda n: True
    inst.active = buf
    return inst, buf


@pytest.mark.parametrize("variant", ["asyncpy", "binaryen"])
def test_overflow_traps_in_stop_unwind(variant):
    """Without bounds checks the unwind writes past `end`; the next control
    call (asyncify_stop_unwind) sees current > end and traps."""
    case = wat_case("nested")
    inst, buf = overflow_instance(case.ours if variant == "asyncpy" else case.binaryen, 4)
    inst.exports["main"](inst.store)
    assert inst.state() == 1
    assert inst.current(buf) > buf.end
    assert H.memory_bytes(inst, buf.end, buf.end + len(SENTINEL)) != SENTINEL
    with pytest.raises(wasmtime.Trap):
        inst.exports["asyncify_stop_unwind"](inst.store)


@pytest.mark.parametrize("variant", ["asyncpy", "binaryen"])
@pytest.mark.parametrize("control", ["asyncify_start_unwind", "asyncify_start_rewind",
                                     "asyncify_stop_unwind", "asyncify_stop_rewind"])
def test_control_functions_trap_when_current_past_end(variant, control):
    case = wat_case("direct")
    inst = H.Instance(case.ours if variant == "asyncpy" else case.binaryen)
    ex, s = inst.exports, inst.store
    buf = inst.buffer(H.DATA_ADDR, 64)
    args = (buf.addr,) if control.startswith("asyncify_start") else ()
    if not args:  # point __asyncify_data at the struct first
        ex["asyncify_start_unwind"](s, buf.addr)
    inst.write_ptr(buf.addr, buf.end)            # current == end: allowed
    ex[control](s, *args)
    inst.write_ptr(buf.addr, buf.end + 4)        # current > end: trap
    with pytest.raises(wasmtime.Trap):
        ex[control](s, *args)


def test_check_bounds_traps_before_writing_past_end():
    case = wat_case("nested")
    checked = ours(case.original, case.options, check_bounds=True)
    # Same behaviour as the unchecked output while the buffer is large enough.
    assert every_point(case, checked, "check_bounds") == []
    inst, buf = overflow_instance(checked, 4)
    with pytest.raises(wasmtime.Trap):
        inst.exports["main"](inst.store)
    assert H.memory_bytes(inst, buf.end, buf.end + len(SENTINEL)) == SENTINEL
    assert inst.current(buf) <= buf.end


@pytest.mark.parametrize("size", [0, 4, 8, 12, 16, 20, 24, 32, 48])
def test_check_bounds_any_buffer_size(size):
    """Whatever the size: either the unwind fits and the program completes
    correctly, or it traps without touching memory past `end`."""
    case = wat_case("recursive")
    checked = _checked("recursive")
    inst, buf = overflow_instance(checked, size)
    try:
        inst.exports["main"](inst.store)
    except wasmtime.Trap:
        assert H.memory_bytes(inst, buf.end, buf.end + len(SENTINEL)) == SENTINEL
        return
    assert inst.state() == 1 and inst.current(buf) <= buf.end
    assert mismatch(case, checked, {0}) is None


@functools.cache
def _checked(name: str) -> bytes:
    case = wat_case(name)
    return ours(case.original, case.options, check_bounds=True)


# ---------------------------------------------------------------------------
# What we refuse

def transform_wat(text: str):
    return ours(wat2wasm(text), AnalysisOptions(imports=("env.sleep",)))


@pytest.mark.parametrize("reftype", ["externref", "funcref"])
def test_reference_local_live_across_pause(reftype):
    text = f"""(module
      (import "env" "sleep" (func $sleep (param i32) (result i32)))
      (import "env" "keep" (func $keep (param {reftype})))
      (memory 1)
      (func $holds_ref (export "f") (param $r {reftype}) (result i32)
        (local $x i32)
        (local.set $x (call $sleep (i32.const 1)))
        (call $keep (local.get $r))
        (local.get $x)))"""
    with pytest.raises(UnsupportedError, match="holds_ref"):
        transform_wat(text)


def test_reference_local_not_live_is_fine():
    """A reference local that is dead at every pause needs no saving."""
    out = transform_wat("""(module
      (import "env" "sleep" (func $sleep (param i32) (result i32)))
      (import "env" "keep" (func $keep (param externref)))
      (memory (export "memory") 1)
      (func (export "f") (param $r externref) (result i32)
        (call $keep (local.get $r))
        (call $sleep (i32.const 1))))""")
    wasmtime.Module.validate(H.engine(), out)


@pytest.mark.parametrize("target", ["$pauser", "$sleep"])
def test_return_call_to_pausing_function(target):
    text = f"""(module
      (import "env" "sleep" (func $sleep (param i32) (result i32)))
      (memory 1)
      (func $pauser (param i32) (result i32) (call $sleep (local.get 0)))
      (func $tail (export "f") (param i32) (result i32) (return_call {target} (local.get 0))))"""
    with pytest.raises(UnsupportedError, match="tail"):
        transform_wat(text)


LEGACY_TRY = """(module
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory 1)
  (tag $e (param i32))
  (func $catcher (export "f") (result i32)
    (try (result i32) (do (call $sleep (i32.const 1))) (catch $e (pop i32)))))"""


def test_try_catch_around_pause():
    """Exceptions. wasmtime 50 neither parses nor validates the legacy `try`
    (it wants the new try_table), and Binaryen 116 cannot read try_table, so
    no exception-using module gets through the loader at all: a legacy-try
    binary is refused with an InputError. The transform's own check is
    reached by parsing the module with Binaryen and instrumenting it."""
    with pytest.raises(wasmtime.WasmtimeError):
        wat2wasm(LEGACY_TRY)
    with B.Module.parse_text(LEGACY_TRY) as m:
        m.features = B.FEATURES_ALL
        binary = m.write()
        opts = AnalysisOptions(imports=("env.sleep",))
        analysis = analyze(collect_facts(m), opts)
        assert "catcher" in analysis.instrument
        with pytest.raises(UnsupportedError, match="catcher"):
            instrument(m, analysis, TransformOptions(analysis=opts))
    with pytest.raises(AsyncpyError):
        load_bytes(binary, isolate=False)


# ---------------------------------------------------------------------------
# Regressions: minimal inputs of bugs found and fixed.

def _first_pause_differs(text: str) -> None:
    wasm = wat2wasm(text)
    opts = AnalysisOptions(imports=("env.sleep",))
    case = Case(wasm, ours(wasm, opts), binaryens(wasm, opts), opts, H.run(wasm), {})
    assert every_point(case, case.binaryen, "binaryen") == []    # the program and host are right
    bad = every_point(case, case.ours, "asyncpy")
    assert not bad, "\n".join(bad)


INDIRECT_HEAD = """
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 1) $leaf)
  (data (i32.const 8192) "\\01\\00\\00\\00")
  (func $leaf (param i32) (result i32) (call $sleep (local.get 0)))
"""


def test_regression_call_indirect_target_from_load():
    _first_pause_differs(f"""(module {INDIRECT_HEAD}
      (func (export "main") (result i32)
        (call_indirect (type $t) (i32.const 5) (i32.load (i32.const 8192)))))""")


def test_regression_call_indirect_target_in_dead_local():
    _first_pause_differs(f"""(module {INDIRECT_HEAD}
      (func (export "main") (result i32) (local $x i32)
        (local.set $x (i32.load (i32.const 8192)))
        (call_indirect (type $t) (i32.const 5) (local.get $x))))""")


def test_regression_call_indirect_target_from_pausing_call():
    _first_pause_differs(f"""(module {INDIRECT_HEAD}
      (func (export "main") (result i32)
        (call_indirect (type $t) (i32.const 5)
          (i32.add (i32.const 1) (i32.and (call $sleep (i32.const 2)) (i32.const 0))))))""")


SIBLING_HEAD = """
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 9000) "\\05\\00\\00\\00")
  (func $pf (param $a i32) (param $b i32) (result i32)
    (i32.add (i32.mul (local.get $a) (i32.const 1000)) (call $sleep (local.get $b))))
"""


def test_regression_operand_before_pausing_sibling_load():
    _first_pause_differs(f"""(module {SIBLING_HEAD}
      (func (export "main") (result i32)
        (call $pf (i32.load (i32.const 9000)) (call $sleep (i32.const 1)))))""")


def test_regression_operand_before_pausing_sibling_local():
    _first_pause_differs(f"""(module {SIBLING_HEAD}
      (func (export "main") (result i32) (local $x i32)
        (local.set $x (i32.const 5))
        (call $pf (local.get $x) (call $sleep (i32.const 1)))))""")


@pytest.mark.parametrize("mode", ["loops", "top"])
@pytest.mark.parametrize("name", WAT)
def test_rewind_copy_pauses_too(name, mode):
    """With rewind copies (--rewind-copy: functions with a pause site in a
    loop unwind themselves but rewind in a fully instrumented copy; "top":
    only the one with the most such sites), every pause point must behave
    as with the default."""
    case = wat_case(name)
    wasm = ours(case.original, case.options, rewind_copy=mode)
    bad = every_point(case, wasm, "asyncpy --rewind-copy")
    assert not bad, "\n".join(bad[:10])


def test_rewind_copy_only_for_loops():
    """A copy is made for a function that pauses inside a loop, not for one
    that pauses outside any; the function enters its copy only while
    rewinding, and the copy is never exported."""
    wasm = wat2wasm("""(module
      (import "env" "sleep" (func $sleep (param i32)))
      (memory 1)
      (func $looping (export "looping") (param $n i32)
        (loop $l (call $sleep (local.get $n))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (local.get $n))))
      (func $straight (export "straight") (call $sleep (i32.const 1))))""")
    out = ours(wasm, AnalysisOptions(imports=("env.sleep",)), rewind_copy="loops")
    with B.Module.read(out) as m:
        names = {f.name for f in m.functions()}
        assert m.validate()
    assert {n for n in names if "$asyncpy_rewind" in n} == {"looping$asyncpy_rewind"}, names
    exports = {e.name for e in wasmtime.Module(wasmtime.Engine(), out).exports}
    assert not any("$asyncpy_rewind" in e for e in exports)
    # "top" copies the function with the most pause sites in loops.
    out = ours(wasm, AnalysisOptions(imports=("env.sleep",)), rewind_copy="top")
    with B.Module.read(out) as m:
        assert {f.name for f in m.functions() if "$asyncpy_rewind" in f.name} == {"looping$asyncpy_rewind"}
    # A list restricts the copies; the analysis (what is instrumented) stays.
    for listed, want in ((("straight",), set()), (("loop*",), {"looping$asyncpy_rewind"})):
        out = ours(wasm, AnalysisOptions(imports=("env.sleep",)), rewind_copy_list=listed)
        with B.Module.read(out) as m:
            names = {f.name for f in m.functions()}
        assert {n for n in names if "$asyncpy_rewind" in n} == want, (listed, names)


@pytest.mark.parametrize("name", WAT)
def test_per_statement_restore_pauses_too(name):
    """The per-statement restore/save layout (kept for the benchmark's
    ablation: each statement reloads and saves only its own locals, frames
    packed per statement) must pause as correctly as the default."""
    case = wat_case(name)
    wasm = ours(case.original, case.options, restore="statement")
    bad = every_point(case, wasm, "asyncpy --restore statement")
    assert not bad, "\n".join(bad[:10])
