"""asyncpy with narrowing off must instrument exactly what Binaryen's own
asyncify pass instruments, under the same options; with narrowing on it
must instrument a subset of that."""

from __future__ import annotations

import pytest

from asyncpy.options import AnalysisOptions
from tests import wat_modules as M
from tests.oracle import instrumented_by_binaryen
from tests.support import analyze_bytes, c_fnptr, defined_functions, go_hello, wat2wasm

OPTION_KINDS = ["default", "imports", "ignore-indirect", "remove-list", "add-list",
                "propagate-add-list", "only-list"]
# libbinaryen 116 has no asyncify-propagate-addlist argument (it came in a later
# release; the string is not in the library), so Binaryen cannot be the
# reference for it: see test_binaryen_116_ignores_propagate_addlist.
BINARYEN_KINDS = [k for k in OPTION_KINDS if k != "propagate-add-list"]


def options_for(kind: str, data: bytes) -> AnalysisOptions:
    """Options of one kind, with list entries picked from the module itself so
    that every list has something to do."""
    base = analyze_bytes(data, narrow_indirect=False)
    defined = defined_functions(base)
    paused = base.instrument
    quiet = [n for n in defined if n not in base.reasons]
    if kind == "default":
        return AnalysisOptions()
    if kind == "imports":
        return AnalysisOptions(imports=("*.sleep", "env.host_*"))
    if kind == "ignore-indirect":
        return AnalysisOptions(ignore_indirect=True)
    if kind == "remove-list":
        return AnalysisOptions(remove_list=tuple(paused[:1]))
    if kind == "add-list":
        return AnalysisOptions(add_list=tuple(quiet[:2]))
    if kind == "propagate-add-list":
        return AnalysisOptions(add_list=tuple(quiet[:2]), propagate_add_list=True)
    if kind == "only-list":
        return AnalysisOptions(only_list=tuple(defined[:2]))
    raise ValueError(kind)


def wide(options: AnalysisOptions) -> AnalysisOptions:
    return AnalysisOptions(**{**options.__dict__, "narrow_indirect": False})


def compare(data: bytes, options: AnalysisOptions) -> tuple[set[str], set[str]]:
    ours_wide = set(analyze_bytes(data, wide(options)).instrument)
    ours_narrow = set(analyze_bytes(data, options).instrument)
    theirs = instrumented_by_binaryen(data, options)
    assert ours_wide == theirs, (f"asyncpy (narrowing off) vs Binaryen: only asyncpy "
                                 f"{sorted(ours_wide - theirs)}, only Binaryen {sorted(theirs - ours_wide)}")
    assert ours_narrow <= ours_wide, sorted(ours_narrow - ours_wide)
    return ours_narrow, theirs


@pytest.mark.parametrize("kind", BINARYEN_KINDS)
@pytest.mark.parametrize("name", sorted(M.DIFFERENTIAL))
def test_wat_modules_match_binaryen(name, kind):
    data = wat2wasm(M.DIFFERENTIAL[name])
    options = options_for(kind, data)
    compare(data, options)


def test_lists_really_differ_from_default():
    # Guard against the option picker degenerating into "default" everywhere.
    data = wat2wasm(M.LISTS)
    results = {k: frozenset(analyze_bytes(data, wide(options_for(k, data))).instrument)
               for k in OPTION_KINDS}
    assert len(set(results.values())) >= 5, results


@pytest.mark.parametrize("name", sorted(M.DIFFERENTIAL))
def test_propagate_add_list_without_reference(name):
    # No Binaryen to compare with: check the rule itself. Propagating the
    # add-list instruments at least what the plain add-list does, plus
    # every caller of an instrumented function (outside the remove-list and
    # the bottom-most runtime), and narrowing still gives a subset.
    data = wat2wasm(M.DIFFERENTIAL[name])
    options = options_for("propagate-add-list", data)
    plain = set(analyze_bytes(data, wide(AnalysisOptions(add_list=options.add_list))).instrument)
    a = analyze_bytes(data, wide(options))
    prop = set(a.instrument)
    assert plain <= prop
    for fn in defined_functions(a):
        callees = a.facts.functions[fn].calls
        if fn not in a.bottom_most and fn not in a.top_most and any(c in a.reasons for c in callees):
            assert fn in prop, fn
    assert set(analyze_bytes(data, options).instrument) <= prop


def test_binaryen_116_ignores_propagate_addlist():
    data = wat2wasm(M.LISTS)
    plain = AnalysisOptions(add_list=("lonely",))
    prop = AnalysisOptions(add_list=("lonely",), propagate_add_list=True)
    assert instrumented_by_binaryen(data, plain) == instrumented_by_binaryen(data, prop)
    assert "lonely_caller" not in instrumented_by_binaryen(data, prop)
    assert "lonely_caller" in analyze_bytes(data, prop).instrument


def test_binaryen_misses_call_ref():
    # Binaryen 116 does not treat call_ref as an indirect call that may pause:
    # run_v reaches env.sleep through call_ref and is not instrumented by it.
    # asyncpy counts it (with or without narrowing), which is why CALL_REF is
    # not in the exact differential set.
    data = wat2wasm(M.CALL_REF)
    theirs = instrumented_by_binaryen(data)
    assert "run_v" not in theirs
    assert "run_v" in analyze_bytes(data).instrument
    assert "run_v" in analyze_bytes(data, narrow_indirect=False).instrument


@pytest.fixture(scope="module")
def go_data():
    return go_hello().read_bytes()


@pytest.mark.parametrize("options", [
    AnalysisOptions(imports=("wasi_snapshot_preview1.poll_oneoff",)),
    AnalysisOptions(),
], ids=["poll_oneoff", "default"])
@pytest.mark.slow  # Binaryen's pass on Go takes ~14 s, twice
@pytest.mark.go
def test_go_hello_matches_binaryen(go_data, options):
    _narrowed, theirs = compare(go_data, options)
    assert len(theirs) > 500          # a real Go program: the runtime pauses a lot


@pytest.fixture(scope="module")
def fnptr_data():
    return c_fnptr().read_bytes()


@pytest.mark.parametrize("kind", ["default", "pause-only"])
def test_c_function_pointers_match_binaryen(fnptr_data, kind):
    options = AnalysisOptions(imports=("env.pause",)) if kind == "pause-only" else AnalysisOptions()
    narrowed, theirs = compare(fnptr_data, options)
    if kind == "pause-only":
        # the int(int,int) table never pauses: narrowing must drop main's
        # indirect-only reasons for it, but keep main (it reaches steps[]).
        a = analyze_bytes(fnptr_data, options)
        assert a.due_to_indirect(), "main reaches env.pause only through the steps table"
        assert narrowed < theirs, "narrowing should help on a C program with two fn-pointer types"
