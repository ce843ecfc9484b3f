"""Data segments' bytes go around Binaryen (asyncpy.wasm.hollow): a plain
transform gives Binaryen the module with empty segments and puts the
input's data section back. The output must be the same module as with the
bytes going through Binaryen: the same segments (flags, memory, offset,
bytes) and every other section byte for byte; and it must run the same."""

from __future__ import annotations

import hashlib

import pytest
import wasmtime

from asyncpy import pipeline
from asyncpy.errors import AsyncpyError
from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.wasm import load_bytes
from asyncpy.wasm.binary import _Reader, data_section, read_const_expr, sections
from asyncpy.wasm.hollow import DATA_SECTION, Hollowed, hollow, restore
from tests.support import go_hello, wat2wasm

WAT = """(module
  (import "env" "pause" (func $pause))
  (import "env" "base" (global $base i32))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, world")
  (data (global.get $base) "from a global")
  (data (i32.add (global.get $base) (i32.const 28)) "extended const")
  (data $p "passive bytes")
  (func (export "main") (result i32)
    (call $pause)
    (memory.init $p (i32.const 200) (i32.const 0) (i32.const 7))
    (data.drop $p)
    (i32.add (i32.load (i32.const 16)) (i32.load (i32.const 200)))))
"""
OPTIONS = TransformOptions(analysis=AnalysisOptions(imports=("env.pause",)))


def segments(wasm: bytes) -> list[tuple[bytes, str]]:
    """(flags, memory and offset as encoded; a hash of the bytes) per segment."""
    section = data_section(wasm)
    assert section is not None
    return [(bytes(wasm[seg.start:seg.head_end]), hashlib.sha256(wasm[seg.body:seg.end]).hexdigest())
            for seg in section.segments]


def other_sections(wasm: bytes) -> list[tuple[int, bytes]]:
    return [(sid, bytes(wasm[payload:end])) for sid, _, end, payload in sections(wasm) if sid != DATA_SECTION]


def both(raw: bytes, monkeypatch) -> tuple[bytes, bytes]:
    """The transform's output as it is, and with the bytes through Binaryen."""
    loaded = load_bytes(raw)
    assert hollow(loaded.data) is not None, "the test module must be one that gets hollowed"
    around = pipeline.transform_loaded(loaded, OPTIONS).wasm
    with monkeypatch.context() as m:
        m.setattr(pipeline, "hollow", lambda data: None)
        through = pipeline.transform_loaded(loaded, OPTIONS).wasm
    return around, through


def test_segments_and_all_else_are_as_through_binaryen(monkeypatch):
    around, through = both(wat2wasm(WAT), monkeypatch)
    assert len(segments(around)) == 4
    assert segments(around) == segments(through)
    assert other_sections(around) == other_sections(through)


def test_the_output_runs_the_same(monkeypatch):
    around, through = both(wat2wasm(WAT), monkeypatch)
    results = []
    for wasm in (around, through):
        engine = wasmtime.Engine()
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        linker.define_func("env", "pause", wasmtime.FuncType([], []), lambda: None)
        base = wasmtime.Global(store, wasmtime.GlobalType(wasmtime.ValType.i32(), False), 64)
        linker.define(store, "env", "base", base)
        inst = linker.instantiate(store, wasmtime.Module(engine, wasm))
        mem = inst.exports(store)["memory"]
        results.append((inst.exports(store)["main"](store), bytes(mem.read(store, 0, 256))))
    assert results[0] == results[1]
    assert b"from a global" in results[0][1] and b"passive" in results[0][1]
    assert b"extended const" in results[0][1]


@pytest.mark.slow
def test_a_go_program(monkeypatch):
    """27,000 segments of a real Go program."""
    around, through = both(go_hello().read_bytes(), monkeypatch)
    assert segments(around) == segments(through)
    assert other_sections(around) == other_sections(through)


def test_offset_expressions_are_read_whole():
    """i32.const / i64.const (signed LEBs), global.get, the extended-const
    arithmetic (reported); anything else is not read."""
    code = bytes([0x41, 0xE4, 0x00, 0x23, 0x03, 0x6A, 0x42, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x7C, 0x0B, 0x99])
    r = _Reader(code)
    assert read_const_expr(r) is True and code[r.pos] == 0x99
    assert read_const_expr(_Reader(bytes([0x41, 0x05, 0x0B]))) is False
    assert read_const_expr(_Reader(bytes([0x41, 0x01, 0xD2, 0x00, 0x0B]))) is None


def test_unknown_offset_shapes_and_no_data_are_left_alone():
    assert hollow(wat2wasm("(module (memory 1))")) is None
    raw = wat2wasm('(module (memory 1) (data (i32.const 8) "abc"))')
    # Replace i32.const (0x41) in the offset by an opcode the reader does not know.
    for sid, _, end, payload in sections(raw):
        if sid == DATA_SECTION:
            at = raw.index(b"\x41\x08\x0b", payload, end)
            odd = raw[:at] + b"\xd2" + raw[at + 1:]
            assert hollow(odd) is None
            assert hollow(raw) is not None


def test_a_count_that_does_not_match_is_an_internal_error():
    _, h = hollow(wat2wasm('(module (memory 1) (data (i32.const 8) "abc") (data (i32.const 16) "de"))'))
    one = wat2wasm('(module (memory 1) (data (i32.const 8) "abc"))')
    with pytest.raises(AsyncpyError, match="internal error"):
        restore(one, h)
    with pytest.raises(AsyncpyError, match="no data section"):
        restore(wat2wasm("(module (memory 1))"), Hollowed(h.section, h.count))
