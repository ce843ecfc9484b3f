"""The `asyncpy analyze` command: output formats and bad input."""

from __future__ import annotations

import json
import re

import pytest

from tests import wat_modules as M
from tests.support import ROOT, run_cli, wat2wasm

SUMMARY = re.compile(r"^(?P<path>.+): (?P<n>\d+) of (?P<m>\d+) functions can pause "
                     r"\((?P<k>\d+) because of indirect calls; \d+\.\d\ds\)$")
EXAMPLE = ROOT / "examples" / "sleepy.wat"


def summary(stdout: str) -> dict:
    m = SUMMARY.match(stdout.splitlines()[0])
    assert m, stdout
    return {k: (v if k == "path" else int(v)) for k, v in m.groupdict().items()}


# --------------------------------------------------------------------------
# Output

def test_summary_first_line(cli, write_wasm):
    path = write_wasm(M.TABLE_CLOSED)
    r = cli("analyze", path)
    assert r.exit_code == 0, r.output
    assert summary(r.stdout) == {"path": str(path), "n": 7, "m": 11, "k": 1}
    assert r.stderr == ""


def test_summary_no_narrow(cli, write_wasm):
    r = cli("analyze", write_wasm(M.TABLE_CLOSED), "--no-narrow")
    assert r.exit_code == 0
    s = summary(r.stdout)
    assert (s["n"], s["k"]) == (9, 2)   # dispatch_v, dispatch_i


def test_wat_input(cli, write_wat):
    r = cli("analyze", write_wat(M.DIRECT), "--imports", "env.sleep")
    assert r.exit_code == 0, r.output
    assert summary(r.stdout)["n"] == 4
    assert "pausing imports: env.sleep" in r.stdout


def test_wat_input_with_leading_comment(cli, write_wat):
    r = cli("analyze", write_wat(";; a comment first, as in most .wat files\n" + M.DIRECT))
    assert r.exit_code == 0, r.output
    assert summary(r.stdout)["n"] == 5


def test_list(cli, write_wasm):
    r = cli("analyze", write_wasm(M.DIRECT), "--imports", "env.sleep", "--list")
    assert r.exit_code == 0
    listed = [ln.strip() for ln in r.stdout.splitlines()[2:]]
    assert listed == ["a", "b", "c", "main"]     # module order


def test_why(cli, write_wasm):
    r = cli("analyze", write_wasm(M.DIAMOND), "--why", "top", "--why", "long1")
    assert r.exit_code == 0
    out = r.stdout
    assert "top pauses:\n  top calls main\n  main calls short\n  short calls sleep\n" in out
    assert "long1 pauses:" in out
    r = cli("analyze", write_wasm(M.DIRECT), "--imports", "env.sleep", "--why", "logger")
    assert "logger does not pause: it cannot reach any pausing import" in r.stdout


def test_why_indirect(cli, write_wasm):
    r = cli("analyze", write_wasm(M.TABLE_CLOSED), "--why", "main")
    assert "dispatch_v has an indirect call (call_indirect () -> () on table" in r.stdout
    assert "that can reach p" in r.stdout


JSON_KEYS = {"schema", "input", "functions", "instrumented_count", "due_to_indirect_count",
             "pausing_imports", "instrumented", "top_most_runtime", "bottom_most_runtime",
             "reasons", "narrowed", "warnings", "seconds"}


def test_json(cli, write_wasm):
    path = write_wasm(M.RUNTIME)
    r = cli("analyze", path, "--json", "--why", "task")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) == JSON_KEYS | {"why"}
    assert doc["schema"] == "asyncpy.analysis/1"
    assert doc["input"] == str(path)
    assert doc["functions"] == {"defined": 8, "imported": 4}
    assert doc["instrumented"] == ["worker", "task", "other_task"]
    assert doc["instrumented_count"] == 3 and doc["due_to_indirect_count"] == 0
    assert doc["top_most_runtime"] == ["finish", "pause"]
    assert doc["bottom_most_runtime"] == ["scheduler"]
    assert doc["pausing_imports"] == ["asyncify.start_unwind", "asyncify.stop_rewind"]
    assert doc["reasons"]["task"] == {"kind": "call", "via": "worker", "detail": ""}
    assert doc["reasons"]["pause"]["via"] == "start_unwind"
    assert doc["narrowed"] is True and doc["warnings"] == []
    assert isinstance(doc["seconds"], float)
    assert doc["why"]["task"].startswith("task pauses:")


def test_json_indirect_and_no_narrow(cli, write_wasm):
    path = write_wasm(M.TABLE_CLOSED)
    doc = json.loads(cli("analyze", path, "--json").stdout)
    assert doc["reasons"]["dispatch_v"]["kind"] == "indirect"
    assert doc["reasons"]["dispatch_v"]["via"] == "p"
    doc = json.loads(cli("analyze", path, "--json", "--no-narrow").stdout)
    assert doc["narrowed"] is False
    assert doc["reasons"]["dispatch_i"]["kind"] == "indirect-unknown"
    assert doc["due_to_indirect_count"] == 2


def test_imports_file_and_commas(cli, write_wasm, tmp_path):
    path = write_wasm(M.DIRECT)
    lst = tmp_path / "imports.txt"
    lst.write_text("env.nothing\nenv.sleep\n")
    r = cli("analyze", path, "--imports", f"@{lst}", "--json")
    doc = json.loads(r.stdout)
    assert doc["pausing_imports"] == ["env.sleep"]
    assert doc["warnings"] == ["--imports pattern 'env.nothing' matches no import"]
    r2 = cli("analyze", path, "--imports", "env.nothing,env.sleep", "--json")
    assert json.loads(r2.stdout)["instrumented"] == doc["instrumented"]


def test_lists_on_the_command_line(cli, write_wasm):
    path = write_wasm(M.LISTS)
    doc = json.loads(cli("analyze", path, "--imports", "env.sleep", "--remove-list", "safe_*",
                         "--add-list", "lonely", "--propagate-add-list", "--json").stdout)
    assert "safe_wrapper" not in doc["instrumented"] and "calls_safe" not in doc["instrumented"]
    assert {"lonely", "lonely_caller", "lonely_caller2"} <= set(doc["instrumented"])
    doc = json.loads(cli("analyze", path, "--only-list", "mid,lonely", "--json").stdout)
    assert doc["instrumented"] == ["mid", "lonely"]
    doc = json.loads(cli("analyze", path, "--ignore-imports", "--json").stdout)
    assert doc["instrumented"] == []


def test_warning_goes_to_stderr(cli, write_wasm):
    r = cli("analyze", write_wasm(M.LISTS), "--remove-list", "nothing_here")
    assert r.exit_code == 0
    assert r.stderr.splitlines() == ["asyncpy: warning: Asyncify removelist contained a "
                                     "non-existing function name: nothing_here (nothing_here)"]


def test_sleepy_example():
    """The bundled example's analysis, in detail (tests/test_readme.py runs
    the README's own commands and compares their output with it)."""
    r = run_cli("analyze", "examples/sleepy.wat", "--imports", "env.sleep", "--why", "dispatch",
                "--why", "score")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("examples/sleepy.wat: 4 of 9 functions can pause "
                        "(1 because of indirect calls; " + lines[0].split("; ")[1])
    assert lines[1:] == [
        "  pausing imports: env.sleep",
        "dispatch pauses:",
        "  dispatch has an indirect call (call_indirect (i32) -> () on table 0) that can reach on_tick",
        "  on_tick calls sleep",
        "  sleep is import env.sleep (matches 'env.sleep')",
        "score does not pause: it cannot reach any pausing import",
    ]
    doc = json.loads(run_cli("analyze", EXAMPLE, "--imports", "env.sleep", "--json").stdout)
    assert doc["instrumented"] == ["on_tick", "dispatch", "wait", "main"]
    doc = json.loads(run_cli("analyze", EXAMPLE, "--imports", "env.sleep", "--json",
                             "--no-narrow").stdout)
    assert set(doc["instrumented"]) == {"on_tick", "dispatch", "wait", "main", "score", "checksum"}


# --------------------------------------------------------------------------
# Bad input: one line on stderr, exit status 1, no traceback

VALID = wat2wasm(M.DIRECT)


def _bad_inputs(tmp_path):
    """name -> path of a bad input."""
    cases = {}

    def put(name, data: bytes, suffix=".wasm"):
        p = tmp_path / f"{name}{suffix}"
        p.write_bytes(data)
        cases[name] = p

    put("not-wasm", b"hello, this is not a module\n", ".txt")
    put("binary-garbage", bytes(range(256)))
    put("truncated", VALID[: len(VALID) // 2])
    put("header-only-cut", VALID[:6])
    # a valid header and section layout, but the function body does not
    # type-check (returns i64 where i32 is declared)
    put("invalid-body", wat2wasm("(module (func (result i32) (i64.const 0)))"))
    put("empty", b"")
    put("component", b"\0asm\x0d\0\x01\0" + VALID[8:])
    put("unknown-version", b"\0asm\x02\0\0\0" + VALID[8:])
    put("invalid-wat", b"(module (func $f (call $nope)))", ".wat")
    put("unbalanced-wat", b"(module (func $f", ".wat")
    # valid wasm that Binaryen 116 cannot read (table.init / elem.drop)
    put("binaryen-unsupported", wat2wasm(
        '(module (table $t 1 funcref) (elem $e func $f) (func $f)'
        ' (func (export "g") (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 1))))'))
    cases["missing"] = tmp_path / "does-not-exist.wasm"
    d = tmp_path / "a-directory.wasm"
    d.mkdir()
    cases["directory"] = d
    return cases


BAD = ["not-wasm", "binary-garbage", "truncated", "header-only-cut", "invalid-body", "empty",
       "component", "unknown-version", "invalid-wat", "unbalanced-wat", "binaryen-unsupported",
       "missing", "directory"]


def _check_one_error_line(exit_code, stdout, stderr, path):
    assert exit_code == 1, (stdout, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("asyncpy: error: "), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert str(path) in lines[0] or path.name in lines[0]
    assert stdout == ""


@pytest.mark.parametrize("case", BAD)
def test_bad_input_in_process(case, cli, tmp_path):
    path = _bad_inputs(tmp_path)[case]
    r = cli("analyze", path)
    _check_one_error_line(r.exit_code, r.stdout, r.stderr, path)


@pytest.mark.parametrize("case", BAD)
def test_bad_input_subprocess(case, tmp_path):
    path = _bad_inputs(tmp_path)[case]
    r = run_cli("analyze", path)
    _check_one_error_line(r.returncode, r.stdout, r.stderr, path)


def test_bad_input_messages_say_what_is_wrong(cli, tmp_path):
    cases = _bad_inputs(tmp_path)
    expect = {"empty": "empty", "directory": "directory", "missing": "cannot read",
              "component": "component", "not-wasm": "neither a wasm binary",
              "invalid-body": "invalid module", "invalid-wat": "WAT",
              "binaryen-unsupported": "Binaryen"}
    for case, word in expect.items():
        r = cli("analyze", cases[case])
        assert word in r.stderr, (case, r.stderr)


@pytest.mark.parametrize("args, word", [
    (["--only-list", "a", "--remove-list", "b"], "only-list"),
    (["--remove-list", "sleep"], "contained an imported function name"),
    (["--add-list", "log"], "contained an imported function name"),
    (["--imports", "@/nonexistent/list.txt"], "cannot read list file"),
])
def test_bad_options(args, word, tmp_path):
    path = tmp_path / "m.wasm"
    path.write_bytes(VALID)
    r = run_cli("analyze", path, *args)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("asyncpy: error: ") and word in lines[0], r.stderr
    assert "Traceback" not in r.stderr
