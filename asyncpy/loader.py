"""Getting an input file safely into Binaryen.

libbinaryen's reader calls `Fatal()` (which exits the process) on input it
cannot read, so nothing reaches it unchecked:

1. the file is read; text (`.wat`) is turned into a binary by wasmtime's
   `wat2wasm`;
2. wasmtime's validator, with every proposal Binaryen 116 understands
   switched on, must accept the binary (components, GC and stack switching
   are refused with a clear line);
3. custom sections other than `name` and `target_features` are dropped
   (DWARF in particular makes the reader abort);
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

_KEEP_CUSTOM = {b"name", b"target_features"}
# WAT starts with "(" after white space, ";;" line comments and "(; ;)" blocks.
_WAT_START = re.compile(r"\A(?:\s+|;;[^\n]*\n?|\(;.*?;\))*\(", re.S)


@dataclass(frozen=True)
class Loaded:
    path: str
    data: bytes          # the module as Binaryen will read it
    original_size: int


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


def strip_custom_sections(data: bytes) -> bytes:
    out = [data[:8]]
    for sid, start, end, payload in sections(data):
        if sid == 0:
            nlen, p = _leb(data, payload)
            if bytes(data[p:p + nlen]) not in _KEEP_CUSTOM:
                continue
        out.append(data[start:end])
    return b"".join(out)


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
        raise InputError(f"{path}: cannot parse WAT: {_first_line(str(e))}") from None


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
    cleaned = strip_custom_sections(binary)
    if isolate and not _probe_binaryen_read(cleaned):
        raise InputError(f"{path}: Binaryen 116 cannot read this module (it uses a feature or "
                         "encoding that version does not support)")
    return Loaded(path=path, data=cleaned, original_size=len(raw))


def load(path: str | os.PathLike, *, isolate: bool = True) -> Loaded:
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
