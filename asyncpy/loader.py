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


def _engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    for flag in ("wasm_bulk_memory", "wasm_multi_value", "wasm_reference_types", "wasm_simd",
                 "wasm_relaxed_simd", "wasm_tail_call", "wasm_threads", "wasm_memory64",
                 "wasm_multi_memory", "wasm_exceptions"):
        setattr(cfg, flag, True)
    return wasmtime.Engine(cfg)


_ENGINE = None


def validation_engine() -> wasmtime.Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _engine()
    return _ENGINE


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise InputError("truncated module")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 35:
            raise InputError("malformed section length")


def sections(data: bytes):
    """Yield (id, start, end, payload_start) for each top-level section."""
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, payload = _leb(data, pos + 1)
        end = payload + size
        if end > len(data):
            raise InputError(f"section {sid} runs past the end of the file (truncated?)")
        yield sid, pos, end, payload
        pos = end


def _custom_name(data: bytes, payload: int, end: int) -> tuple[bytes, int]:
    nlen, p = _leb(data, payload)
    if p + nlen > end:
        raise InputError("custom section name runs past the section")
    return bytes(data[p:p + nlen]), p + nlen


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


def strip_custom_sections(data: bytes) -> bytes:
    """Drop every custom section but `name` and `target_features`, and
    rebuild those two from the parts that are well-formed and safe."""
    out = [data[:8]]
    for sid, start, end, payload in sections(data):
        if sid == 0:
            try:
                cname, body = _custom_name(data, payload, end)
            except InputError:
                continue
            if cname == b"name":
                cleaned = clean_name_section(bytes(data[body:end]))
            elif cname == b"target_features":
                cleaned = clean_target_features(bytes(data[body:end]))
            else:
                continue
            if cleaned is not None:
                out.append(custom_section(cname, cleaned))
            continue
        out.append(data[start:end])
    return b"".join(out)


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

_NAME_MAPS = {0: "module", 1: "function", 4: "type", 5: "table", 6: "memory", 7: "global",
              8: "elem", 9: "data", 11: "tag"}
_INDIRECT_MAPS = {2: "local", 3: "label", 10: "field"}
RESERVED_NAMES = {
    1: {"asyncify_start_unwind", "asyncify_stop_unwind", "asyncify_start_rewind",
        "asyncify_stop_rewind", "asyncify_get_state"},
    7: {"__asyncify_state", "__asyncify_data"},
    6: {"asyncify_memory"},
    9: {"asyncify_memory_init"},
}
# Printable ASCII only: Binaryen 116's printer and parser disagree on
# control characters and on some multi-byte UTF-8 (its text round trip
# aborts on a function named "\u65e5\u672c").
_SAFE_NAME = re.compile(rb"\A[\x20-\x7e]{1,1024}\Z")
# The module's own name is printed without escaping (`(module $a b` for
# "a b"), so it must be a plain WAT identifier.
_IDCHARS = re.compile(rb"\A[0-9A-Za-z!#$%&'*+\-./:<=>?@^_`|~]+\Z")


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def custom_section(name: bytes, body: bytes) -> bytes:
    payload = uleb(len(name)) + name + body
    return b"\0" + uleb(len(payload)) + payload


def safe_name(raw: bytes, reserved=frozenset()) -> bool:
    """Can Binaryen carry this name through every step without aborting?"""
    return bool(_SAFE_NAME.match(raw)) and not raw.isdigit() and raw.decode() not in reserved


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def u32(self) -> int:
        v, self.pos = _leb(self.data, self.pos)
        if self.pos > self.end or v >= 1 << 32:
            raise InputError("bad LEB")
        return v

    def u64(self) -> int:
        v = shift = 0
        while True:
            byte = self.bytes(1)[0]
            v |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise InputError("bad LEB")

    def bytes(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise InputError("runs past the end")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def name(self) -> bytes:
        return self.bytes(self.u32())


def _clean_map(r: _Reader, reserved=frozenset(), dedupe: bool = True) -> bytes:
    """A name map (vec of index, name, increasing indices), keeping the safe
    names; with `dedupe`, each name once. (Binaryen makes duplicate function
    names unique itself, as `name.1`, `name.2`..., and Go emits some: those
    are kept, so that names match what Binaryen's own pass sees.)"""
    kept, seen, last = [], set(), -1
    for _ in range(r.u32()):
        index, raw = r.u32(), r.name()
        if index <= last:
            raise InputError("name map out of order")
        last = index
        if safe_name(raw, reserved) and (raw not in seen or not dedupe):
            seen.add(raw)
            kept.append(uleb(index) + uleb(len(raw)) + raw)
    return uleb(len(kept)) + b"".join(kept)


def clean_name_section(body: bytes) -> bytes | None:
    """The name section's payload with unsafe names left out; None if it is
    malformed (then the whole section is dropped)."""
    try:
        r = _Reader(body)
        out, last = [], -1
        while r.pos < r.end:
            sid = r.bytes(1)[0]
            size = r.u32()
            sub = _Reader(body, r.pos, r.pos + size)
            r.bytes(size)
            if sid <= last:
                raise InputError("name subsections out of order")
            last = sid
            if sid == 0:
                raw = sub.name()
                if sub.pos != sub.end:
                    raise InputError("trailing bytes")
                if not safe_name(raw) or not _IDCHARS.match(raw):
                    continue
                cleaned = uleb(len(raw)) + raw
            elif sid in _NAME_MAPS:
                cleaned = _clean_map(sub, RESERVED_NAMES.get(sid, frozenset()), dedupe=sid != 1)
            elif sid in _INDIRECT_MAPS:
                groups, prev = [], -1
                for _ in range(sub.u32()):
                    outer = sub.u32()
                    if outer <= prev:
                        raise InputError("indirect name map out of order")
                    prev = outer
                    groups.append(uleb(outer) + _clean_map(sub))
                cleaned = uleb(len(groups)) + b"".join(groups)
            else:
                continue            # a subsection Binaryen 116 does not know
            if sub.pos != sub.end:
                raise InputError("trailing bytes in a name subsection")
            out.append(bytes([sid]) + uleb(len(cleaned)) + cleaned)
        return b"".join(out)
    except (InputError, IndexError):
        return None


_FEATURE_NAME = re.compile(rb"\A[a-z0-9][a-z0-9_-]{0,63}\Z")


def clean_target_features(body: bytes) -> bytes | None:
    """The target_features payload, if it is well-formed (a vec of a prefix
    byte '+', '-' or '=' and a feature name); else None."""
    try:
        r = _Reader(body)
        for _ in range(r.u32()):
            if r.bytes(1) not in (b"+", b"-", b"="):
                return None
            if not _FEATURE_NAME.match(r.name()):
                return None
        return body if r.pos == r.end else None
    except InputError:
        return None


# ---------------------------------------------------------------------------
# Import and export names
#
# Binaryen 116 keeps these as C strings: a NUL byte cuts the name short, so
# the output would import or export something else (found by tests/fuzz.py).

def _skip_valtype(r: _Reader) -> None:
    t = r.bytes(1)[0]
    if t in (0x63, 0x64):           # (ref null? heaptype): an s33
        r.u64()


def _read_limits(r: _Reader) -> int:
    """Read a limits field; returns its flags (bit 0 max, 1 shared, 2 memory64)."""
    flags = r.bytes(1)[0]
    r.u64()
    if flags & 1:
        r.u64()
    return flags


def _read_import(r: _Reader) -> tuple[bytes, bytes, int, int | None] | None:
    """One import entry: (module, field, kind, memory limits flags or None);
    None for a kind this reader does not know."""
    mod, field = r.name(), r.name()
    kind = r.bytes(1)[0]
    mem = None
    if kind == 0:               # function: type index
        r.u32()
    elif kind == 1:             # table: reftype, limits
        _skip_valtype(r)
        _read_limits(r)
    elif kind == 2:             # memory: limits
        mem = _read_limits(r)
    elif kind == 3:             # global: valtype, mutability
        _skip_valtype(r)
        r.bytes(1)
    elif kind == 4:             # tag: attribute, type index
        r.bytes(1)
        r.u32()
    else:
        return None
    return mod, field, kind, mem


def memory_flags(data: bytes) -> list[int] | None:
    """The limits flags of every memory, in index order (imported ones
    first): bit 1 shared, bit 2 memory64. Binaryen 116's C API can only ask
    about a memory by name, and with several memories there is no name to
    ask with, so this is read from the binary. None if it does not parse."""
    flags: list[int] = []
    try:
        for sid, _, end, payload in sections(data):
            if sid not in (2, 5):
                continue
            r = _Reader(data, payload, end)
            for _ in range(r.u32()):
                if sid == 5:
                    flags.append(_read_limits(r))
                    continue
                entry = _read_import(r)
                if entry is None:
                    return None
                if entry[3] is not None:
                    flags.append(entry[3])
    except (InputError, IndexError):
        return None
    return flags


def interface_names(data: bytes) -> tuple[list[tuple[str, str]], list[str]] | None:
    """(imports as (module, field), exports) of a binary, or None if the
    sections do not parse here (the validator has the last word)."""
    imports: list[tuple[str, str]] = []
    exports: list[str] = []
    try:
        for sid, _, end, payload in sections(data):
            if sid not in (2, 7):
                continue
            r = _Reader(data, payload, end)
            for _ in range(r.u32()):
                if sid == 7:
                    exports.append(r.name().decode("utf-8", "replace"))
                    r.bytes(1)
                    r.u32()
                    continue
                entry = _read_import(r)
                if entry is None:
                    return None
                imports.append((entry[0].decode("utf-8", "replace"), entry[1].decode("utf-8", "replace")))
    except (InputError, IndexError):
        return None
    return imports, exports


def check_interface_names(data: bytes, path: str) -> None:
    names = interface_names(data)
    if names is None:
        return
    imports, exports = names
    for what, name in [("import", f"{m}.{f}") for m, f in imports if "\0" in m + f] + \
                      [("export", e) for e in exports if "\0" in e]:
        raise InputError(f"{path}: {what} name {name!r} contains a NUL byte, which Binaryen 116 "
                         "cannot represent (the output would name something else)")


def text_unsafe_name(data: bytes) -> str | None:
    """The first import or export name that Binaryen 116's text round trip
    (used by `--data-memory separate`) cannot carry: its printer writes
    quotes and backslashes unescaped and an empty import name as nothing,
    and the parser then calls Fatal(). None if every name is safe."""
    names = interface_names(data)
    if names is None:
        return None
    imports, exports = names
    for name in [m for m, _ in imports] + [f for _, f in imports] + exports:
        if not name or any(c in name for c in '"\\\0'):
            return name
    return None


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
    """Read the module in a child process; True if Binaryen survived it."""
    pid = os.fork()
    if pid == 0:  # child: read, then leave without running Python's exit handlers
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            from asyncpy import binaryen
            m = binaryen.Module.read(data)
            m.dispose()
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
