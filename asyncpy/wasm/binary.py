"""The one reader of the wasm binary format that asyncpy needs outside Binaryen.

LEB128 numbers, the section list, custom sections, import/export entries
and limits: just enough to answer questions before libbinaryen is involved
(which memories are 64-bit, which names an interface uses, which exports a
host must call) and to put custom sections back after it wrote a module."""

from __future__ import annotations

import builtins
from typing import NamedTuple

import wasmtime

from asyncpy.errors import InputError

# Section ids this package reads or rewrites.
CODE_SECTION = 10
DATA_SECTION = 11


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


def section(sid: int, payload: bytes) -> bytes:
    return bytes((sid,)) + uleb(len(payload)) + payload


def custom_section(name: bytes, body: bytes) -> bytes:
    payload = uleb(len(name)) + name + body
    return b"\0" + uleb(len(payload)) + payload


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

    def bytes(self, n: int) -> builtins.bytes:
        if self.pos + n > self.end:
            raise InputError("runs past the end")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def name(self) -> builtins.bytes:
        return self.bytes(self.u32())


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


# Constant expressions (offsets, global initialisers): opcodes with one LEB
# immediate (i32.const, i64.const, global.get; a signed LEB has the same
# bytes as an unsigned one), and the extended-const arithmetic.
_CONST_LEB = frozenset((0x41, 0x42, 0x23))
_CONST_ARITH = frozenset((0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E))


def read_const_expr(r: _Reader) -> bool | None:
    """Read a constant expression through its `end`: whether it uses the
    extended-const arithmetic, or None at an opcode this reader does not
    know (where `r` is left)."""
    extended = False
    while True:
        op = r.bytes(1)[0]
        if op == 0x0B:
            return extended
        if op in _CONST_LEB:
            r.u64()
        elif op in _CONST_ARITH:
            extended = True
        else:
            return None


class DataSegment(NamedTuple):
    start: int          # its first byte (the flags)
    head_end: int       # after flags, memory and offset: the bytes' length follows
    body: int           # its bytes
    end: int
    extended: bool      # the offset uses the extended-const arithmetic


class DataSection(NamedTuple):
    start: int          # the section's id byte
    payload: int
    end: int
    segments: list[DataSegment]


def data_section(data: bytes) -> DataSection | None:
    """The data section and its segments; None without one, or at a
    segment this reader does not know (an unknown flag or offset opcode)."""
    try:
        for sid, start, end, payload in sections(data):
            if sid != DATA_SECTION:
                continue
            r = _Reader(data, payload, end)
            segments = []
            for _ in range(r.u32()):
                at = r.pos
                flags = r.u32()
                if flags == 2:
                    r.u32()                 # memory index
                extended: bool | None = False
                if flags in (0, 2):
                    extended = read_const_expr(r)
                elif flags != 1:            # 1: passive, no offset
                    return None
                if extended is None:
                    return None
                head_end = r.pos
                size = r.u32()
                body = r.pos
                r.bytes(size)
                segments.append(DataSegment(at, head_end, body, r.pos, extended))
            return DataSection(start, payload, end, segments) if r.pos == end else None
    except (InputError, IndexError):
        return None
    return None


def data_offsets_extended(data: bytes) -> bool:
    """Whether an active data segment's offset uses the extended-const
    arithmetic (Binaryen 116's C API cannot show a data offset that is not
    a constant: it aborts)."""
    found = data_section(data)
    return found is not None and any(seg.extended for seg in found.segments)


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


def export_names(wasm: bytes) -> list[str]:
    """The export names of a binary module, read from its export section
    (without compiling it); as many as parse (the validator has the last
    word on a malformed module)."""
    names: list[str] = []
    try:
        for sid, _, end, payload in sections(wasm):
            if sid != 7:
                continue
            r = _Reader(wasm, payload, end)
            for _ in range(r.u32()):
                names.append(r.name().decode("utf-8", "replace"))
                r.bytes(1)      # kind
                r.u32()         # index
            break
    except (InputError, IndexError):
        pass
    return names


def import_modules(wasm: bytes) -> set[str]:
    """The module names of a binary module's imports (from its import
    section, without compiling it); as many as parse."""
    out: set[str] = set()
    try:
        for sid, _, end, payload in sections(wasm):
            if sid != 2:
                continue
            r = _Reader(wasm, payload, end)
            for _ in range(r.u32()):
                entry = _read_import(r)
                if entry is None:
                    break
                out.add(entry[0].decode("utf-8", "replace"))
            break
    except (InputError, IndexError):
        pass
    return out


def function_counts(wasm: bytes) -> tuple[int, int]:
    """(defined functions, imported functions) of a binary module."""
    defined = imported = 0
    for sid, _, end, payload in sections(wasm):
        r = _Reader(wasm, payload, end)
        if sid == 3:
            defined = r.u32()
        elif sid == 2:
            for _ in range(r.u32()):
                entry = _read_import(r)
                if entry is None:
                    raise InputError("an import of a kind this reader does not know")
                imported += entry[2] == 0
    return defined, imported


def is_instrumented(wasm: bytes | wasmtime.Module) -> bool:
    if isinstance(wasm, wasmtime.Module):
        return any(e.name == "asyncify_get_state" for e in wasm.exports)
    return "asyncify_get_state" in export_names(bytes(wasm))
