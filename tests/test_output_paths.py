"""Where outputs go (asyncpy.wasm.output, the one writer of every command).

A symlink is written through, a character device or FIFO gets a plain
write, anything else that is not a regular file is refused before any
work, the input is never the output, and a failed write (a full disk,
Ctrl-C) leaves an existing output whole. Special files are made here, in
tmp_path, never taken from /dev.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import wasmtime
from click.testing import CliRunner

from asyncpy.errors import AsyncpyError, OutputError
from asyncpy.wasm import output as outmod
from asyncpy.wasm.output import How, output_target, write_output
from tests.support import ROOT, run_cli

SLEEPY = ROOT / "examples" / "sleepy.wat"
ARGS = ["--imports", "env.sleep", "-q"]


def valid(data: bytes) -> bool:
    wasmtime.Module.validate(wasmtime.Engine(), data)
    return data[:4] == b"\0asm"


def transform_in_process(out, monkeypatch=None, *extra):
    """`asyncpy transform` via click's runner; with `monkeypatch`, the
    transform itself fails the test if it is reached (the refusal must come
    before any work)."""
    from asyncpy import cli

    if monkeypatch is not None:
        def no_work(*a, **k):
            raise AssertionError("the transform ran although the output was refused")
        monkeypatch.setattr("asyncpy.pipeline.transform_loaded", no_work)
    return CliRunner().invoke(cli.main, ["transform", str(SLEEPY), "-o", str(out), *ARGS, *extra],
                              catch_exceptions=False)


def one_error_line(stderr: str, *words: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("asyncpy: error: "), stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    for w in words:
        assert w in lines[0], stderr
    return lines[0]


def mknod_or_skip(path: Path, kind: int, dev: tuple[int, int]) -> Path:
    try:
        os.mknod(path, kind | 0o666, os.makedev(*dev))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot create a device node here ({e.strerror}); "
                    "needs root outside a restricted container")
    return path


# --------------------------------------------------------------------------
# symlinks: written through

def test_symlink_is_written_through(tmp_path):
    elsewhere = tmp_path / "real"
    elsewhere.mkdir()
    target = elsewhere / "app.wasm"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.wasm"
    link.symlink_to(target)
    r = run_cli("transform", SLEEPY, "-o", link, *ARGS)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert valid(target.read_bytes())
    assert stat.S_IMODE(target.stat().st_mode) == 0o640          # the target keeps its mode
    # the temporary file lived (and died) in the target's directory
    assert sorted(p.name for p in elsewhere.iterdir()) == ["app.wasm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.wasm", "real"]


def test_symlink_chain_and_dangling_link(tmp_path):
    (tmp_path / "d").mkdir()
    final = tmp_path / "d" / "final.wasm"
    (tmp_path / "b.wasm").symlink_to("d/final.wasm")         # relative, dangling
    (tmp_path / "a.wasm").symlink_to(tmp_path / "b.wasm")
    write_output(tmp_path / "a.wasm", b"\0asm\x01\0\0\0")
    assert final.read_bytes() == b"\0asm\x01\0\0\0"
    assert (tmp_path / "a.wasm").is_symlink() and (tmp_path / "b.wasm").is_symlink()


def test_symlink_loop_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "x").symlink_to(tmp_path / "y")
    (tmp_path / "y").symlink_to(tmp_path / "x")
    r = transform_in_process(tmp_path / "x", monkeypatch)
    assert r.exit_code == 1
    one_error_line(r.stderr, str(tmp_path / "x"), "symbolic links")


# --------------------------------------------------------------------------
# character devices and FIFOs: a plain write, the node stays

def test_fifo_gets_a_plain_write(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run_cli("transform", SLEEPY, "-o", fifo, *ARGS)
    reader.join()
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert valid(got[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_character_device_gets_a_plain_write(tmp_path):
    null = mknod_or_skip(tmp_path / "null", stat.S_IFCHR, (1, 3))     # like /dev/null
    r = run_cli("transform", SLEEPY, "-o", null, *ARGS)
    assert r.returncode == 0, r.stderr
    st = os.lstat(null)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_full_character_device_is_one_line(tmp_path):
    full = mknod_or_skip(tmp_path / "full", stat.S_IFCHR, (1, 7))     # like /dev/full
    r = run_cli("transform", SLEEPY, "-o", full, *ARGS)
    assert r.returncode == 1
    one_error_line(r.stderr, str(full), "No space left on device")
    assert stat.S_ISCHR(os.lstat(full).st_mode)


# --------------------------------------------------------------------------
# anything else: refused before the work

def _socket(path: Path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return path


@pytest.mark.parametrize("kind, word", [("directory", "a directory"), ("socket", "a socket"),
                                        ("block-device", "a block device"),
                                        ("missing-dir", "no directory")])
def test_other_kinds_refused_before_work(kind, word, tmp_path, monkeypatch):
    if kind == "directory":
        path = tmp_path / "d.wasm"
        path.mkdir()
    elif kind == "socket":
        path = _socket(tmp_path / "s.wasm")
    elif kind == "block-device":
        path = mknod_or_skip(tmp_path / "b.wasm", stat.S_IFBLK, (7, 0))
    else:
        path = tmp_path / "no" / "such" / "x.wasm"
    before = os.lstat(path).st_mode if os.path.lexists(path) else None
    r = transform_in_process(path, monkeypatch)
    assert r.exit_code == 1
    one_error_line(r.stderr, str(path), word)
    assert (os.lstat(path).st_mode if os.path.lexists(path) else None) == before


def test_wasm_opt_uses_the_same_writer(tmp_path, monkeypatch):
    from asyncpy.cli import wasmopt

    sock = _socket(tmp_path / "s.wasm")
    monkeypatch.setattr("asyncpy.pipeline.transform_loaded",
                        lambda *a, **k: pytest.fail("transform ran before the output check"))
    with pytest.raises(OutputError, match="a socket"):
        wasmopt.run(["--asyncify", str(SLEEPY), "-o", str(sock)])
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = subprocess.run([sys.executable, "-m", "asyncpy.cli.wasmopt", "--asyncify", str(SLEEPY),
                        "--pass-arg=asyncify-imports@env.sleep", "--output", str(fifo)],
                       capture_output=True, text=True, cwd=ROOT)
    reader.join()
    assert r.returncode == 0, r.stderr
    assert valid(got[0]) and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_read_only_output_file_refused(tmp_path, monkeypatch):
    out = tmp_path / "out.wasm"
    out.write_bytes(b"keep")
    os.chmod(out, 0o444)
    if os.access(out, os.W_OK):
        pytest.skip("running as root: a read-only mode does not stop root")
    r = transform_in_process(out, monkeypatch)
    assert r.exit_code == 1
    one_error_line(r.stderr, "read-only")
    assert out.read_bytes() == b"keep"


# --------------------------------------------------------------------------
# the input is never the output

@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_input_is_never_the_output(how, tmp_path):
    src = tmp_path / "in.wat"
    src.write_bytes(SLEEPY.read_bytes())
    out = {"same": src, "symlink": tmp_path / "l.wat", "hardlink": tmp_path / "h.wat"}[how]
    if how == "symlink":
        out.symlink_to("in.wat")
    elif how == "hardlink":
        os.link(src, out)
    r = run_cli("transform", src, "-o", out, *ARGS)
    assert r.returncode == 1
    one_error_line(r.stderr, "overwrite the input")
    assert src.read_bytes() == SLEEPY.read_bytes()


# --------------------------------------------------------------------------
# failures leave the old output whole

@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs mounted on a directory of tmp_path (root only)."""
    d = tmp_path / "small"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _fill(d: Path) -> None:
    """Fill the file system of `d` to the last block."""
    fd = os.open(d / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_full_disk_keeps_the_old_output(small_tmpfs):
    out = small_tmpfs / "out.wasm"
    out.write_bytes(b"old output")
    _fill(small_tmpfs)
    r = run_cli("transform", SLEEPY, "-o", out, *ARGS)
    assert r.returncode == 1
    one_error_line(r.stderr, str(out), "no space left on device", "unchanged")
    assert out.read_bytes() == b"old output"
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler", "out.wasm"]


def test_read_only_file_system_refused_before_work(small_tmpfs, monkeypatch):
    out = small_tmpfs / "out.wasm"
    out.write_bytes(b"old output")
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    r = transform_in_process(out, monkeypatch)
    assert r.exit_code == 1
    one_error_line(r.stderr, "read-only file system")
    assert out.read_bytes() == b"old output"


def test_unwritable_directory_refused_before_work(tmp_path, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir()
    os.chmod(d, 0o555)
    try:
        if os.access(d, os.W_OK):
            pytest.skip("running as root: directory modes do not stop root (the tmpfs test covers it)")
        r = transform_in_process(d / "out.wasm", monkeypatch)
        assert r.exit_code == 1
        one_error_line(r.stderr, "not writable")
    finally:
        os.chmod(d, 0o755)


@pytest.mark.parametrize("fail_in", ["write", "fsync", "replace"])
@pytest.mark.parametrize("exc", ["enospc", "ctrl-c"])
def test_failed_write_leaves_nothing_behind(fail_in, exc, tmp_path, monkeypatch):
    out = tmp_path / "out.wasm"
    out.write_bytes(b"old")
    error = OSError(errno.ENOSPC, "No space left on device") if exc == "enospc" else KeyboardInterrupt()

    def boom(*a, **k):
        raise error
    if fail_in == "write":
        real_fdopen = os.fdopen

        class Failing:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *a):
                self.f.close()

            def write(self, data):
                raise error
        monkeypatch.setattr(outmod.os, "fdopen", lambda fd, mode: Failing(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(outmod.os, fail_in, boom)
    with pytest.raises(OutputError if exc == "enospc" else KeyboardInterrupt) as info:
        write_output(out, b"new" * 1000)
    if exc == "enospc":
        assert str(info.value) == (f"cannot write {out}: no space left on device; "
                                   "the existing file is unchanged")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.wasm"]


def test_ctrl_c_in_transform_exits_130_and_keeps_old_output(tmp_path, monkeypatch):
    from asyncpy import cli

    out = tmp_path / "out.wasm"
    out.write_bytes(b"old")
    monkeypatch.setattr(outmod.os, "replace", lambda a, b: (_ for _ in ()).throw(KeyboardInterrupt()))
    r = CliRunner().invoke(cli.main, ["transform", str(SLEEPY), "-o", str(out), *ARGS])
    assert r.exit_code == 130, r.output
    assert r.stderr == "asyncpy: interrupted\n"
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.wasm"]


# --------------------------------------------------------------------------
# standard output

def test_dash_writes_to_stdout(tmp_path):
    r = subprocess.run([sys.executable, "-m", "asyncpy", "transform", str(SLEEPY), "-o", "-", *ARGS],
                       capture_output=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    assert valid(r.stdout)
    assert list(tmp_path.iterdir()) == []


def test_output_target_decisions(tmp_path):
    assert output_target("-").how is How.STDOUT
    assert output_target(tmp_path / "new.wasm").how is How.REPLACE
    os.mkfifo(tmp_path / "p")
    assert output_target(tmp_path / "p").how is How.STREAM
    with pytest.raises(AsyncpyError):
        output_target(tmp_path)
