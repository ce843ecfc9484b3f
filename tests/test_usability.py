"""What a new user runs into first: `asyncpy run` naming missing imports
before any work, WAT errors with their position, progress on a terminal
only, `python -m asyncpy`, standard input, Ctrl-C, the help, and the
examples' runner (issue 16, items 2 to 6)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pty
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from asyncpy.errors import AsyncpyError
from tests.support import ROOT, wat2wasm

SLEEPY = ROOT / "examples" / "sleepy.wat"

# A WASI command that calls env.pause(7) and then prints "hi".
COMMAND = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "pause" (func $pause (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\\n")
  (func (export "_start")
    (call $pause (i32.const 7))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""

REACTOR = '(module (memory (export "memory") 1) (func (export "_initialize")) (func (export "f")))'


def env_with_cache(tmp_path) -> dict:
    return dict(os.environ, ASYNCPY_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))


def asyncpy(*args, tmp_path, input=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asyncpy", *map(str, args)], capture_output=True,
                          cwd=ROOT, env=env_with_cache(tmp_path), input=input, **kw)


def one_line(stderr: bytes | str, *words: str) -> str:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("asyncpy: error: "), text
    assert "internal error" not in text
    for w in words:
        assert w in lines[0], text
    return lines[0]


def nothing_instrumented(tmp_path) -> bool:
    return not list((tmp_path / "cache").rglob("*.wasm"))


def host_file(tmp_path, body: str) -> Path:
    p = tmp_path / "host.py"
    p.write_text(body)
    return p


# --------------------------------------------------------------------------
# 2. asyncpy run: missing imports, no _start, wrong result arity

def test_run_names_a_missing_import_before_instrumenting(tmp_path):
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wat2wasm(COMMAND))
    r = asyncpy("run", wasm, tmp_path=tmp_path)
    assert r.returncode == 1
    one_line(r.stderr, "env.pause", "--host", "IMPORTS")
    assert nothing_instrumented(tmp_path)


def test_run_missing_import_never_reaches_the_transform(tmp_path, monkeypatch):
    from asyncpy import cli

    monkeypatch.setenv("ASYNCPY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("asyncpy.pipeline.transform_loaded",
                        lambda *a, **k: pytest.fail("instrumented before naming the missing import"))
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wat2wasm(COMMAND))
    r = CliRunner().invoke(cli.main, ["run", str(wasm)])
    assert r.exit_code == 1
    one_line(r.stderr, "env.pause")


def test_run_without_start_export_before_instrumenting(tmp_path):
    wasm = tmp_path / "lib.wasm"
    wasm.write_bytes(wat2wasm(REACTOR))
    r = asyncpy("run", wasm, tmp_path=tmp_path)
    assert r.returncode == 1
    one_line(r.stderr, "no _start export", "reactor")
    assert nothing_instrumented(tmp_path)


def test_run_with_host_supplying_the_import(tmp_path):
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wat2wasm(COMMAND))
    host = host_file(tmp_path, "import asyncio\n"
                               "async def pause(n):\n    await asyncio.sleep(0)\n"
                               "IMPORTS = {'env': {'pause': pause}}\n")
    r = asyncpy("run", wasm, "--host", host, tmp_path=tmp_path)
    assert (r.returncode, r.stdout) == (0, b"hi\n"), r.stderr


def test_run_reports_a_trap_in_the_program_as_its_own_failure(tmp_path):
    """A trap is the program's failure, not asyncpy's: one line naming the
    cause and the function, never "internal error"."""
    wasm = tmp_path / "boom.wasm"
    wasm.write_bytes(wat2wasm("""(module
      (memory (export "memory") 1)
      (func $boom (unreachable))
      (func (export "_start") (call $boom)))"""))
    r = asyncpy("run", wasm, tmp_path=tmp_path)
    assert r.returncode == 1
    one_line(r.stderr, "trapped", "unreachable", "(in boom)")
    assert b"internal error" not in r.stderr


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_run_wrong_result_arity_names_the_import(kind, tmp_path):
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wat2wasm(COMMAND))
    body = ("def pause(n):\n    return 5\n" if kind == "sync" else
            "import asyncio\nasync def pause(n):\n    await asyncio.sleep(0)\n    return 5\n")
    host = host_file(tmp_path, body + "IMPORTS = {'env': {'pause': pause}}\n")
    r = asyncpy("run", wasm, "--host", host, tmp_path=tmp_path)
    assert r.returncode == 1
    one_line(r.stderr, "import env.pause returned 5", "its type is (i32) -> ()")


def test_instance_missing_import_names_its_type():
    from asyncpy.host import HostError, Instance

    with pytest.raises(HostError, match=r"imports env\.pause \(i32\) -> \(\), which nothing supplies"):
        Instance(wat2wasm(COMMAND), {}, wasi=True)


def test_instance_result_of_wrong_type():
    from asyncpy.host import HostError, Instance

    wasm = wat2wasm('(module (import "env" "get" (func $g (result i32 i64)))'
                    ' (func (export "f") (result i32) (drop (call $g))))')
    inst = Instance(wasm, {"env": {"get": lambda: 3}})
    with pytest.raises(HostError, match=r"import env\.get returned 3 \(it must return 2 values\), "
                                        r"but its type is \(\) -> \(i32, i64\)"):
        asyncio.run(inst.call("f"))
    inst = Instance(wasm, {"env": {"get": lambda: (1, None)}})
    with pytest.raises(HostError, match="returned None as result 1"):
        asyncio.run(inst.call("f"))


# --------------------------------------------------------------------------
# 3. WAT syntax errors keep line and column

@pytest.mark.parametrize("text, line, col, words", [
    ("(module\n  (func\n    (i32.const 1 )))))\n", 3, 21, "extra tokens"),
    ("(module\n (func\n  (i32.add (i32.const 1) (i32.const 2) 3)))", 3, 40, "expected an instruction"),
    ("(module (func (nop)", 1, 20, "expected `)`"),
])
def test_wat_error_has_line_and_column(text, line, col, words, tmp_path):
    from asyncpy import cli

    path = tmp_path / "m.wat"
    path.write_text(text)
    r = CliRunner().invoke(cli.main, ["analyze", str(path)])
    assert r.exit_code == 1
    msg = one_line(r.stderr, words)
    assert msg.startswith(f"asyncpy: error: {path}:{line}:{col}: cannot parse WAT: "), msg


# --------------------------------------------------------------------------
# 4. progress: a bar on a terminal, silence elsewhere

def _on_pty(args, tmp_path) -> tuple[int, str]:
    """Run `python -m asyncpy ARGS` with stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "asyncpy", *map(str, args)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, env=env_with_cache(tmp_path))
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:     # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    os.close(master)
    p.stdout.read()
    return p.wait(), b"".join(chunks).decode(errors="replace")


def test_transform_progress_bar_on_a_terminal(tmp_path):
    rc, err = _on_pty(["transform", SLEEPY, "--imports", "env.sleep", "-o", tmp_path / "o.wasm"], tmp_path)
    assert rc == 0, err
    assert "asyncpy: analysing..." in err
    assert re.search(r"asyncpy: instrumenting 4 functions +\[#+\] +4/4", err), err


def test_transform_progress_quiet_on_a_terminal(tmp_path):
    rc, err = _on_pty(["transform", SLEEPY, "--imports", "env.sleep", "-q", "-o", tmp_path / "o.wasm"],
                      tmp_path)
    assert (rc, err) == (0, "")


def test_transform_progress_silent_off_a_terminal(tmp_path):
    r = asyncpy("transform", SLEEPY, "--imports", "env.sleep", "-o", tmp_path / "o.wasm", tmp_path=tmp_path)
    assert r.returncode == 0 and r.stderr == b""
    assert r.stdout.decode().startswith("examples/sleepy.wat -> ") or str(SLEEPY) in r.stdout.decode()


def test_run_progress_on_first_instrumenting(tmp_path):
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wat2wasm(COMMAND))
    host = host_file(tmp_path, "def pause(n):\n    pass\nIMPORTS = {'env': {'pause': pause}}\n")
    rc, err = _on_pty(["run", wasm, "--host", host], tmp_path)
    assert rc == 0, err
    assert "instrumenting" in err and re.search(r"instrumenting 1 function +\[#+\] +1/1", err), err
    rc, err = _on_pty(["run", wasm, "--host", host], tmp_path)      # cached: nothing to show
    assert (rc, err) == (0, "")


class Recorder:
    def __init__(self):
        self.calls = []

    def step(self, message):
        self.calls.append(("step", message))

    def start(self, total, label):
        self.calls.append(("start", total, label))

    def advance(self, n=1):
        self.calls.append(("advance", n))

    def finish(self):
        self.calls.append(("finish",))


def test_progress_protocol_counts_every_function():
    from asyncpy.options import AnalysisOptions, TransformOptions
    from asyncpy.pipeline import transform_loaded
    from asyncpy.progress import Progress
    from asyncpy.wasm import load

    rec = Recorder()
    assert isinstance(rec, Progress)
    options = TransformOptions(analysis=AnalysisOptions(imports=("env.sleep",)))
    result = transform_loaded(load(SLEEPY), options, progress=rec)
    starts = [c for c in rec.calls if c[0] == "start"]
    assert starts == [("start", 4, "instrumenting 4 functions")]
    i = rec.calls.index(starts[0])
    j = rec.calls.index(("finish",))
    assert i < j and sum(c[1] for c in rec.calls[i + 1:j]) == len(result.report.instrumented) == 4


def test_progress_singular_for_one_function():
    from asyncpy.options import TransformOptions
    from asyncpy.pipeline import transform_loaded
    from asyncpy.wasm import load_bytes

    rec = Recorder()
    one = wat2wasm('(module (import "env" "sleep" (func $s)) (memory 1) (func (export "f") (call $s)))')
    transform_loaded(load_bytes(one, "<one>"), TransformOptions(), progress=rec)
    assert ("start", 1, "instrumenting 1 function") in rec.calls


def test_summary_lines_are_singular_for_one(tmp_path):
    from asyncpy import cli

    path = tmp_path / "one.wat"
    path.write_text('(module (import "env" "sleep" (func $s)) (memory 1) (func (export "f") (call $s)))')
    r = CliRunner().invoke(cli.main, ["analyze", str(path)])
    assert r.stdout.startswith(f"{path}: 1 of 1 function can pause "), r.stdout
    r = CliRunner().invoke(cli.main, ["transform", str(path), "-o", str(tmp_path / "o.wasm")])
    assert "instrumented 1 of 1 function (1 pause site)," in r.stdout, r.stdout


# --------------------------------------------------------------------------
# 5. entry points: python -m asyncpy, standard input, Ctrl-C, help

def test_python_dash_m_asyncpy(tmp_path):
    r = asyncpy("--help", tmp_path=tmp_path)
    assert r.returncode == 0
    text = r.stdout.decode()
    assert text.startswith("Usage: asyncpy ")
    examples = text.split("Examples:")[1]
    for cmd in ("asyncpy analyze ", "asyncpy transform ", "asyncpy run "):
        assert cmd in examples, text
    r = asyncpy("analyze", SLEEPY, "--imports", "env.sleep", tmp_path=tmp_path)
    assert r.returncode == 0 and b"4 of 9 functions can pause" in r.stdout


@pytest.mark.parametrize("command", ["analyze", "transform", "run"])
def test_each_command_help_has_examples(command, tmp_path):
    from asyncpy import cli

    r = CliRunner().invoke(cli.main, [command, "--help"])
    assert r.exit_code == 0
    examples = r.stdout.split("Examples:")[1]
    assert examples.count(f"asyncpy {command} ") >= 3, r.stdout


@pytest.mark.parametrize("form", ["wat", "wasm"])
def test_analyze_reads_stdin(form, tmp_path):
    data = SLEEPY.read_bytes() if form == "wat" else wat2wasm(SLEEPY.read_text())
    r = asyncpy("analyze", "-", "--imports", "env.sleep", tmp_path=tmp_path, input=data)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("<stdin>: 4 of 9 functions can pause")


def test_transform_reads_stdin_and_writes_stdout(tmp_path):
    import wasmtime

    r = asyncpy("transform", "-", "--imports", "env.sleep", "-q",
                tmp_path=tmp_path, input=SLEEPY.read_bytes())
    assert r.returncode == 0, r.stderr
    wasmtime.Module.validate(wasmtime.Engine(), r.stdout)
    r2 = asyncpy("transform", "-", "--imports", "env.sleep", "-o", tmp_path / "o.wasm", tmp_path=tmp_path,
                 input=wat2wasm(SLEEPY.read_text()))
    assert r2.returncode == 0 and (tmp_path / "o.wasm").read_bytes() == r.stdout
    assert r2.stdout.decode().startswith("<stdin> -> ")


def test_stdin_errors_are_one_line(tmp_path):
    r = asyncpy("analyze", "-", tmp_path=tmp_path, input=b"")
    one_line(r.stderr, "<stdin>", "empty")
    r = asyncpy("analyze", "-", tmp_path=tmp_path, input=b"(module (func")
    one_line(r.stderr, "<stdin>:1:14: cannot parse WAT")


def test_binary_to_a_terminal_is_refused(tmp_path):
    master, slave = pty.openpty()
    r = subprocess.run([sys.executable, "-m", "asyncpy", "transform", str(SLEEPY), "-o", "-"],
                       stdout=slave, stderr=subprocess.PIPE, cwd=ROOT, env=env_with_cache(tmp_path))
    os.close(slave)
    os.close(master)
    assert r.returncode == 1
    one_line(r.stderr, "terminal")


def test_ctrl_c_during_run_exits_130(tmp_path):
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(wat2wasm(COMMAND))
    host = host_file(tmp_path, "import asyncio, sys\n"
                               "async def pause(n):\n"
                               "    print('paused', file=sys.stderr, flush=True)\n"
                               "    await asyncio.Event().wait()\n"
                               "IMPORTS = {'env': {'pause': pause}}\n")
    p = subprocess.Popen([sys.executable, "-m", "asyncpy", "run", str(wasm), "--host", str(host)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         env=env_with_cache(tmp_path))
    assert p.stderr.readline() == b"paused\n"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate()
    assert p.returncode == 130
    assert err == b"asyncpy: interrupted\n" and out == b""


def test_ctrl_c_exit_status_for_wasm_opt(monkeypatch, capsys):
    from asyncpy.cli import wasmopt

    def interrupted(argv):
        raise KeyboardInterrupt
    monkeypatch.setattr(wasmopt, "run", interrupted)
    with pytest.raises(SystemExit) as e:
        wasmopt.main(["--asyncify", "x.wasm", "-o", "y.wasm"])
    assert e.value.code == 130
    assert capsys.readouterr().err == "asyncpy-wasm-opt: interrupted\n"


def test_shared_wrapper_maps_errors():
    from asyncpy.errors import one_line_errors

    for exc, code in ((AsyncpyError("bad"), 1), (RuntimeError("bug\nsecond line"), 1),
                      (KeyboardInterrupt(), 130)):
        with pytest.raises(SystemExit) as e, one_line_errors("prog"):
            raise exc
        assert e.value.code == code


# --------------------------------------------------------------------------
# 6. examples/run.py: one line for ordinary mistakes

def _run_py():
    spec = importlib.util.spec_from_file_location("examples_run", ROOT / "examples" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_py(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "examples" / "run.py"), *args], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_examples_run_missing_c_file():
    r = run_py("examples/nope.c", "handle:1")
    assert r.returncode == 1
    assert r.stderr == "run.py: error: examples/nope.c: no such file (the examples are examples/*.c)\n"


def test_examples_run_bad_argument_before_building():
    r = run_py("examples/server.c", "handle:one")
    assert r.returncode == 1
    assert r.stderr == "run.py: error: handle:one: arguments must be integers, as in handle:1,2\n"


def test_examples_run_unknown_export_and_missing_argument(tmp_path):
    run = _run_py()
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(wat2wasm('(module (memory (export "memory") 1)'
                              ' (func (export "handle") (param i32) (result i32) (local.get 0))'
                              ' (func (export "peek") (result i32) (i32.const 7)))'))
    store, ex = run.instantiate(wasm)
    assert run.call_export(store, ex, "handle:5")[2] == 5
    with pytest.raises(run.UsageError, match=r"^nope: the module has no exported function 'nope' "
                                             r"\(it exports: handle, peek\)$"):
        run.call_export(store, ex, "nope")
    with pytest.raises(run.UsageError,
                       match=r"^handle: handle takes 1 argument \(i32\), got 0; e\.g\. handle:1$"):
        run.call_export(store, ex, "handle")
    with pytest.raises(run.UsageError, match="peek takes 0 arguments"):
        run.call_export(store, ex, "peek:1")
