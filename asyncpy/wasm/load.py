"""Getting an input file safely into Binaryen.

libbinaryen's reader calls `Fatal()` (which exits the process) on input it
cannot read, so nothing reaches it unchecked:

1. the file is read; text (`.wat`) is turned into a binary by wasmtime's
   `wat2wasm`;
2. wasmtime's validator, with every proposal Binaryen 116 understands
   switched on, must accept the binary (components, GC and stack switching
   are refused with a clear line);
3. custom sections other than `name` and `target_features` are dropped
   (DWARF in particular makes the reader abort); those two are rebuilt from
   what parses cleanly (see `clean_name_section`: some names that the reader
   accepts make later steps of libbinaryen abort);
4. the read itself runs first in a forked child, so that an abort we did not
   foresee becomes an error line instead of a dead process.

What comes out is a `Loaded` record: the cleaned bytes, ready for
`binaryen.Module.read`, and the feature set the module uses.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from asyncpy.errors import InputError
from asyncpy.wasm.binary import _custom_name, memory_flags, sections, uleb
from asyncpy.wasm.engine import validation_engine
from asyncpy.wasm.sanitize import check_interface_names, strip_custom_sections

# WAT starts with "(" after white space, ";;" line comments and "(; ;)" blocks.
_WAT_START = re.compile(r"\A(?:\s+|;;[^\n]*\n?|\(;.*?;\))*\(", re.S)


@dataclass(frozen=True)
class Loaded:
    path: str
    data: bytes          # the module as Binaryen will read it
    original_size: int
    # Custom sections kept out of Binaryen's reach, as (name, whole section
    # bytes) in file order: `name` and `target_features` are not among them
    # (Binaryen reads and writes those itself). See `attach_custom_sections`.
    custom: tuple[tuple[str, bytes], ...] = ()


def dropped_custom_sections(data: bytes) -> tuple[tuple[str, bytes], ...]:
    """The custom sections `strip_custom_sections` leaves out, as (name,
    whole section bytes): a tool that rewrites the module can put back the
    ones that stay true (dylink.0, producers, ...)."""
    out = []
    for sid, start, end, payload in sections(data):
        if sid != 0:
            continue
        try:
            cname, _ = _custom_name(data, payload, end)
        except InputError:
            continue
        if cname not in (b"name", b"target_features"):
            out.append((cname.decode("utf-8", "replace"), bytes(data[start:end])))
    return tuple(out)


# Sections that must come first in a module (the dynamic-linking metadata:
# loaders read it before anything else, and Binaryen writes it first).
LEADING_SECTIONS = ("dylink.0", "dylink")


def attach_custom_sections(wasm: bytes, custom) -> bytes:
    """Put custom sections back into a binary: dylink ones right after the
    header, the others at the end, in the order given."""
    lead = b"".join(raw for name, raw in custom if name in LEADING_SECTIONS)
    tail = b"".join(raw for name, raw in custom if name not in LEADING_SECTIONS)
    return wasm[:8] + lead + wasm[8:] + tail


# Sections that come after the memory section (tag, global, export, start,
# element, data count, code, data).
_AFTER_MEMORY = (13, 6, 7, 8, 9, 12, 10, 11)


def ensure_memory(data: bytes) -> bytes:
    """The module with a memory: unchanged if it has one (defined or
    imported), else with a memory of one page, neither imported nor exported
    (what Binaryen's MemoryUtils::ensureExists adds for its asyncify pass)."""
    flags = memory_flags(data)
    if flags is None or flags:
        return data
    section = b"\x05" + uleb(4) + b"\x01\x01\x01\x01"   # one memory, min 1 max 1
    for sid, start, _, _ in sections(data):
        if sid in _AFTER_MEMORY:
            return data[:start] + section + data[start:]
    return data + section


# ---------------------------------------------------------------------------
# The name section
#
# Binaryen 116 reads names it cannot handle later, and then aborts in the
# middle of a transform (found by tests/fuzz.py):
#   * a name that collides with one the transform adds (a function named
#     asyncify_start_unwind, a global __asyncify_state, a memory
#     asyncify_memory): Module::addFunction & co. call Fatal();
#   * names that do not survive Binaryen's own text round trip (which
#     `--data-memory separate` uses): empty names, names of digits only
#     (they read back as indices), control characters, some non-ASCII
#     UTF-8, duplicate local/global/type... names.
# So the section is rebuilt keeping only safe names; a dropped name just
# leaves Binaryen to number that item, as it does for unnamed ones. A name
# section that does not parse is dropped whole (engines ignore it too).


# ---------------------------------------------------------------------------
# Import and export names
#
# Binaryen 116 keeps these as C strings: a NUL byte cuts the name short, so
# the output would import or export something else (found by tests/fuzz.py).


def to_binary(raw: bytes, path: str) -> bytes:
    if raw[:4] == b"\0asm":
        if raw[4:8] != b"\x01\0\0\0":
            raise InputError(f"{path}: not a core wasm module (a component or an unknown version); "
                             "asyncpy works on core modules")
        return bytes(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: neither a wasm binary (no \\0asm header) nor WAT text") from None
    if not _WAT_START.match(text):
        raise InputError(f"{path}: neither a wasm binary (no \\0asm header) nor WAT text")
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as e:
        raise InputError(wat_error(path, str(e))) from None


# wasmtime's wat2wasm names the place as "--> <anon>:LINE:COLUMN" on a line
# of its own, after the message and before a copy of the source line.
_WAT_POSITION = re.compile(r"^\s*-->\s*.*?:(\d+):(\d+)\s*$", re.M)


def wat_error(path: str, message: str) -> str:
    """One line for a WAT syntax error, in the `file:line:column: ...`
    form editors jump to."""
    m = _WAT_POSITION.search(message)
    head = (message.strip().splitlines() or ["unknown error"])[0].removeprefix("error: ")
    if m is None:
        return f"{path}: cannot parse WAT: {_first_line(message)}"
    return f"{path}:{m.group(1)}:{m.group(2)}: cannot parse WAT: {head}"


def _first_line(msg: str) -> str:
    """wasmtime's messages are multi-line ("error: ..." then context); keep
    the most specific line that still reads on its own."""
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    if not lines:
        return "unknown error"
    detail = [ln for ln in lines[1:] if not ln.startswith(("Caused by", "-->", "|"))]
    head = lines[0].removeprefix("error: ")
    return f"{head}: {detail[0].lstrip('0123456789: ')}" if detail and len(head) < 40 else head


def check(data: bytes, path: str) -> None:
    try:
        wasmtime.Module.validate(validation_engine(), data)
    except wasmtime.WasmtimeError as e:
        raise InputError(f"{path}: invalid module: {_first_line(str(e))}") from None


def _probe_binaryen_read(data: bytes) -> bool:
    """Read the module in a child process; True if Binaryen survived it. A
    big module is read a chunk at a time (asyncpy.wasm.chunks.pieces)."""
    pid = os.fork()
    if pid == 0:  # child: read, then leave without running Python's exit handlers
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            from asyncpy import binaryen
            from asyncpy.wasm.chunks import pieces
            for piece in pieces(data):      # a big module a chunk at a time
                binaryen.Module.read(piece).dispose()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def load_bytes(raw: bytes, path: str = "<input>", *, isolate: bool = True) -> Loaded:
    binary = to_binary(raw, path)
    check(binary, path)
    check_interface_names(binary, path)
    cleaned = strip_custom_sections(binary)
    if isolate and not _probe_binaryen_read(cleaned):
        raise InputError(f"{path}: Binaryen 116 cannot read this module (it uses a feature or "
                         "encoding that version does not support)")
    return Loaded(path=path, data=cleaned, original_size=len(raw),
                  custom=dropped_custom_sections(binary))


STDIN_NAME = "<stdin>"


def read_stdin() -> bytes:
    """The module on standard input (`-` as the file name)."""
    import sys

    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("'-' reads the module from standard input, which is a terminal; "
                         "pipe or redirect a module into it (e.g. `- < app.wasm`)")
    try:
        return sys.stdin.buffer.read()
    except OSError as e:
        raise InputError(f"{STDIN_NAME}: cannot read: {e.strerror or e}") from None


def load(path: str | os.PathLike, *, isolate: bool = True) -> Loaded:
    """Read and check a module file; `-` is standard input."""
    if str(path) == "-":
        raw = read_stdin()
        if not raw:
            raise InputError(f"{STDIN_NAME}: empty input")
        return load_bytes(raw, STDIN_NAME, isolate=isolate)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, not a wasm module") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
    if not raw:
        raise InputError(f"{p}: empty file")
    return load_bytes(raw, str(p), isolate=isolate)
