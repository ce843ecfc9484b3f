"""Fuzzing asyncpy: mutated real modules and generated pausing programs.

Two oracles, shared by tests/test_fuzz.py (small budgets) and the longer run
(`python -m tests.fuzz --cases 5000`):

* Mutated modules (bit flips, byte values, truncation, section shuffles,
  duplication and deletion, LEB corruption, junk and custom sections) of
  the WAT and corpus programs: asyncpy must either refuse them with one
  clear line (an `AsyncpyError`; exit status 1 from the CLI) or produce a
  valid module. Never a traceback, an "internal error", an abort inside
  libbinaryen, a hang, a touched input or a clobbered output.
* Generated programs (`programs()`, a hypothesis strategy): WAT modules with
  direct and indirect calls, bounded loops, br_if/br_table, blocks with
  values, locals of every number type and v128, and calls of the pausing
  import `env.sleep` in statement and expression position. Run on
  tests/pausehost.py, asyncpy's output must give the same result with any
  set of pause points as the original without pauses, and so must
  Binaryen's own asyncify output.

Output paths (`outputs`): `asyncpy transform` and `asyncpy-wasm-opt` writing
to a symlink (chains, dangling, to a directory, a loop), a FIFO, character
devices like /dev/null and /dev/full made in a temporary directory, a
socket, a block device, a directory, a read-only directory, a read-only or
full 64 KiB tmpfs mounted for the case (skipped, with a message, where
mounting is not permitted), and the input itself by name, symlink or hard
link. A symlink must stay a link with its target written, a FIFO or device
must stay what it was, a refusal must be one line saying why, and a failed
run must leave everything as it was, with no temporary file behind.

The longer run executes the mutation cases in worker processes, so that an
abort kills a worker, not the run: the parent saves the input that killed it
and starts a new worker. `--big` adds the big-input check: a 10 MB+ Go
program and a function with 65,536 locals, transformed in a child process
whose peak RSS is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from asyncpy.abi import DATA, GET_STATE, SEPARATE_MEMORY, START_UNWIND, STATE
from asyncpy.errors import AsyncpyError
from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.wasm import sections

ROOT = Path(__file__).resolve().parent.parent


class Finding(Exception):
    """A bug: asyncpy broke one of the rules above on this input."""


# ---------------------------------------------------------------------------
# Seed modules

def seed_modules(corpus: bool = True, go: bool = False) -> dict[str, bytes]:
    """Valid modules to mutate: the test WAT programs, corpus/wat, examples,
    and (when asked) the C programs of the corpus and Go hello."""
    import wasmtime

    from tests import wat_modules
    from tests.pause_programs import COROUTINES, PROGRAMS

    out: dict[str, bytes] = {}
    texts = {f"pause/{k}": v for k, v in PROGRAMS.items()}
    texts["pause/coroutines"] = COROUTINES
    texts.update({f"analysis/{k}": v for k, v in wat_modules.ALL.items()})
    for p in sorted((ROOT / "corpus" / "wat").glob("*.wat")) + sorted((ROOT / "examples").glob("*.wat")):
        texts[f"{p.parent.name}/{p.stem}"] = p.read_text()
    for k, v in texts.items():
        try:
            out[k] = bytes(wasmtime.wat2wasm(v))
        except Exception:   # a text that needs a newer parser: not a seed
            pass
    if corpus:
        try:
            from corpus import build
            for name in ("fnptr", "recursion", "qsort", "pingpong", "reactor"):
                out[f"c/{name}"] = build.c(name, reactor=name == "reactor").read_bytes()
        except Exception as e:  # pragma: no cover - corpus tools missing
            print(f"fuzz: no C corpus ({e})", file=sys.stderr)
    if go:
        from tests.support import go_hello
        out["go/hello"] = go_hello().read_bytes()
    return out


# ---------------------------------------------------------------------------
# Mutations

from asyncpy.wasm import custom_section, uleb  # noqa: E402  (the writers the loader uses)


def section_list(data: bytes) -> list[tuple[int, int, int, int]] | None:
    try:
        return list(sections(data))
    except AsyncpyError:
        return None


CUSTOM_NAMES = [b"name", b"target_features", b"producers", b".debug_info", b".debug_line",
                b"linking", b"dylink.0", b"sourceMappingURL", b"", b"reloc.CODE"]
FEATURE_NAMES = [b"gc", b"strings", b"exception-handling", b"tail-call", b"memory64", b"multimemory",
                 b"simd128", b"relaxed-simd", b"atomics", b"bulk-memory", b"mutable-globals",
                 b"reference-types", b"multivalue", b"sign-ext", b"nontrapping-fptoint",
                 b"extended-const", b"typed-function-references", b"shared-everything", b"x"]
INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x40, 0x41, 0x0B, 0x10, 0x11, 0x20, 0x21, 0xFD, 0xFC]


@st.composite
def name_payload(draw) -> bytes:
    """A name section, sometimes well-formed with odd names."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=40))
    sub = draw(st.sampled_from([0, 1, 2, 4, 6, 7, 9, 12]))
    names = draw(st.lists(st.one_of(st.binary(max_size=12), st.sampled_from(
        [b"", b"0", b"12", START_UNWIND.encode(), GET_STATE.encode(), STATE.encode(),
         DATA.encode(), SEPARATE_MEMORY.encode(), f"{SEPARATE_MEMORY}_init".encode(), b"sleep", b"main",
         "\u65e5\u672c".encode(), b"a b", b"\"", b"\\", b"$x"])), max_size=4))
    if sub == 0:
        body = uleb(len(names[0])) + names[0] if names else b""
    else:
        entries = b"".join(uleb(i) + uleb(len(n)) + n for i, n in enumerate(names))
        body = uleb(len(names)) + entries
        if sub == 2:
            body = uleb(1) + uleb(draw(st.integers(0, 4))) + body
    return bytes([sub]) + uleb(len(body)) + body


@st.composite
def mutation(draw, data: bytes) -> tuple[str, bytes]:
    """One mutation of `data`: (description, new bytes)."""
    n = len(data)
    kind = draw(st.sampled_from(["flip", "byte", "truncate", "shuffle", "duplicate", "delete",
                                 "leb", "insert", "custom", "name", "code"]))
    pos = draw(st.integers(0, max(n - 1, 0)))
    secs = section_list(data)
    if kind in ("shuffle", "duplicate", "delete", "leb", "code") and not secs:
        kind = "flip"
    if kind == "flip":
        bits = draw(st.lists(st.integers(0, max(8 * n - 1, 0)), min_size=1, max_size=8))
        b = bytearray(data)
        for bit in bits:
            if bit // 8 < n:
                b[bit // 8] ^= 1 << (bit % 8)
        return f"flip bits {bits}", bytes(b)
    if kind == "byte":
        v = draw(st.one_of(st.sampled_from(INTERESTING), st.integers(0, 255)))
        return f"byte {pos} = {v:#x}", data[:pos] + bytes([v]) + data[pos + 1:]
    if kind == "truncate":
        return f"truncate at {pos}", data[:pos]
    if kind == "insert":
        junk = draw(st.binary(min_size=1, max_size=16))
        return f"insert {junk.hex()} at {pos}", data[:pos] + junk + data[pos:]
    if kind == "custom":
        name = draw(st.sampled_from(CUSTOM_NAMES))
        if name == b"target_features" and draw(st.booleans()):
            feats = draw(st.lists(st.tuples(st.sampled_from([b"+", b"-", b"=", b"?"]),
                                            st.sampled_from(FEATURE_NAMES)), max_size=4))
            payload = uleb(len(feats)) + b"".join(p + uleb(len(f)) + f for p, f in feats)
        elif name == b"name":
            payload = draw(name_payload())
        else:
            payload = draw(st.binary(max_size=32))
        where = 8 if not secs else draw(st.sampled_from([8] + [end for _, _, end, _ in secs]))
        return f"custom {name!r} at {where}", data[:where] + custom_section(name, payload) + data[where:]
    if kind == "name":
        payload = draw(name_payload())
        # replace existing name sections, or add one at the end
        keep = b"".join(data[s:e] for sid, s, e, p in (secs or [])
                        if not (sid == 0 and data[p:p + 5] == b"\x04name"))
        if secs is None:
            keep = data
        else:
            keep = data[:8] + keep
        return "name section", keep + custom_section(b"name", payload)
    i = draw(st.integers(0, len(secs) - 1))
    sid, start, end, payload = secs[i]
    if kind == "shuffle":
        j = draw(st.integers(0, len(secs) - 1))
        parts = [data[s:e] for _, s, e, _ in secs]
        parts[i], parts[j] = parts[j], parts[i]
        return f"swap sections {i} and {j}", data[:8] + b"".join(parts)
    if kind == "duplicate":
        return f"duplicate section {i} (id {sid})", data[:end] + data[start:end]
    if kind == "delete":
        return f"delete section {i} (id {sid})", data[:start] + data[end:]
    if kind == "code":
        # a byte inside a section's payload, to an interesting value
        at = draw(st.integers(payload, max(payload, end - 1)))
        v = draw(st.sampled_from(INTERESTING))
        return f"section {i} byte {at} = {v:#x}", data[:at] + bytes([v]) + data[at + 1:]
    # "leb": the section's size
    size = end - payload
    how = draw(st.sampled_from(["delta", "overlong", "toolong", "huge"]))
    if how == "delta":
        new = uleb(max(0, size + draw(st.integers(-8, 8))))
    elif how == "overlong":          # 5 bytes: allowed by the spec
        raw = bytearray(uleb(size).ljust(5, b"\x80"))
        raw[len(uleb(size)) - 1] |= 0x80
        raw[4] &= 0x7F
        new = bytes(raw) if len(uleb(size)) < 5 else uleb(size)
    elif how == "toolong":           # 6 bytes: not allowed
        new = uleb(size)[:-1] + bytes([uleb(size)[-1] | 0x80]) + b"\x80\x80\x80\x80\x00"
    else:
        new = uleb(draw(st.sampled_from([2**32 - 1, 2**31, 2**28, n + 1])))
    return f"section {i} size -> {how} {new.hex()}", data[:start + 1] + new + data[payload:]


@st.composite
def mutated_module(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(seeds)))
    data = seeds[name]
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        what, data = draw(mutation(data))
        steps.append(what)
    return f"{name}: {'; '.join(steps)}", data


@st.composite
def api_options(draw, small: bool = True):
    """Transform options for the in-process oracle."""
    imports = draw(st.sampled_from([None, ("env.sleep", "env.pause"), ("*",), ("nothing.here",)]))
    opts = TransformOptions(analysis=AnalysisOptions(imports=imports,
                                                     narrow_indirect=draw(st.booleans())),
                            data_memory=draw(st.sampled_from(["default", "default", "separate"])),
                            check_bounds=draw(st.booleans()))
    optimize = draw(st.sampled_from([None, None, None, (1, 0), (2, 1)])) if small else None
    return opts, optimize, draw(st.booleans()) and small


# ---------------------------------------------------------------------------
# Oracles

@dataclass
class Outcome:
    kind: str       # "ok", "rejected" (by the loader), "refused" (by the transform)
    detail: str = ""


def _one_line(msg: str, what: str) -> None:
    if not msg or "\n" in msg or "Traceback" in msg:
        raise Finding(f"{what}: not one clear line: {msg!r}")
    if msg.startswith("internal error"):
        raise Finding(f"{what}: {msg}")


def check_api(data: bytes, options: TransformOptions = TransformOptions(), optimize=None,
              text: bool = False) -> Outcome:
    """The Python API on `data`: a clear AsyncpyError or a valid output."""
    import wasmtime

    from asyncpy.pipeline import transform_loaded
    from asyncpy.wasm import load_bytes, validation_engine

    try:
        loaded = load_bytes(data, "<fuzz>")
    except AsyncpyError as e:
        _one_line(str(e), "load")
        return Outcome("rejected", str(e))
    except Exception:
        raise Finding(f"load raised\n{traceback.format_exc()}") from None
    try:
        result = transform_loaded(loaded, options, optimize=optimize, text=text)
    except AsyncpyError as e:
        _one_line(str(e), "transform")
        return Outcome("refused", str(e))
    except Exception:
        raise Finding(f"transform raised\n{traceback.format_exc()}") from None
    if not text:
        try:
            wasmtime.Module.validate(validation_engine(), result.wasm)
        except wasmtime.WasmtimeError as e:
            raise Finding(f"output does not validate: {str(e).splitlines()[0]}") from None
        if not result.wasm.startswith(b"\0asm"):
            raise Finding("output is not a wasm binary")
        if optimize is None:    # (the optimiser may drop unused imports)
            check_interface(loaded.data, result.wasm)
    return Outcome("ok")


def check_interface(before: bytes, after: bytes) -> None:
    """The output imports and exports what the input did (less the
    asyncify.* runtime imports it resolves, plus what it adds)."""
    from asyncpy.wasm import interface_names

    old, new = interface_names(before), interface_names(after)
    if old is None or new is None:
        raise Finding("cannot read the import/export sections")
    lost = sorted({i for i in old[0] if i[0] != "asyncify"} - set(new[0]))
    if lost:
        raise Finding(f"imports lost or renamed: {lost[:3]}")
    lost = sorted(set(old[1]) - set(new[1]))
    if lost:
        raise Finding(f"exports lost or renamed: {lost[:3]}")


SENTINEL = b"previous output, must survive a failed run\n"


def check_cli(data: bytes, workdir: Path, args=(), timeout: float = 120) -> Outcome:
    """`asyncpy transform` in a child process: exit 0 and a valid output, or
    exit 1 with one line; the input untouched, a previous output replaced
    only on success, no temporary files left behind."""
    import wasmtime

    from asyncpy.wasm import validation_engine

    src = workdir / "in.wasm"
    out = workdir / "out.wasm"
    src.write_bytes(data)
    out.write_bytes(SENTINEL)
    past = time.time() - 3600
    os.utime(src, (past, past))
    before = os.stat(src).st_mtime_ns
    try:
        r = subprocess.run([sys.executable, "-m", "asyncpy.cli", "transform", str(src), "-o", str(out),
                            "-q", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise Finding(f"CLI hang (> {timeout} s)") from None
    if src.read_bytes() != data or os.stat(src).st_mtime_ns != before:
        raise Finding("the input file was modified")
    leftovers = sorted(p.name for p in workdir.iterdir() if p.name not in ("in.wasm", "out.wasm"))
    if leftovers:
        raise Finding(f"files left behind: {leftovers}")
    if r.returncode == 0:
        if r.stderr.strip() and any(not ln.startswith("asyncpy: warning:") for ln in r.stderr.splitlines()):
            raise Finding(f"exit 0 with stderr: {r.stderr!r}")
        try:
            wasmtime.Module.validate(validation_engine(), out.read_bytes())
        except wasmtime.WasmtimeError as e:
            raise Finding(f"CLI output does not validate: {str(e).splitlines()[0]}") from None
        return Outcome("ok")
    if r.returncode != 1:
        raise Finding(f"CLI died: exit status {r.returncode}; stderr: {r.stderr[-600:]!r}")
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("asyncpy: warning:")]
    if len(lines) != 1 or not lines[0].startswith("asyncpy: error: ") or r.stdout:
        raise Finding(f"CLI failure is not one error line: {r.stderr[-600:]!r}")
    _one_line(lines[0].removeprefix("asyncpy: error: "), "CLI")
    if out.read_bytes() != SENTINEL:
        raise Finding("a failed run replaced the existing output")
    return Outcome("refused", lines[0])


# ---------------------------------------------------------------------------
# Output paths: what is at `-o` decides how it is written (asyncpy.wasm.output)

OUTPUT_KINDS = ["new", "regular", "symlink", "symlink-chain", "dangling-symlink", "symlink-to-dir",
                "symlink-loop", "fifo", "char-null", "char-full", "directory", "socket", "block-device",
                "missing-dir", "read-only-dir", "read-only-fs", "full-disk", "input-itself",
                "symlink-to-input", "hardlink-to-input"]
# kinds that must be refused (exit 1, one line), and a word the line must hold
MUST_REFUSE = {"symlink-to-dir": "directory", "symlink-loop": "symbolic links", "directory": "directory",
               "socket": "socket", "block-device": "block device", "missing-dir": "no directory",
               "read-only-fs": "read-only file system", "full-disk": "no space left on device",
               "char-full": "No space left on device", "input-itself": "overwrite the input",
               "symlink-to-input": "overwrite the input", "hardlink-to-input": "overwrite the input"}
# asyncpy-wasm-opt writes in place, as wasm-opt does and as every build
# runs it (`wasm-opt x.wasm -o x.wasm`): the input is read whole first and
# the file replaced atomically, so these must succeed for it.
IN_PLACE = {"input-itself", "symlink-to-input", "hardlink-to-input"}
OUTPUT_INPUTS = {
    "sleepy": (ROOT / "examples" / "sleepy.wat").read_bytes(),
    "invalid": b"\0asm\x01\0\0\0\x01\x7f",
}


class _Mount:
    """A small tmpfs on `path` (root only); `ok` is False when mounting is
    not permitted here. Always unmounted on exit."""

    def __init__(self, path: Path, size: str = "64k"):
        self.path, self.size, self.ok = path, size, False

    def __enter__(self):
        self.path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.path)],
                           capture_output=True)
        self.ok = r.returncode == 0
        return self

    def __exit__(self, *exc):
        if self.ok:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


def _fill_fs(d: Path) -> None:
    fd = os.open(d / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)


def _snapshot(d: Path) -> dict[str, tuple]:
    """name -> (kind, contents or device) of everything in `d`, not following links."""
    import stat as st_

    out = {}
    for p in sorted(d.iterdir()):
        s_ = os.lstat(p)
        if st_.S_ISLNK(s_.st_mode):
            out[p.name] = ("link", os.readlink(p))
        elif st_.S_ISREG(s_.st_mode):
            out[p.name] = ("file", p.read_bytes())
        else:
            out[p.name] = (st_.S_IFMT(s_.st_mode), s_.st_rdev)
    return out


def check_output_case(rnd: random.Random, workdir: Path, skipped: set[str]) -> str:
    """One output-path case: a kind of output path, an input (valid or
    not), `asyncpy transform` or `asyncpy-wasm-opt`, in a child process.
    Returns the outcome ('ok:KIND', 'refused:KIND', 'skipped:KIND');
    raises Finding when a rule is broken."""
    import select
    import shutil
    import socket
    import stat as st_
    import threading

    import wasmtime

    from asyncpy.wasm import validation_engine

    kind = rnd.choice(OUTPUT_KINDS)
    in_name = "invalid" if rnd.random() < 0.2 else "sleepy"
    tool = rnd.choice(["transform", "wasm-opt"])
    case = workdir / f"case-{rnd.randrange(1 << 30)}"
    case.mkdir()
    src = case / "in.wat"
    src.write_bytes(OUTPUT_INPUTS[in_name])
    past = time.time() - 3600
    os.utime(src, (past, past))
    before = (src.read_bytes(), os.stat(src).st_mtime_ns)
    out = case / "out.wasm"
    real = out              # where the bytes should end up
    mount = None
    fifo_data: list[bytes] = []
    reader = None
    done = threading.Event()
    try:
        if kind == "regular":
            out.write_bytes(SENTINEL)
        elif kind in ("symlink", "symlink-chain", "dangling-symlink"):
            (case / "t").mkdir()
            real = case / "t" / "target.wasm"
            if kind != "dangling-symlink":
                real.write_bytes(SENTINEL)
            if kind == "symlink-chain":
                (case / "mid.wasm").symlink_to(real)
                out.symlink_to("mid.wasm")
            else:
                out.symlink_to(os.path.relpath(real, case))
        elif kind == "symlink-to-dir":
            (case / "d").mkdir()
            out.symlink_to("d")
        elif kind == "symlink-loop":
            (case / "loop2").symlink_to("out.wasm")
            out.symlink_to("loop2")
        elif kind == "fifo":
            os.mkfifo(out)

            def read_fifo():
                # Non-blocking, so that a run that never opens the FIFO
                # (refused input) does not leave this thread waiting.
                fd = os.open(out, os.O_RDONLY | os.O_NONBLOCK)
                chunks = []
                try:
                    while True:
                        r_, _, _ = select.select([fd], [], [], 0.05)
                        b = b""
                        if r_:
                            try:
                                b = os.read(fd, 65536)
                            except BlockingIOError:
                                pass
                        if b:
                            chunks.append(b)
                            continue
                        if r_ and not done.is_set():
                            time.sleep(0.02)    # end of file while no writer has come yet
                        if done.is_set():
                            while True:
                                try:
                                    b = os.read(fd, 65536)
                                except BlockingIOError:
                                    break
                                if not b:
                                    break
                                chunks.append(b)
                            break
                finally:
                    os.close(fd)
                    fifo_data.append(b"".join(chunks))
            reader = threading.Thread(target=read_fifo, daemon=True)
            reader.start()
            time.sleep(0.05)        # the reader holds the FIFO open before the writer comes
        elif kind in ("char-null", "char-full", "block-device"):
            mode = st_.S_IFBLK if kind == "block-device" else st_.S_IFCHR
            dev = {"char-null": (1, 3), "char-full": (1, 7), "block-device": (7, 0)}[kind]
            try:
                os.mknod(out, mode | 0o666, os.makedev(*dev))
            except OSError as e:
                skipped.add(f"{kind}: cannot create a device node ({e.strerror})")
                return f"skipped:{kind}"
        elif kind == "directory":
            out.mkdir()
        elif kind == "socket":
            s_ = socket.socket(socket.AF_UNIX)
            s_.bind(str(out))
            s_.close()
        elif kind == "missing-dir":
            out = real = case / "no" / "such" / "out.wasm"
        elif kind == "read-only-dir":
            (case / "ro").mkdir()
            out = real = case / "ro" / "out.wasm"
            out.write_bytes(SENTINEL)
            os.chmod(case / "ro", 0o555)
        elif kind in ("read-only-fs", "full-disk"):
            mount = _Mount(case / "fs").__enter__()
            if not mount.ok:
                skipped.add(f"{kind}: mounting a tmpfs is not permitted here")
                return f"skipped:{kind}"
            out = real = case / "fs" / "out.wasm"
            out.write_bytes(SENTINEL)
            if kind == "full-disk":
                _fill_fs(case / "fs")
            else:
                subprocess.run(["mount", "-o", "remount,ro", str(case / "fs")], check=True)
        elif kind == "input-itself":
            out = real = src
        elif kind == "symlink-to-input":
            out.symlink_to("in.wat")
        elif kind == "hardlink-to-input":
            os.link(src, out)
        watched = [d for d in {case, real.parent} if d.is_dir()]
        snap = {d: _snapshot(d) for d in watched}
        if tool == "transform":
            cmd = [sys.executable, "-m", "asyncpy.cli", "transform", str(src), "-o", str(out), "-q",
                   "--imports", "env.sleep"]
            prog = "asyncpy"
        else:
            cmd = [sys.executable, "-m", "asyncpy.cli.wasmopt", "--asyncify", str(src), "--output", str(out),
                   "--pass-arg=asyncify-imports@env.sleep"]
            prog = "asyncpy-wasm-opt"
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
        except subprocess.TimeoutExpired:
            raise Finding(f"{kind}/{tool}: hang (> 120 s)") from None
        finally:
            done.set()
            if reader is not None:
                reader.join(10)
        what = f"{kind}/{tool}/{in_name}"
        in_place = tool != "transform" and kind in IN_PLACE
        if in_place and in_name == "sleepy" and r.returncode != 0:
            raise Finding(f"{what}: writing in place failed: {r.stderr[-400:]!r}")
        if not in_place and (src.read_bytes(), os.stat(src).st_mtime_ns) != before:
            raise Finding(f"{what}: the input was modified")
        for d in watched:
            extra = [n for n in os.listdir(d) if n.endswith(".tmp")]
            if extra:
                raise Finding(f"{what}: temporary files left behind: {extra}")
        if r.returncode == 0:
            if (kind in MUST_REFUSE and not in_place) or in_name == "invalid":
                raise Finding(f"{what}: exit 0 where a refusal was due")
            if kind == "fifo":
                data = fifo_data[0] if fifo_data else b""
            elif kind in ("char-null",):
                data = None
            else:
                data = real.read_bytes()
            if data is not None:
                try:
                    wasmtime.Module.validate(validation_engine(), data)
                except wasmtime.WasmtimeError:
                    raise Finding(f"{what}: the written output does not validate") from None
            node = os.lstat(out)
            if kind.startswith("symlink") or kind == "dangling-symlink":
                if not st_.S_ISLNK(node.st_mode):
                    raise Finding(f"{what}: the symlink was replaced by a file")
            if kind == "fifo" and not st_.S_ISFIFO(node.st_mode):
                raise Finding(f"{what}: the FIFO was replaced")
            if kind == "char-null" and not (st_.S_ISCHR(node.st_mode) and node.st_rdev == os.makedev(1, 3)):
                raise Finding(f"{what}: the device node was replaced")
            return f"ok:{kind}"
        if r.returncode != 1:
            raise Finding(f"{what}: exit status {r.returncode}: {r.stderr[-400:]!r}")
        lines = r.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith(f"{prog}: error: ") or "internal error" in lines[0]:
            raise Finding(f"{what}: not one error line: {r.stderr[-600:]!r}")
        if kind in MUST_REFUSE and in_name == "sleepy" and MUST_REFUSE[kind] not in lines[0]:
            raise Finding(f"{what}: the error does not say why: {lines[0]!r}")
        # whatever was there is as it was (a file's contents, a link, a node)
        for d in watched:
            now = _snapshot(d)
            if now != snap[d]:
                changed = sorted(k for k in set(now) | set(snap[d]) if now.get(k) != snap[d].get(k))
                raise Finding(f"{what}: a failed run changed {changed} in {d.name}")
        return f"refused:{kind}"
    finally:
        if mount is not None:
            mount.__exit__(None, None, None)
        if (case / "ro").exists():
            os.chmod(case / "ro", 0o755)
        shutil.rmtree(case, ignore_errors=True)


# ---------------------------------------------------------------------------
# Generated programs

NUM = ["i32", "i64", "f32", "f64", "v128"]
SCRATCH = 65536          # stores go to [SCRATCH, SCRATCH + 1024), memory page 1
SCRATCH_WORDS = 128
BUF = 60000              # the host's unwind buffer: [32, 32 + BUF) in page 0
FUEL = 24                # function entries per run: bounds recursion and work


def zero(t: str) -> str:
    return "(v128.const i64x2 0 0)" if t == "v128" else f"({t}.const 0)"


def to_i64(t: str, e: str) -> str:
    return {"i32": f"(i64.extend_i32_u {e})", "i64": e, "f32": f"(i64.trunc_sat_f32_s {e})",
            "f64": f"(i64.trunc_sat_f64_s {e})",
            "v128": f"(i64.add (i64x2.extract_lane 0 {e}) (i64.const 0))"}[t]


@dataclass
class Func:
    params: list[str]
    result: str
    locals: list[str] = field(default_factory=list)
    counters: int = 0


class ProgramGen:
    """Draws one program. All choices go through `draw` (hypothesis), so
    failing programs shrink."""

    def __init__(self, draw):
        self.draw = draw
        self.label = 0

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, seq):
        return self.draw(st.sampled_from(seq))

    def fresh(self, prefix):
        self.label += 1
        return f"${prefix}{self.label}"

    def program(self) -> str:
        n = self.int(1, 5)
        self.funcs = [Func([self.pick(NUM) for _ in range(self.int(0, 3))], self.pick(NUM),
                           [self.pick(NUM) for _ in range(self.int(0, 4))]) for _ in range(n)]
        # the table: a few functions, grouped by type for call_indirect
        table = [self.int(0, n - 1) for _ in range(self.int(0, 4))]
        self.table = table
        self.sigs = sorted({self.sig(self.funcs[i]) for i in table})
        bodies = []
        for i, f in enumerate(self.funcs):
            self.cur = f
            self.cur_index = i
            stmts = [self.stmt(2) for _ in range(self.int(0, 4))]
            final = self.expr(f.result, 3)
            params = "".join(f" (param {t})" for t in f.params)
            locs = "".join(f" (local {t})" for t in f.locals) + " (local i32)" * f.counters
            bodies.append(
                f"  (func $f{i}{params} (result {f.result}){locs}\n"
                f"    (if (i32.eqz (global.get $fuel)) (then (return {zero(f.result)})))\n"
                f"    (global.set $fuel (i32.sub (global.get $fuel) (i32.const 1)))\n"
                + "".join(f"    {s}\n" for s in stmts) + f"    {final})")
        types = "".join(f"  (type $sig{k} (func{''.join(f' (param {t})' for t in p)} (result {r})))\n"
                        for k, (p, r) in enumerate(self.sigs))
        elem = f"  (elem (i32.const 0) func {' '.join(f'$f{i}' for i in table)})\n" if table else ""
        calls = []
        for i in sorted({0, self.int(0, n - 1)}):
            args = " ".join(self.const(t) for t in self.funcs[i].params)
            calls.append(f"    (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) "
                         f"{to_i64(self.funcs[i].result, f'(call $f{i} {args})')}))\n")
        # $mix never pauses and nests a call in a call: --asserts wraps
        # both calls of a function it does not instrument.
        helpers = ("  (func $mix2 (param i32 i32) (result i32)"
                   " (i32.xor (i32.mul (local.get 0) (i32.const 31))"
                   " (local.get 1)))\n"
                   "  (func $mix (param i32 i32) (result i32)\n"
                   "    (call $mix2 (call $mix2 (local.get 0) (local.get 1)) (i32.const 3)))\n")
        main = (
            helpers +
            '  (func (export "main") (result i64) (local $acc i64) (local $i i32)\n'
            "    (global.set $g (call $mix (global.get $g) (i32.const 5)))\n"
            + "".join(calls) +
            "    (loop $fold\n"
            "      (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 1000003))\n"
            f"        (i64.load (i32.add (i32.const {SCRATCH}) (i32.shl (local.get $i) (i32.const 3))))))\n"
            f"      (br_if $fold (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) "
            f"(i32.const {SCRATCH_WORDS}))))\n"
            "    (i64.add (local.get $acc) (i64.extend_i32_u (i32.add (global.get $g) "
            "(i32.mul (global.get $fuel) (i32.const 65536))))))\n")
        return ("(module\n"
                '  (import "env" "sleep" (func $sleep (param i32) (result i32)))\n'
                '  (import "env" "log" (func $log (param i64)))\n'
                '  (memory (export "memory") 2)\n'
                f"  (global $fuel (mut i32) (i32.const {FUEL}))\n"
                "  (global $g (mut i32) (i32.const 0))\n"
                f"{types}  (table {max(len(table), 1)} funcref)\n{elem}"
                + "\n".join(bodies) + "\n" + main + ")\n")

    @staticmethod
    def sig(f: Func):
        return (tuple(f.params), f.result)

    # -- expressions
    def const(self, t: str) -> str:
        if t == "v128":
            return f"(v128.const i32x4 {' '.join(str(self.int(-9, 9)) for _ in range(4))})"
        if t in ("f32", "f64"):
            return f"({t}.const {self.int(-40, 40) / 4})"
        return f"({t}.const {self.pick([0, 1, 2, 3, 7, -1, 100, 0x7FFF_FFFF])})"

    def locals_of(self, t: str) -> list[int]:
        f = self.cur
        return [i for i, lt in enumerate(f.params + f.locals) if lt == t]

    def addr(self, depth: int) -> str:
        if self.int(0, 2) == 0:
            return f"(i32.const {SCRATCH + 8 * self.int(0, SCRATCH_WORDS - 1)})"
        return (f"(i32.add (i32.const {SCRATCH}) (i32.and {self.expr('i32', depth - 1)} "
                f"(i32.const {8 * (SCRATCH_WORDS - 1)})))")

    def sleep(self, depth: int) -> str:
        return f"(call $sleep {self.expr('i32', depth - 1) if depth > 0 else self.const('i32')})"

    def expr(self, t: str, depth: int) -> str:
        if depth <= 0:
            opts = ["const"] + (["get"] if self.locals_of(t) else []) + (["sleep"] if t == "i32" else [])
        else:
            opts = ["const", "get", "tee", "call", "select", "block", "if", "op", "op", "op"]
            opts += ["sleep", "sleep"] if t == "i32" else ["sleep_op"]
            if any(r == t for _, r in self.sigs):
                opts.append("indirect")
            if not self.locals_of(t):
                opts = [o for o in opts if o not in ("get", "tee")]
        k = self.pick(opts)
        d = depth - 1
        if k == "const":
            return self.const(t)
        if k == "get":
            return f"(local.get {self.pick(self.locals_of(t))})"
        if k == "tee":
            return f"(local.tee {self.pick(self.locals_of(t))} {self.expr(t, d)})"
        if k == "sleep":
            return self.sleep(depth)
        if k == "sleep_op":   # a pause inside an operand of another type
            return self.convert_from_i32(t, self.sleep(depth))
        if k == "call":
            cands = [j for j, f in enumerate(self.funcs) if f.result == t]
            if not cands:
                return self.op(t, d)
            j = self.pick(cands)
            args = " ".join(self.expr(p, d) for p in self.funcs[j].params)
            return f"(call $f{j} {args})"
        if k == "indirect":
            cands = [(s, sig) for s, sig in enumerate(self.sigs) if sig[1] == t]
            s, (params, _) = self.pick(cands)
            slots = [i for i, fi in enumerate(self.table) if self.sig(self.funcs[fi]) == (params, t)]
            args = " ".join(self.expr(p, d) for p in params)
            if self.int(0, 1):
                index = f"(i32.const {self.pick(slots)})"
            else:  # a computed slot: one of the two first of this type
                a, b = slots[0], slots[min(1, len(slots) - 1)]
                index = f"(select (i32.const {a}) (i32.const {b}) {self.expr('i32', d)})"
            return f"(call_indirect (type $sig{s}) {args} {index})"
        if k == "select":
            return f"(select {self.expr(t, d)} {self.expr(t, d)} {self.expr('i32', d)})"
        if k == "block":
            lab = self.fresh("b")
            stmts = " ".join(self.stmt(1) for _ in range(self.int(0, 2)))
            early = f"(drop (br_if {lab} {self.expr(t, d)} {self.expr('i32', d)})) " if self.int(0, 1) else ""
            return f"(block {lab} (result {t}) {stmts} {early}{self.expr(t, d)})"
        if k == "if":
            return (f"(if (result {t}) {self.expr('i32', d)} (then {self.expr(t, d)}) "
                    f"(else {self.expr(t, d)}))")
        return self.op(t, d)

    def convert_from_i32(self, t: str, e: str) -> str:
        return {"i32": e, "i64": f"(i64.extend_i32_s {e})", "f32": f"(f32.convert_i32_s {e})",
                "f64": f"(f64.convert_i32_u {e})", "v128": f"(i32x4.splat {e})"}[t]

    def op(self, t: str, d: int) -> str:
        e = lambda ty=t: self.expr(ty, d)
        if t == "i32":
            k = self.int(0, 7)
            if k <= 2:
                op = self.pick(['add', 'sub', 'mul', 'xor', 'and', 'or', 'shl', 'rotl', 'lt_u', 'eq', 'ge_s'])
                return f"(i32.{op} {e()} {e()})"
            if k == 3:
                return f"(i32.eqz {e()})"
            if k == 4:
                return f"(i32.wrap_i64 {e('i64')})"
            if k == 5:
                return f"(i32.load {self.addr(d)})"
            if k == 6:
                ft = self.pick(["f32", "f64"])
                return f"(i32.trunc_sat_{ft}_s {e(ft)})"
            return f"(i32x4.extract_lane {self.int(0, 3)} {e('v128')})"
        if t == "i64":
            k = self.int(0, 5)
            if k <= 2:
                return f"(i64.{self.pick(['add', 'sub', 'mul', 'xor', 'or', 'rotr'])} {e()} {e()})"
            if k == 3:
                return f"(i64.extend_i32_{self.pick(['s', 'u'])} {e('i32')})"
            if k == 4:
                return f"(i64.load {self.addr(d)})"
            return f"(i64x2.extract_lane {self.int(0, 1)} {e('v128')})"
        if t in ("f32", "f64"):
            k = self.int(0, 3)
            if k <= 1:
                return f"({t}.{self.pick(['add', 'sub', 'min', 'max'])} {e()} {e()})"
            if k == 2:
                return f"({t}.convert_i32_s {e('i32')})"
            return f"({t}.neg {e()})"
        k = self.int(0, 3)
        if k <= 1:
            return f"(i32x4.{self.pick(['add', 'sub', 'mul'])} {e()} {e()})"
        if k == 2:
            return f"(i32x4.replace_lane {self.int(0, 3)} {e()} {e('i32')})"
        return f"(i64x2.splat {e('i64')})"

    # -- statements
    def stmt(self, depth: int) -> str:
        opts = ["set", "set", "drop", "log", "store", "store", "sleep", "global"]
        if depth > 0:
            opts += ["if", "loop", "br_table", "br_if"]
        k = self.pick(opts)
        d = 2
        if k == "set":
            f = self.cur
            idx = self.int(0, len(f.params) + len(f.locals)) if f.params + f.locals else None
            if idx is None or idx == len(f.params) + len(f.locals):
                return f"(drop {self.expr('i32', d)})"
            t = (f.params + f.locals)[idx]
            return f"(local.set {idx} {self.expr(t, d)})"
        if k == "drop":
            return f"(drop {self.expr(self.pick(NUM), d)})"
        if k == "log":
            t = self.pick(NUM)
            return f"(call $log {to_i64(t, self.expr(t, d)) if t != 'v128' else self.op('i64', d)})"
        if k == "store":
            t = self.pick(["i32", "i64"])
            return f"({t}.store {self.addr(d)} {self.expr(t, d)})"
        if k == "sleep":
            return f"(drop {self.sleep(d)})"
        if k == "global":
            return f"(global.set $g (i32.add (global.get $g) {self.expr('i32', d)}))"
        inner = lambda: " ".join(self.stmt(depth - 1) for _ in range(self.int(0, 3)))
        if k == "if":
            return f"(if {self.expr('i32', d)} (then {inner()}) (else {inner()}))"
        if k == "loop":
            f = self.cur
            c = len(f.params) + len(f.locals) + f.counters
            f.counters += 1
            lab = self.fresh("l")
            return (f"(local.set {c} (i32.const 0)) (loop {lab} {inner()} (br_if {lab} (i32.lt_u "
                    f"(local.tee {c} (i32.add (local.get {c}) (i32.const 1))) "
                    f"(i32.const {self.int(1, 3)}))))")
        if k == "br_if":
            lab = self.fresh("b")
            return f"(block {lab} {inner()} (br_if {lab} {self.expr('i32', d)}) {inner()})"
        labs = [self.fresh("b") for _ in range(self.int(1, 3))]
        targets = " ".join(self.pick(labs) for _ in range(self.int(0, 3)))
        code = f"(br_table {targets} {labs[-1]} {self.expr('i32', d)})"
        for lab in labs:
            code = f"(block {lab} {code} {inner()})"
        return code


@st.composite
def programs(draw) -> str:
    return ProgramGen(draw).program()


OPTIONS = AnalysisOptions(imports=("env.sleep",))


@dataclass(frozen=True)
class Recipe:
    """Transform options for a generated program. The lists are chosen
    from the program's own analysis so that they keep it correct: the
    remove-list takes functions that cannot pause, the add-list any, the
    only-list every function that must be instrumented and some more. So
    the output must still behave like the original, with any pauses."""
    asserts: bool = False
    check_bounds: bool = False
    relocatable: bool = False
    export_globals: bool = False
    separate: bool = False
    lists: str = "none"           # "none", "remove", "add", "add-propagate", "only"
    pick: int = 0                 # seed for choosing list entries
    rewind_copy: str = "none"      # TransformOptions.rewind_copy

    def options(self, wasm: bytes) -> TransformOptions:
        import dataclasses

        analysis = OPTIONS
        if self.lists != "none":
            from asyncpy.pipeline import analyze, collect_facts, read_module
            from asyncpy.wasm import load_bytes

            with read_module(load_bytes(wasm, isolate=False)) as m:
                base = analyze(collect_facts(m), OPTIONS)
            defined = [n for n, f in base.facts.functions.items() if not f.imported]
            rng = random.Random(self.pick)
            some = lambda names: tuple(n for n in names if rng.random() < 0.5)
            paused = set(base.instrument)
            if self.lists == "remove":
                analysis = dataclasses.replace(OPTIONS, remove_list=some(n for n in defined if n not in paused
                                                                          and n not in base.reasons))
            elif self.lists.startswith("add"):
                analysis = dataclasses.replace(OPTIONS, add_list=some(defined),
                                               propagate_add_list=self.lists == "add-propagate")
            else:
                analysis = dataclasses.replace(OPTIONS, only_list=tuple(sorted(paused)) + some(defined))
        return TransformOptions(analysis=analysis, asserts=self.asserts, check_bounds=self.check_bounds,
                                relocatable=self.relocatable, export_globals=self.export_globals,
                                data_memory="separate" if self.separate else "default",
                                rewind_copy=self.rewind_copy)


@st.composite
def recipes(draw) -> Recipe:
    return Recipe(asserts=draw(st.booleans()), check_bounds=draw(st.booleans()),
                  relocatable=draw(st.booleans()), export_globals=draw(st.booleans()),
                  separate=draw(st.sampled_from([False, False, True])),
                  lists=draw(st.sampled_from(["none", "remove", "add", "add-propagate", "only"])),
                  pick=draw(st.integers(0, 2**16)),
                  rewind_copy=draw(st.sampled_from(["none", "loops", "top"])))


def transformed(wasm: bytes, options: AnalysisOptions = OPTIONS,
                recipe: Recipe | None = None) -> tuple[bytes, bytes]:
    """(asyncpy's output, Binaryen's asyncify output) for one program;
    with a `recipe`, asyncpy's output uses its options."""
    from asyncpy import binaryen as B
    from asyncpy.pipeline import transform_loaded
    from asyncpy.wasm import load_bytes
    from tests.oracle import run_asyncify

    loaded = load_bytes(wasm, isolate=False)
    ours_options = recipe.options(wasm) if recipe is not None else TransformOptions(analysis=options)
    ours = transform_loaded(loaded, ours_options).wasm
    with B.Module.read(loaded.data) as m:
        m.features = B.FEATURES_ALL
        run_asyncify(m, options)
        theirs = m.write()
    return ours, theirs


def check_program(wat: str, pause_sets, recipe: Recipe | None = None) -> int:
    """Run the program's three variants; raise Finding on a difference.
    `pause_sets(calls)` gives the sets of pause points to try; `recipe`,
    the options of asyncpy's transform. Returns the number of runs compared."""
    import wasmtime

    from tests import pausehost as H

    wasm = bytes(wasmtime.wat2wasm(wat))
    base = H.run(wasm, buf_size=BUF)
    try:
        ours, theirs = transformed(wasm, recipe=recipe) if recipe is not None else transformed(wasm)
    except AsyncpyError as e:   # a valid, deterministic program must transform
        raise Finding(f"transform refused a generated program: {e}") from None
    runs = 0
    for points in [None, H.ALL, *pause_sets(base.calls)]:
        expected_pauses = base.calls if points == H.ALL else len(points or ())
        for label, mod in (("asyncpy", ours), ("binaryen", theirs)):
            try:
                r = H.run(mod, points, buf_size=BUF)
            except Exception as e:  # a trap, or a failed host check
                raise Finding(f"{label}, pause at {points}: {type(e).__name__}: "
                              f"{str(e).strip().splitlines()[-1] if str(e).strip() else ''}") from None
            runs += 1
            if r.observed != base.observed:
                raise Finding(f"{label}, pause at {points}: got {r.observed}, expected {base.observed}")
            if r.pauses != expected_pauses:
                raise Finding(f"{label}, pause at {points}: {r.pauses} pauses, expected {expected_pauses}")
    return runs


# ---------------------------------------------------------------------------
# The longer run

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def worker(kind: str, cases: int, seed_: int, current: Path, stats_path: Path) -> None:
    """Run `cases` cases of one kind in this process; write the input being
    tried to `current` first (the parent keeps it if we die) and the counts
    to `stats_path` after every case."""
    signal.signal(signal.SIGALRM, _alarm)
    counts: dict[str, int] = {}
    findings: list[dict] = []
    if kind == "outputs":
        run_outputs(cases, seed_, stats_path)
        return
    if kind == "programs":
        strategy = st.tuples(programs(), st.randoms(use_true_random=False))
    else:
        seeds = seed_modules(corpus=True, go=kind == "mutate-go")
        if kind == "mutate-go":     # Go hello only: slow, so a few cases
            seeds = {"go/hello": seeds["go/hello"]}
        strategy = st.tuples(mutated_module(seeds), api_options(small=kind == "mutate"))
    workdir = Path(tempfile.mkdtemp(prefix="asyncpy-fuzz-"))

    def save():
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"counts": counts, "findings": findings}))
        os.replace(tmp, stats_path)

    @seed(seed_)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case):
        if kind == "programs":
            wat, rnd = case
            current.write_text(wat)
            label = "program"
        else:
            (label, data), (opts, optimize, text) = case
            current.write_bytes(data)
            label = f"{label} [{opts.data_memory}, -O {optimize}, text={text}]"
        signal.alarm(120)
        try:
            if kind == "programs":
                def sets(calls):
                    if calls == 0:
                        return []
                    return [{rnd.randrange(calls)}, set(rnd.sample(range(calls), rnd.randint(0, calls)))]
                check_program(wat, sets)
                outcome = "ok"
            elif kind == "cli":
                outcome = check_cli(data, workdir, timeout=100).kind
            else:
                outcome = check_api(data, opts, optimize, text).kind
        except Finding as e:
            outcome = "finding"
            findings.append({"case": label, "error": str(e)[:3000], "input": _keep(current)})
        except _Timeout:
            outcome = "finding"
            findings.append({"case": label, "error": "hang (> 120 s)", "input": _keep(current)})
        finally:
            signal.alarm(0)
        counts[outcome] = counts.get(outcome, 0) + 1
        save()

    save()
    run()


def run_outputs(cases: int, seed_: int, stats_path: Path) -> None:
    """The output-path cases (no hypothesis: a seeded random choice each)."""
    rnd = random.Random(seed_)
    counts: dict[str, int] = {}
    findings: list[dict] = []
    skipped: set[str] = set()
    workdir = Path(tempfile.mkdtemp(prefix="asyncpy-fuzz-out-"))
    for _ in range(cases):
        try:
            outcome = check_output_case(rnd, workdir, skipped)
        except Finding as e:
            outcome = "finding"
            findings.append({"case": "outputs", "error": str(e)[:3000], "input": None})
        counts[outcome] = counts.get(outcome, 0) + 1
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"counts": counts, "findings": findings, "skipped": sorted(skipped)}))
        os.replace(tmp, stats_path)


def _keep(current: Path) -> str:
    d = current.parent / "findings"
    d.mkdir(exist_ok=True)
    dest = d / f"{time.strftime('%H%M%S')}-{os.getpid()}-{len(list(d.iterdir()))}{current.suffix}"
    dest.write_bytes(current.read_bytes())
    return str(dest)


def run_kind(kind: str, cases: int, seed_: int, outdir: Path, timeout: float) -> dict:
    """Run `cases` cases of `kind` in workers, restarting after a crash."""
    done, crashes, counts, findings, skipped = 0, [], {}, [], []
    t0 = time.time()
    attempt = 0
    while done < cases and time.time() - t0 < timeout:
        attempt += 1
        current = outdir / f"current-{kind}.{'wat' if kind == 'programs' else 'wasm'}"
        stats = outdir / f"stats-{kind}.json"
        stats.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "tests.fuzz", "--worker", kind, "--cases", str(cases - done),
               "--seed", str(seed_ + attempt), "--current", str(current), "--stats", str(stats)]
        try:
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                               timeout=max(1, timeout - (time.time() - t0)))
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired as e:
            rc = "timeout"
            err = e.stderr or ""
            if isinstance(err, bytes):
                err = err.decode(errors="replace")
        got = json.loads(stats.read_text()) if stats.exists() else {"counts": {}, "findings": []}
        n = sum(got["counts"].values())
        for k, v in got["counts"].items():
            counts[k] = counts.get(k, 0) + v
        findings += got["findings"]
        for msg in got.get("skipped", []):
            if msg not in skipped:
                skipped.append(msg)
        done += n
        if rc == "timeout":
            break
        if rc != 0:
            # the worker died on the case it was running: keep that input
            kept = _keep(current) if current.exists() else None
            crashes.append({"exit": rc, "input": kept, "stderr": err[-1500:]})
            done += 1
            counts["crash"] = counts.get("crash", 0) + 1
    return {"kind": kind, "cases": done, "seconds": round(time.time() - t0, 1), "counts": counts,
            "findings": findings, "crashes": crashes, "skipped": skipped}


# ---------------------------------------------------------------------------
# Big inputs: peak memory of a transform in a child process

BIG_GO = '''package main

import (
\t"archive/tar"
\t"archive/zip"
\t"bytes"
\t"compress/gzip"
\t"crypto/aes"
\t"crypto/ecdsa"
\t"crypto/ed25519"
\t"crypto/elliptic"
\t"crypto/hmac"
\t"crypto/rand"
\t"crypto/rsa"
\t"crypto/sha256"
\t"crypto/sha512"
\t"crypto/tls"
\t"crypto/x509"
\t"database/sql"
\t"encoding/base64"
\t"encoding/csv"
\t"encoding/gob"
\t"encoding/json"
\t"encoding/xml"
\t"fmt"
\t"go/format"
\t"go/parser"
\t"go/token"
\thtemplate "html/template"
\t"image"
\t"image/png"
\t"math/big"
\t"net/http"
\t"net/mail"
\t"net/url"
\t"regexp"
\t"sort"
\t"strings"
\t"text/template"
\t"time"
\t"unicode/utf8"
)

var sink []any

func main() {
\tsink = append(sink, tar.NewReader, zip.NewReader, gzip.NewReader, aes.NewCipher, ecdsa.GenerateKey,
\t\ted25519.GenerateKey, elliptic.P256, hmac.New, rand.Reader, rsa.GenerateKey, sha256.New, sha512.New,
\t\ttls.Client, x509.ParseCertificate, sql.Open, base64.StdEncoding, csv.NewReader, gob.NewEncoder,
\t\tjson.Marshal, xml.Marshal, format.Source, parser.ParseFile, token.NewFileSet, htemplate.New,
\t\thtemplate.HTMLEscapeString,
\t\timage.NewRGBA, png.Encode, big.NewInt, http.ListenAndServe, http.Get, mail.ParseAddress, url.Parse,
\t\tregexp.MustCompile, sort.Strings, strings.NewReplacer, utf8.RuneLen)
\tt := template.Must(template.New("x").Parse("{{.}}"))
\tvar b bytes.Buffer
\t_ = t.Execute(&b, time.Now().Year())
\tfmt.Println(len(sink), b.Len() > 0)
}
'''


def build_big_go() -> Path:
    from corpus.build import cache_dir, go_binary

    out = cache_dir() / "fuzz-big-go.wasm"
    if out.exists():
        return out
    tmpdir = tempfile.TemporaryDirectory(prefix="bigo-", dir=cache_dir())
    src = Path(tmpdir.name)
    (src / "main.go").write_text(BIG_GO)
    (src / "go.mod").write_text("module bigo\n\ngo 1.24\n")
    env = dict(os.environ, GOOS="wasip1", GOARCH="wasm", GOTOOLCHAIN="local", CGO_ENABLED="0",
               GOCACHE=str(cache_dir() / "gocache"), GOPATH=str(cache_dir() / "gopath"), GOPROXY="off")
    tmp = out.with_suffix(".tmp")
    subprocess.run([go_binary(), "build", "-trimpath", "-o", str(tmp), "."], cwd=src, env=env, check=True,
                   capture_output=True)
    os.replace(tmp, out)
    tmpdir.cleanup()
    return out


def many_locals_wat(n: int = 65536) -> str:
    """One function with `n` i32 locals, all live across one pause."""
    sets = "".join(f"(local.set {i} (i32.const {i}))" for i in range(n))
    adds = "".join(f"(local.set 0 (i32.add (local.get 0) (local.get {i})))" for i in range(1, n))
    return ('(module (import "env" "sleep" (func $sleep (param i32) (result i32)))\n'
            '(memory (export "memory") 1)\n'
            f'(func (export "main") (result i32) (local {" i32" * n})\n{sets}\n'
            '(drop (call $sleep (i32.const 1)))\n'
            f'{adds}\n(local.get 0)))\n')


_MEASURE = """
import resource, sys, time
t = time.perf_counter()
if sys.argv[1] == "--api":   # past the loader's validator (wasmtime allows 50,000 locals)
    from asyncpy.errors import AsyncpyError
    from asyncpy.wasm import Loaded, strip_custom_sections, to_binary
    from asyncpy.pipeline import transform_loaded
    from asyncpy.options import TransformOptions
    from asyncpy.options import AnalysisOptions
    raw = open(sys.argv[2], "rb").read()
    data = strip_custom_sections(to_binary(raw, sys.argv[2]))
    try:
        transform_loaded(Loaded(sys.argv[2], data, len(raw)),
                         TransformOptions(analysis=AnalysisOptions(imports=("env.sleep",))))
        rc = 0
    except AsyncpyError as e:
        print("asyncpy: error:", e, file=sys.stderr)
        rc = 1
else:
    from asyncpy.cli import main
    try:
        main(sys.argv[1:])
        rc = 0
    except SystemExit as e:
        rc = e.code or 0
print("RESULT", rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      file=sys.stderr)
"""


def measure(path: Path, args=(), api: bool = False) -> dict:
    """Transform `path` in a child (the CLI, or with `api` the pipeline
    without the loader's validator); its peak RSS and time."""
    out = path.with_suffix(".async.wasm")
    argv = ["--api", str(path)] if api else ["transform", str(path), "-o", str(out), "-q", *args]
    r = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, cwd=ROOT)
    line = next((ln for ln in r.stderr.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        return {"input": str(path), "error": r.stderr[-800:], "exit": r.returncode}
    _, rc, secs, rss_kb = line.split()
    res = {"input": path.name, "how": "api" if api else "cli " + " ".join(args),
           "input_mb": round(path.stat().st_size / 2**20, 2), "exit": int(rc),
           "seconds": round(float(secs), 1), "peak_rss_mb": round(int(rss_kb) / 1024),
           "output_mb": round(out.stat().st_size / 2**20, 2) if out.exists() else None,
           "stderr": "\n".join(ln for ln in r.stderr.splitlines() if not ln.startswith("RESULT"))[-400:]}
    out.unlink(missing_ok=True)
    return res


def big_inputs(outdir: Path, go: bool = True) -> list[dict]:
    """Peak memory on big inputs. The 65,536-local function cannot pass
    wasmtime's validator (at most 50,000 locals per function), so the CLI
    refuses it with one line; its transform is measured through the API
    past the validator (the output check then refuses it the same way), and
    a 49,000-local function goes through the CLI end to end."""
    results = []
    for n in (65536, 49000):
        wat = outdir / f"locals-{n}.wat"
        wat.write_text(many_locals_wat(n))
        results.append(dict(measure(wat, ["--imports", "env.sleep"]), locals=n))
        if n > 50000:
            results.append(dict(measure(wat, api=True), locals=n))
    if go:
        path = build_big_go()
        print(f"fuzz: big Go program {path} ({path.stat().st_size / 2**20:.1f} MB)", file=sys.stderr)
        results.append(measure(path, ["--imports", "wasi_snapshot_preview1.poll_oneoff"]))
        results.append(measure(path))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=5000, help="total cases (mutations + programs)")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--minutes", type=float, default=60, help="time budget per kind")
    ap.add_argument("--kinds", default="mutate,cli,programs,mutate-go,outputs",
                    help="which fuzzers: mutate (Python API), cli (subprocess), programs, mutate-go, "
                         "outputs (output paths: symlinks, FIFOs, devices, read-only and full file systems)")
    ap.add_argument("--big", action="store_true", help="also the big inputs (peak memory)")
    ap.add_argument("--out", type=Path, default=None, help="where to keep findings (default: a temp dir)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--current", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.cases, a.seed, a.current, a.stats)
        return 0
    outdir = a.out or Path(tempfile.mkdtemp(prefix="asyncpy-fuzz-"))
    outdir.mkdir(parents=True, exist_ok=True)
    kinds = a.kinds.split(",")
    share = {"mutate": 0.54, "cli": 0.05, "programs": 0.385, "mutate-go": 0.005, "outputs": 0.02}
    weights = sum(share.get(k, 0.1) for k in kinds)
    report = {"seed": a.seed, "out": str(outdir), "runs": []}
    bad = 0
    for k in kinds:
        n = max(1, round(a.cases * share.get(k, 0.1) / weights))
        print(f"fuzz: {k}: {n} cases (seed {a.seed})...", file=sys.stderr, flush=True)
        res = run_kind(k, n, a.seed, outdir, a.minutes * 60)
        bad += len(res["findings"]) + len(res["crashes"])
        report["runs"].append(res)
        print(f"fuzz: {k}: {res['cases']} cases in {res['seconds']} s: {res['counts']}", file=sys.stderr,
              flush=True)
        for msg in res["skipped"]:
            print(f"fuzz: {k}: skipped {msg}", file=sys.stderr, flush=True)
        for f in res["findings"][:5] + res["crashes"][:5]:
            print(f"  FINDING {json.dumps(f)[:1500]}", file=sys.stderr)
    if a.big:
        report["big"] = big_inputs(outdir)
        for r in report["big"]:
            print(f"fuzz: big: {json.dumps(r)}", file=sys.stderr)
            refused_ok = r.get("exit") == 1 and "too many locals" in r.get("stderr", "")
            if (r.get("exit") != 0 and not refused_ok) or r.get("peak_rss_mb", 1e9) > 4096:
                bad += 1
    total = sum(r["cases"] for r in report["runs"])
    print(json.dumps(report, indent=1))
    print(f"fuzz: {total} cases, {bad} findings/crashes; details in {outdir}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
