"""A wasmtime host that runs a corpus program, optionally pausing it at every
call of its `env.pause` import, through the asyncify runtime ABI.

`env.pause(n)` returns n + 1 (what corpus/README.md and the expected outputs
assume). In pausing mode, each call in the normal state unwinds the whole
stack out of `_start` and rewinds it straight back:

    pause(n):  save the buffer region; write {current, end} at buf;
               asyncify_start_unwind(buf); return (ignored)
    _start returns -> asyncify_stop_unwind(); check current <= end;
               asyncify_start_rewind(buf); call _start again
    pause(n) while rewinding: asyncify_stop_rewind(); restore the region;
               return the value computed the first time

The round-trip time of one pause is taken from just before
`asyncify_start_unwind` to just after `asyncify_stop_rewind`: the unwind
through every instrumented frame, the exit to the host, the re-entry and the
rewind, plus the host's own calls (the same for both transforms).

The buffer lives in pages the host grows at the first pause. The program's
allocator may later hand those pages out (Go's sbrk does: it trusts its own
break, not memory.size), so the host saves the bytes the frames are about to
overwrite and restores them once the stack is rewound; this copying happens
outside the timed round trip. The saved prefix adapts to the largest unwind
seen so far; an unwind that goes past it is flagged (`unsafe_pauses`).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from asyncpy.abi import PAGE_SIZE as PAGE
from asyncpy.abi import STRUCT_SIZE_32 as HEADER  # {current: i32, end: i32}; the corpus is wasm32
from asyncpy.host.protocol import Asyncify, is_instrumented
from asyncpy.wasm.engine import engine

REGION_PAGES = 16                  # 1 MiB of frames at most
REGION = REGION_PAGES * PAGE


def pause_value(n: int) -> int:
    return (n + 1) & 0xFFFFFFFF


@dataclass
class RunResult:
    seconds: float
    exit_code: int
    stdout: str
    pause_calls: int = 0
    round_trips: list[float] = field(default_factory=list)
    max_frame_bytes: int = 0
    unsafe_pauses: int = 0
    error: str | None = None


class OverflowError_(Exception):
    pass


def make_engine() -> wasmtime.Engine:
    """The product's engine (asyncpy.wasm.engine): its features are a superset
    of wasmtime's defaults that the corpus uses, and it sets nothing that
    changes how code runs (no fuel, no epochs), so the timings are the same."""
    return engine()


class Program:
    """One compiled variant of a program (compiled once, instantiated per run)."""

    def __init__(self, engine: wasmtime.Engine, data: bytes, label: str):
        self.engine = engine
        self.label = label
        t0 = time.perf_counter()
        self.module = wasmtime.Module(engine, data)
        self.compile_seconds = time.perf_counter() - t0
        exports = {e.name for e in self.module.exports}
        self.instrumented = is_instrumented(exports)
        self.has_pause = any(i.module == "env" and i.name == "pause" for i in self.module.imports)
        self.on_unwind = None   # a tracing build's asyncpy_profile.unwind(id) (bench/worker.py)

    def run(self, pausing: bool = False) -> RunResult:
        if pausing and not (self.instrumented and self.has_pause):
            raise ValueError(f"{self.label}: cannot pause (not instrumented or no env.pause)")
        fd, out_path = tempfile.mkstemp(prefix="bench-", suffix=".stdout")
        os.close(fd)
        try:
            return self._run(pausing, out_path)
        finally:
            os.unlink(out_path)

    def _run(self, pausing: bool, out_path: str) -> RunResult:
        engine = self.engine
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [self.label]
        wasi.stdout_file = out_path
        store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()

        st = _State()
        i32 = wasmtime.ValType.i32()

        def pause(caller, n):
            if st.rewinding:
                st.proto.stop_rewind()
                st.trips.append(time.perf_counter() - st.t0)
                st.rewinding = False
                if st.saved is not None:
                    st.memory.write(caller, st.saved, st.buf)
                    st.saved = None
                return st.value
            st.calls += 1
            value = pause_value(n)
            if not pausing:
                return value
            if st.buf is None:
                st.buf = st.memory.grow(caller, REGION_PAGES) * PAGE
                st.save_len = REGION
            st.saved = st.memory.read(caller, st.buf, st.buf + st.save_len)
            st.proto.write_struct(st.buf, st.buf + HEADER, st.buf + REGION)
            st.value = value
            st.unwinding = True
            st.t0 = time.perf_counter()
            st.proto.start_unwind(st.buf)
            return 0

        if self.has_pause:
            linker.define_func("env", "pause", wasmtime.FuncType([i32], [i32]), pause, access_caller=True)
        if self.on_unwind is not None:
            linker.define_func("asyncpy_profile", "unwind", wasmtime.FuncType([i32], []), self.on_unwind)
        instance = linker.instantiate(store, self.module)
        ex = instance.exports(store)
        start = ex["_start"]
        if pausing:
            st.memory = ex["memory"]
            st.proto = Asyncify(store, ex, st.memory)

        code = 0
        error = None
        t0 = time.perf_counter()
        try:
            while True:
                start(store)
                if not st.unwinding:
                    break
                st.unwinding = False
                st.proto.stop_unwind()
                current, end = st.proto.read_struct(st.buf)
                used = current - st.buf  # header included: what the save must cover
                if current > end:
                    raise OverflowError_(f"unwind overflowed the {REGION} byte buffer")
                st.max_frame = max(st.max_frame, used - HEADER)
                if used > st.save_len:
                    st.unsafe += 1
                st.save_len = min(REGION, max(4096, 2 * used + 1024))
                st.proto.start_rewind(st.buf)
                st.rewinding = True
        except wasmtime.ExitTrap as e:
            code = e.code
        except (wasmtime.Trap, wasmtime.WasmtimeError, OverflowError_) as e:
            code = -1
            error = f"{type(e).__name__}: {_trap_text(e)}"
        seconds = time.perf_counter() - t0
        del instance, store
        return RunResult(seconds=seconds, exit_code=code, stdout=Path(out_path).read_text(errors="replace"),
                         pause_calls=st.calls, round_trips=st.trips, max_frame_bytes=st.max_frame,
                         unsafe_pauses=st.unsafe, error=error)


class _State:
    def __init__(self):
        self.rewinding = False
        self.unwinding = False
        self.value = 0
        self.buf = None
        self.save_len = 0
        self.saved = None
        self.t0 = 0.0
        self.trips: list[float] = []
        self.calls = 0
        self.max_frame = 0
        self.unsafe = 0
        self.memory = None
        self.proto: Asyncify | None = None


def median(xs):
    return statistics.median(xs) if xs else None


def _trap_text(e: Exception) -> str:
    """wasmtime's trap message in one line: the cause and the innermost frames."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    frames = [ln for ln in lines if ln[:1].isdigit()][:3]
    return "; ".join(dict.fromkeys([lines[-1], *frames])) if lines else type(e).__name__
