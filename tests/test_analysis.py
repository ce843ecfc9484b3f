"""The analysis semantics of docs/DESIGN.md §4, one small module per rule."""

from __future__ import annotations

import itertools
from collections import deque

import pytest

from asyncpy.cli.lists import split_list
from asyncpy.errors import AsyncpyError
from asyncpy.options import AnalysisOptions, wildcard
from tests import wat_modules as M
from tests.support import analyze_wat


def inst(text, **kw) -> set[str]:
    return set(analyze_wat(text, **kw).instrument)


# --------------------------------------------------------------------------
# Seeds: which imports pause

def test_default_every_import_pauses():
    a = analyze_wat(M.DIRECT)
    assert set(a.instrument) == {"a", "b", "c", "main", "logger"}
    assert a.reasons["sleep"].kind == "import" and a.reasons["log"].kind == "import"
    assert "pure" not in a.reasons and "quiet" not in a.reasons
    assert a.defined_count == 7
    assert a.warnings == []


def test_imports_pattern_selects_imports():
    a = analyze_wat(M.DIRECT, imports=("env.sleep",))
    assert set(a.instrument) == {"a", "b", "c", "main"}
    assert "log" not in a.reasons
    assert a.reasons["sleep"].detail == "matches 'env.sleep'"


@pytest.mark.parametrize("pattern, expected", [
    ("env.*", {"a", "b", "c", "main", "logger"}),
    ("*.sleep", {"a", "b", "c", "main"}),
    ("env.sl*p", {"a", "b", "c", "main"}),
    ("*lo*", {"logger"}),
    ("e*v.l*", {"logger"}),
    ("*", {"a", "b", "c", "main", "logger"}),
    ("env.slee", set()),          # patterns match the whole name
    ("nv.sleep", set()),
])
def test_imports_wildcard_anywhere(pattern, expected):
    assert inst(M.DIRECT, imports=(pattern,)) == expected


def test_wildcard_is_literal_except_star():
    rx = wildcard("a.b*")
    assert rx.match("a.bcd") and rx.match("a.b")
    assert not rx.match("axb")           # '.' is not a regex wildcard
    assert wildcard("env.(x)").match("env.(x)")


def test_lists_split_like_binaryen(tmp_path):
    # A response file holds one name per line, and a name may hold commas.
    f = tmp_path / "names.txt"
    f.write_text("foo(int, double)\n  bar \n\nbaz<a,b>\n")
    assert split_list(["@" + str(f)]) == ("foo(int, double)", "bar", "baz<a,b>")
    # On one line: commas split, but not inside brackets of any kind.
    assert split_list(["foo(int, double),bar,baz<a,b>,q[1,2]{x,y}"]) == (
        "foo(int, double)", "bar", "baz<a,b>", "q[1,2]{x,y}")
    assert split_list(["a,b", "c\nd", "e\n"]) == ("a", "b", "c", "d", "e")
    # The import list has no brackets to respect.
    assert split_list(["env.f(x,env.g"], brackets=False) == ("env.f(x", "env.g")
    with pytest.raises(AsyncpyError, match="unbalanced brackets"):
        split_list(["foo(int,bar"])


def test_names_match_raw_or_escaped():
    from asyncpy.options import ListMatcher, escape_name

    assert escape_name("baz()") == "baz\\28\\29"
    assert escape_name("foo(int, double)") == "foo\\28int\\2c\\20double\\29"
    assert escape_name("plain_name.1") == "plain_name.1"
    held = "foo\\28int\\2c\\20double\\29"          # as libbinaryen 116 holds it
    for entry in ("foo(int, double)", held, "foo(int*", "foo\\28*"):
        assert ListMatcher([entry])(held), entry
    assert not ListMatcher(["foo(int)"])(held)


def test_list_file_missing_is_an_error(tmp_path):
    with pytest.raises(AsyncpyError, match="cannot read list file"):
        split_list(["@" + str(tmp_path / "nope.txt")])


def test_ignore_imports():
    assert inst(M.DIRECT, ignore_imports=True) == set()
    # the asyncify runtime is not an ordinary import: it still pauses
    assert inst(M.RUNTIME, ignore_imports=True) == {"worker", "task", "other_task"}


def test_pattern_matching_nothing_is_a_warning():
    a = analyze_wat(M.DIRECT, imports=("env.sleep", "env.nothing*"))
    assert any("env.nothing*" in w for w in a.warnings)
    assert set(a.instrument) == {"a", "b", "c", "main"}
    # Binaryen's wording, which builds look for.
    a = analyze_wat(M.LISTS, remove_list=("no_such_function",))
    assert "Asyncify removelist contained a non-existing function name: no_such_function " \
           "(no_such_function)" in a.warnings
    a = analyze_wat(M.LISTS, add_list=("nope()*",))
    assert "Asyncify addlist contained a non-matching pattern: nope()* (nope\\28\\29*)" in a.warnings


# --------------------------------------------------------------------------
# Propagation

def test_propagation_through_direct_calls():
    a = analyze_wat(M.DIRECT, imports=("env.sleep",))
    assert a.reasons["a"].kind == "call" and a.reasons["a"].via == "sleep"
    assert a.reasons["b"].via == "a" and a.reasons["c"].via == "b"
    assert a.reasons["main"].via == "c"


def test_propagation_terminates_on_cycles():
    a = analyze_wat(M.CYCLE)
    assert set(a.instrument) == {"even", "odd", "main"}
    assert "self" not in a.instrument


# --------------------------------------------------------------------------
# Lists

def test_ignore_indirect():
    assert inst(M.TABLE_CLOSED, ignore_indirect=True) == {
        "p", "hidden", "pausing_i", "hidden_caller", "pausing_i_caller"}
    assert inst(M.TABLE_CLOSED, ignore_indirect=True, narrow_indirect=False) == {
        "p", "hidden", "pausing_i", "hidden_caller", "pausing_i_caller"}


def test_remove_list_is_not_instrumented_and_stops_propagation():
    base = inst(M.LISTS, imports=("env.sleep",))
    assert {"leaf", "mid", "upper", "safe_wrapper", "calls_safe", "main"} == base
    a = analyze_wat(M.LISTS, imports=("env.sleep",), remove_list=("safe_wrapper",))
    assert "safe_wrapper" not in a.instrument
    assert "calls_safe" not in a.instrument      # only reached pause through safe_wrapper
    assert {"leaf", "mid", "upper", "main"} <= set(a.instrument)
    assert "it is on the remove-list" in a.explain("safe_wrapper")


def test_remove_list_wildcard():
    assert inst(M.LISTS, imports=("env.sleep",), remove_list=("up*",)) == {
        "leaf", "mid", "safe_wrapper", "calls_safe", "main"}
    # main reaches sleep only through upper and safe_wrapper: removing both removes main
    assert inst(M.LISTS, imports=("env.sleep",), remove_list=("*_wrapper", "up*")) == {
        "leaf", "mid"}


def test_add_list_without_propagation():
    a = analyze_wat(M.LISTS, imports=("env.sleep",), add_list=("lonely",))
    assert "lonely" in a.instrument and a.reasons["lonely"].kind == "add-list"
    assert "lonely_caller" not in a.instrument


def test_add_list_with_propagation():
    a = analyze_wat(M.LISTS, imports=("env.sleep",), add_list=("lonely",),
                    propagate_add_list=True)
    assert {"lonely", "lonely_caller", "lonely_caller2"} <= set(a.instrument)
    assert a.reasons["lonely_caller"].via == "lonely"


def test_only_list():
    a = analyze_wat(M.LISTS, only_list=("lonely", "mid"))
    assert set(a.instrument) == {"lonely", "mid"}
    assert "it is not on the only-list" in a.explain("upper")


def test_only_list_is_exclusive():
    with pytest.raises(AsyncpyError, match="only-list"):
        AnalysisOptions(only_list=("a",), remove_list=("b",))
    with pytest.raises(AsyncpyError, match="only-list"):
        AnalysisOptions(only_list=("a",), add_list=("b",))


@pytest.mark.parametrize("field", ["remove_list", "add_list", "only_list"])
def test_imported_name_on_a_list_is_an_error(field):
    with pytest.raises(AsyncpyError, match="sleep"):
        analyze_wat(M.LISTS, **{field: ("sleep",)})


# --------------------------------------------------------------------------
# The in-wasm asyncify runtime

def test_runtime_imports():
    a = analyze_wat(M.RUNTIME)
    # start_unwind / stop_rewind callers pause but are not instrumented ...
    assert a.top_most == {"pause", "finish"}
    assert "pause" in a.reasons and "pause" not in a.instrument
    assert "finish" in a.reasons and "finish" not in a.instrument
    # ... their callers are
    assert {"worker", "task", "other_task"} <= set(a.instrument)
    # stop_unwind / start_rewind callers are never instrumented, and stop propagation
    assert a.bottom_most == {"scheduler"}
    assert "scheduler" not in a.instrument and "top" not in a.instrument
    assert set(a.instrument) == {"worker", "task", "other_task"}
    assert "bottom of the stack" in a.explain("scheduler")


def test_get_state_has_no_effect():
    text = M.RUNTIME.replace(
        '(memory 1)',
        '(import "asyncify" "get_state" (func $get_state (result i32)))\n  (memory 1)'
    ).replace('(func $idle (export "idle"))',
              '(func $idle (export "idle") (drop (call $get_state)))')
    assert "get_state" in text
    a = analyze_wat(text)
    assert "idle" not in a.instrument
    assert set(a.instrument) == {"worker", "task", "other_task"}


# --------------------------------------------------------------------------
# Reasons: shortest paths

def _shortest_hops(a, start):
    """Independent BFS over the direct-call graph: hops from `start` to a seed."""
    funcs = a.facts.functions
    seeds = {n for n, f in funcs.items() if f.imported and n in a.reasons}
    dist = {start: 0}
    q = deque([start])
    while q:
        n = q.popleft()
        if n in seeds:
            return dist[n]
        for c in funcs[n].calls:
            if c not in dist:
                dist[c] = dist[n] + 1
                q.append(c)
    return None


def test_reason_path_is_shortest():
    a = analyze_wat(M.DIAMOND)
    assert [n for n, _ in a.path("main")] == ["main", "short", "sleep"]
    assert [n for n, _ in a.path("top")] == ["top", "main", "short", "sleep"]
    text = a.explain("main")
    assert text.splitlines()[0] == "main pauses:"
    assert "main calls short" in text and "long1" not in text
    assert "sleep is import env.sleep" in text


@pytest.mark.parametrize("name", ["direct", "diamond", "cycle", "lists", "mixed"])
def test_every_path_is_shortest_and_ends_at_a_seed(name):
    text = M.DIFFERENTIAL[name]
    a = analyze_wat(text, ignore_indirect=True)
    assert a.instrument
    for fn in a.instrument:
        path = a.path(fn)
        assert path[0][0] == fn
        last_name, last_reason = path[-1]
        assert last_reason.kind in ("import", "runtime")
        assert a.facts.functions[last_name].imported
        for (n, r), (nxt, _) in itertools.pairwise(path):   # every hop is a real call
            assert r.via == nxt and nxt in a.facts.functions[n].calls
        assert len(path) - 1 == _shortest_hops(a, fn), fn


def test_explain_unknown_and_non_pausing():
    a = analyze_wat(M.DIRECT, imports=("env.sleep",))
    assert a.explain("nope") == "nope: no such function"
    assert a.explain("pure") == "pure does not pause: it cannot reach any pausing import"


# --------------------------------------------------------------------------
# Narrowing of indirect calls

def test_call_indirect_narrowed_by_signature_and_table():
    a = analyze_wat(M.TABLE_CLOSED)
    # type $v in the table: p (pauses), q (does not); $hidden is not in the table
    assert a.reasons["dispatch_v"].kind == "indirect" and a.reasons["dispatch_v"].via == "p"
    assert "dispatch_v" in a.instrument and "main" in a.instrument
    # type $i in the table: only plain_i, which does not pause; pausing_i is not in the table
    assert "dispatch_i" not in a.instrument and "uses_i" not in a.instrument
    assert set(a.instrument) == {"p", "hidden", "pausing_i", "dispatch_v", "main",
                                 "hidden_caller", "pausing_i_caller"}
    assert a.due_to_indirect() == ["dispatch_v"]
    assert "can reach p" in a.explain("dispatch_v")


def test_no_narrow_is_binaryen_rule():
    a = analyze_wat(M.TABLE_CLOSED, narrow_indirect=False)
    assert {"dispatch_v", "dispatch_i", "uses_i", "main"} <= set(a.instrument)
    assert a.reasons["dispatch_i"].kind == "indirect-unknown"


def test_exported_table_is_open_to_escaping_functions():
    a = analyze_wat(M.TABLE_EXPORTED)
    assert "dispatch" in a.instrument
    assert a.reasons["dispatch"].via == "exported_pauser"    # escapes by export
    # secret pauses but never escapes; its caller pauses only through a direct call
    assert a.reasons["secret_caller"].kind == "call"


def test_exported_table_without_escaping_pauser_stays_quiet():
    text = M.TABLE_EXPORTED.replace('(func $exported_pauser (export "pauser")',
                                    '(func $exported_pauser')
    assert text != M.TABLE_EXPORTED
    a = analyze_wat(text)
    assert "dispatch" not in a.instrument


def test_imported_table_is_open_to_imports_of_the_type():
    a = analyze_wat(M.TABLE_IMPORTED)
    assert a.reasons["dispatch"].kind == "indirect" and a.reasons["dispatch"].via == "host_v"
    # no function or import of type (i32, i32) -> () exists
    assert "dispatch_ii" not in a.instrument
    # with only the other import pausing, dispatch cannot pause
    assert "dispatch" not in analyze_wat(M.TABLE_IMPORTED, imports=("env.log_i",)).instrument


@pytest.mark.parametrize("text", [M.TABLE_SET, M.TABLE_GROW], ids=["table.set", "table.grow"])
def test_written_table_is_open(text):
    a = analyze_wat(text)
    assert a.reasons["dispatch"].kind == "indirect" and a.reasons["dispatch"].via == "late"
    assert "never" in a.instrument and "never_caller" in a.instrument
    assert "never" not in {r.via for r in a.reasons.values() if r.kind == "indirect"}


def test_written_table_check_is_about_writes():
    # Without the table.set, the same table is closed and dispatch cannot reach $late.
    text = M.TABLE_SET.replace("(table.set $t (i32.const 1) (ref.func $late))",
                               "(drop (ref.func $late))")
    assert text != M.TABLE_SET
    assert "dispatch" not in analyze_wat(text).instrument


def test_tables_are_told_apart():
    a = analyze_wat(M.TWO_TABLES)
    assert "via_t2" in a.instrument and "via_t1" not in a.instrument


def test_call_ref_reaches_only_escaping_functions():
    a = analyze_wat(M.CALL_REF)
    assert a.reasons["run_v"].kind == "indirect" and a.reasons["run_v"].via == "target"
    assert "run_i" not in a.instrument
    assert set(a.instrument) == {"target", "same_type_hidden", "run_v", "hidden_caller"}
    # if the only escaping function of the type does not pause, neither does run_v
    text = M.CALL_REF.replace("(func $target (type $v) (call $sleep))", "(func $target (type $v))")
    assert "run_v" not in analyze_wat(text).instrument


@pytest.mark.parametrize("name", sorted(M.ALL))
@pytest.mark.parametrize("opts", [{}, {"imports": ("env.sleep",)}, {"ignore_imports": True}],
                         ids=["default", "imports", "ignore-imports"])
def test_narrowing_is_a_subset(name, opts):
    narrowed = inst(M.ALL[name], **opts)
    wide = inst(M.ALL[name], narrow_indirect=False, **opts)
    assert narrowed <= wide


def test_narrowing_is_strictly_smaller_somewhere():
    narrowed = inst(M.TABLE_CLOSED)
    wide = inst(M.TABLE_CLOSED, narrow_indirect=False)
    assert narrowed < wide
    assert wide - narrowed == {"dispatch_i", "uses_i"}


@pytest.mark.parametrize("propagate", [False, True], ids=["plain", "propagate"])
def test_add_list_instruments_bottom_most_function(propagate):
    # Binaryen instruments an add-listed function even if it is bottom-most
    # runtime; whether the add-list propagates must not change that.
    a = analyze_wat(M.RUNTIME, add_list=("scheduler",), propagate_add_list=propagate)
    assert "scheduler" in a.instrument


def test_tail_calls_propagate():
    # return_call / return_call_indirect are calls too (the transform rejects
    # tail calls that may pause; the analysis must still see them).
    text = """
    (module
      (import "env" "sleep" (func $sleep))
      (type $v (func))
      (table 1 funcref)
      (elem (i32.const 0) $p)
      (func $p (type $v) (call $sleep))
      (func $q (type $v))
      (func $tail (return_call $p))
      (func $tail_quiet (return_call $q))
      (func $tail_indirect (return_call_indirect (type $v) (i32.const 0)))
      (func $main (export "main") (call $tail))
    )
    """
    a = analyze_wat(text)
    assert set(a.instrument) == {"p", "tail", "tail_indirect", "main"}
    assert a.reasons["tail_indirect"].kind == "indirect"
