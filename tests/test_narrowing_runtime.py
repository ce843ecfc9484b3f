"""Narrowing is sound: every function on the wasm stack when the pausing
import really runs (traced in wasmtime) is in the narrowed set. Checked on a
hand-written module where narrowing is strictly smaller than Binaryen's
rule, and on random call graphs (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncpy.options import AnalysisOptions
from tests.gen import Program, run_and_record_stacks
from tests.oracle import instrumented_by_binaryen
from tests.support import analyze_bytes, wat2wasm

OPTIONS = AnalysisOptions(imports=("env.sleep",))
WIDE = AnalysisOptions(imports=("env.sleep",), narrow_indirect=False)


def names(stacks):
    return {f"f{i}" for s in stacks for i in s}


def check(program: Program, *, against_binaryen: bool):
    wasm = wat2wasm(program.to_wat())
    narrowed = set(analyze_bytes(wasm, OPTIONS).instrument)
    wide = set(analyze_bytes(wasm, WIDE).instrument)
    stacks = run_and_record_stacks(wasm, program)
    on_stack = names(stacks)
    assert on_stack <= narrowed, f"unsound: {sorted(on_stack - narrowed)} paused but not instrumented"
    assert narrowed <= wide
    if against_binaryen:
        assert wide == instrumented_by_binaryen(wasm, OPTIONS)
    return narrowed, wide, stacks


def test_handwritten_table_program():
    # f0 (): sleeps.   f1 (): quiet.   f2 (i32): quiet, same table, other type.
    # f3 (i32): sleeps, NOT in the table.   f4 (): dispatches slot 0 and 1 (type ())
    # f5 (): dispatches slot 2 (type (i32)) -- can only reach f2, never pauses.
    # f6 (): calls f5 and f1 directly.     f7 (): calls f4.   f8 (): calls f3.
    p = Program(
        types=[0, 0, 1, 1, 0, 0, 0, 0, 0],
        actions=[[("sleep",)], [("log",)], [("log",)], [("sleep",)],
                 [("slot", 0), ("slot", 1)], [("slot", 2)],
                 [("call", 5), ("call", 1)], [("call", 4)], [("call", 3)]],
        table=[0, 1, 2],
        exports=[4, 5, 6, 7, 8],
    )
    narrowed, wide, stacks = check(p, against_binaryen=True)
    assert (4, 0) in stacks and (7, 4, 0) in stacks and (8, 3) in stacks
    assert narrowed == {"f0", "f3", "f4", "f7", "f8"}
    assert wide - narrowed == {"f5", "f6"}           # strictly smaller ...
    assert not names(stacks) & (wide - narrowed)       # ... and those never paused


def test_handwritten_table_set_program():
    # The table is written by table.set in init: the slot it fills (f3, which
    # sleeps) is reachable from a call_indirect although no segment holds it.
    # f1 dispatches type (i64) on the now open table: the only escaping
    # function of that type is f0, which does not pause.
    p = Program(
        types=[2, 0, 1, 1, 1],
        actions=[[("log",)], [("slot", 0)], [("log",)], [("sleep",)], [("slot", 2)]],
        table=[0, 2],
        set_slots=[(2, 3)],
        exports=[1, 4],
    )
    narrowed, wide, stacks = check(p, against_binaryen=True)
    assert (4, 3) in stacks
    assert narrowed == {"f3", "f4"}
    assert "f1" in wide


@st.composite
def programs(draw, with_refs: bool):
    n = draw(st.integers(2, 9))
    types = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    table = draw(st.lists(st.integers(0, n - 1), max_size=6))
    set_slots = []
    if draw(st.booleans()):
        set_slots = [(len(table) + k, f) for k, f in
                     enumerate(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2)))]
    n_slots = len(table) + len(set_slots)
    kinds = ["sleep", "log", "call", "call"] + (["slot", "slot"] if n_slots else []) \
        + (["ref"] if with_refs else [])
    actions = []
    for _i in range(n):
        acts = []
        for kind in draw(st.lists(st.sampled_from(kinds), max_size=3)):
            if kind in ("sleep", "log"):
                acts.append((kind,))
            elif kind in ("call", "ref"):
                acts.append((kind, draw(st.integers(0, n - 1))))
            else:
                acts.append(("slot", draw(st.integers(0, n_slots - 1))))
        actions.append(acts)
    exports = sorted(set(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n))))
    return Program(types=types, actions=actions, table=table, set_slots=set_slots,
                   exports=exports, export_table=draw(st.booleans()))


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(programs(with_refs=False))
def test_random_programs_sound_and_match_binaryen(program):
    check(program, against_binaryen=True)


@SETTINGS
@given(programs(with_refs=True))
def test_random_programs_with_call_ref_sound(program):
    check(program, against_binaryen=False)
