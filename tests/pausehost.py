"""A synchronous asyncify host on wasmtime, for the transform tests.

It pauses a module inside its imports and resumes it later, with the same
protocol as Emscripten's and TinyGo's runtimes (and so, per docs/DESIGN.md §3,
the same protocol any module out of `wasm-opt --asyncify` must accept):

* the data struct `{current, end}` (`{i32, i32}`, or `{i64, i64}` on
  memory64) lives in the guest's linear memory, and the buffer follows it;
* a pausing import, told to pause at call number n (0-based, counting real
  calls only, not the re-entry while rewinding), computes its result, keeps
  it, calls `asyncify_start_unwind(ptr)` and returns a dummy (zeros);
* when the export returns with `asyncify_get_state() == 1` the driver calls
  `asyncify_stop_unwind()`, then `asyncify_start_rewind(ptr)`, and calls the
  same export again with the same arguments;
* the import, entered again in state 2, calls `asyncify_stop_rewind()` and
  returns the result it kept.

Checks made on the way, for every module (ours and Binaryen's): the import
re-entered while rewinding is the one that paused; when the rewind reaches
it, every frame has been popped (`current` is back at the buffer start);
after an export returns normally, the state is 0.

Buffer placement:

* WAT programs: at a fixed address the program leaves free (`DATA_ADDR`,
  the test programs keep [0, 8192) unused).
* C / WASI programs: the host grows memory by one page before `_start` and
  puts the data struct and buffer in that page. Nothing in the program owns
  it: wasi-libc's allocator only uses its initial heap and pages it grows
  itself, and the shadow stack lies below the heap.

Non-pausing `env` imports log their arguments (and return deterministic
values); WASI imports come from wasmtime's WASI, stdout is captured.

    r = run(wasm, pause_at=ALL)          # Result(value, out, calls, pauses)
    assert r.observed == run(original).observed
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from asyncpy.abi import NORMAL, PAGE_SIZE, REWINDING, UNWINDING
from asyncpy.host.protocol import Asyncify, data_memory, is_instrumented

# One engine, with the features asyncpy's outputs use: the product host's.
from asyncpy.wasm.engine import engine

DATA_ADDR = 16          # WAT programs: data struct here...
BUF_SIZE = 4096         # ...and a buffer of this size right after it
PAGE = PAGE_SIZE
ALL = "all"             # pause_at=ALL: pause at every import call
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")

_MODULES: dict[str, wasmtime.Module] = {}


def compile(wasm: bytes | str) -> wasmtime.Module:
    """Compile once per distinct module (bytes or WAT text)."""
    key = hashlib.sha256(wasm.encode() if isinstance(wasm, str) else bytes(wasm)).hexdigest()
    m = _MODULES.get(key)
    if m is None:
        m = _MODULES[key] = wasmtime.Module(engine(), wasm)
    return m


def _kind(t: wasmtime.ValType) -> str:
    return str(t)


def default_result(name: str, n: int, args: tuple, results: list[str]):
    """A deterministic result that depends on the import, its call number and
    its arguments, so that a wrong resume shows up in the output."""
    h = (sum(int(a) if not isinstance(a, float) else int(a * 4) for a in args) * 7 + n * 13
         + len(name)) & 0xFFFF
    out = []
    for i, k in enumerate(results):
        v = h + 101 * i
        out.append({"i32": v, "i64": v * 1_000_003 + (1 << 40), "f32": v / 4.0, "f64": v / 8.0 + 0.125}[k])
    return out


def _zero(k: str):
    return 0.0 if k in ("f32", "f64") else 0


@dataclass(frozen=True)
class Buffer:
    addr: int           # address of the data struct (the asyncify_*_unwind/rewind argument)
    start: int          # first buffer byte
    end: int


@dataclass
class Exit:
    code: int


@dataclass
class Result:
    value: object       # the export's result (a tuple for several), or Exit(code) for WASI
    out: object         # log of non-pausing imports [(name, args)...], or captured stdout
    calls: int          # pausing-import calls (real ones, not rewind re-entries)
    pauses: int

    @property
    def observed(self):
        """What must not depend on where the program paused."""
        return (self.value, self.out, self.calls)


class Unwound(Exception):
    pass


class Instance:
    """One live instance plus the host side of the asyncify protocol.

    `pausing`: which `env` imports may pause (names, a predicate, or None
    for every import named sleep*). `policy(n) -> bool`
    decides whether pausing-import call n pauses. `result_fn(name, n, args,
    result_kinds) -> list` computes an import's results.
    """

    def __init__(self, wasm: bytes | str, *, pausing=None,
                 result_fn: Callable = default_result, wasi: bool | None = None, argv=None):
        self.module = compile(wasm)
        self.store = wasmtime.Store(engine())
        self.is_pausing = _pausing_predicate(pausing)
        self.result_fn = result_fn
        self.policy: Callable[[int], bool] = lambda n: False
        self.calls = 0
        self.pauses = 0
        self.log: list = []
        self.active: Buffer | None = None
        self.pending: dict[int, tuple[str, list]] = {}   # buffer addr -> (import, result)
        self._stdout = None
        linker = wasmtime.Linker(engine())
        if wasi is None:
            wasi = any(i.module in WASI_MODULES for i in self.module.imports)
        if wasi:
            cfg = wasmtime.WasiConfig()
            cfg.argv = list(argv or ["prog"])
            cfg.inherit_stderr()
            fd, self._stdout = tempfile.mkstemp(suffix=".stdout")
            os.close(fd)
            cfg.stdout_file = self._stdout
            self.store.set_wasi(cfg)
            linker.define_wasi()
        for imp in self.module.imports:
            if imp.module == "env" and isinstance(imp.type, wasmtime.GlobalType):
                # --relocatable: the asyncify state and data globals come from the host.
                i64 = imp.type.content == wasmtime.ValType.i64()
                zero = wasmtime.Val.i64(0) if i64 else wasmtime.Val.i32(0)
                linker.define(self.store, "env", imp.name, wasmtime.Global(self.store, imp.type, zero))
                continue
            if imp.module != "env" or not isinstance(imp.type, wasmtime.FuncType):
                continue
            ft = imp.type
            results = [_kind(t) for t in ft.results]
            handler = self._pausing_handler(imp.name, results) if self.is_pausing(imp.name) \
                else self._log_handler(imp.name, results)
            linker.define_func("env", imp.name, ft, handler, access_caller=False)
        self.instance = linker.instantiate(self.store, self.module)
        self.exports = self.instance.exports(self.store)
        self.instrumented = is_instrumented(self.exports)
        self.memory = next(v for k, v in ((k, self.exports[k]) for k in self._export_names())
                           if isinstance(v, wasmtime.Memory))
        # --data-memory separate: the data struct and buffer live in their own memory.
        self.data_memory = data_memory(self.exports, self.memory)
        self.mem64 = self.data_memory.type(self.store).is_64
        self.ptr_size = 8 if self.mem64 else 4
        # the control calls and the data struct (uninstrumented: never paused)
        self.asyncify = Asyncify(self.store, self.exports, self.data_memory) if self.instrumented else None

    def _export_names(self):
        return [e.name for e in self.module.exports]

    def close(self) -> str:
        """Drop the instance; return captured stdout ('' without WASI)."""
        out = ""
        if self._stdout:
            out = Path(self._stdout).read_text()
            os.unlink(self._stdout)
            self._stdout = None
        return out

    # -- memory and the data struct
    def state(self) -> int:
        return self.asyncify.state() if self.asyncify is not None else NORMAL

    def _proto(self) -> Asyncify:
        assert self.asyncify is not None, "the module is not instrumented"
        return self.asyncify

    def read_ptr(self, addr: int) -> int:
        return self._proto().read_ptr(addr)

    def write_ptr(self, addr: int, value: int) -> None:
        self._proto().write_ptr(addr, value)

    def buffer(self, addr: int, size: int) -> Buffer:
        """Write a data struct at `addr` whose buffer follows it, `size` bytes."""
        start = addr + self._proto().struct_size
        buf = Buffer(addr, start, start + size)
        self._proto().write_struct(addr, start, buf.end)
        return buf

    def grown_page_buffer(self) -> Buffer:
        """C programs: grow memory by one page before starting; the data
        struct and buffer fill that page, which the program never uses."""
        old = self.data_memory.grow(self.store, 1)
        return self.buffer(old * PAGE, PAGE - self._proto().struct_size)

    def current(self, buf: Buffer) -> int:
        return self._proto().current(buf.addr)

    # -- imports
    def _log_handler(self, name, results):
        def handler(*args):
            self.log.append((name, args))
            vals = self.result_fn(name, len(self.log), args, results) if results else []
            return _ret(vals)
        return handler

    def _pausing_handler(self, name, results):
        def handler(*args):
            if self.state() == REWINDING:
                buf = self.active
                assert buf is not None, "rewinding without a buffer"
                pname, vals = self.pending.pop(buf.addr)
                assert pname == name, f"rewound into import {name}, but {pname} paused"
                assert self.current(buf) == buf.start, \
                    (f"rewind reached the import with {self.current(buf) - buf.start} bytes "
                     "still in the buffer")
                self._proto().stop_rewind()
                return _ret(vals)
            assert self.state() == NORMAL, f"import {name} called in state {self.state()}"
            n = self.calls
            self.calls += 1
            vals = list(self.result_fn(name, n, args, results))
            if self.instrumented and self.policy(n):
                buf = self.active
                assert buf is not None, "pause requested without a buffer"
                assert self.current(buf) == buf.start, "buffer not empty at the start of an unwind"
                self.pending[buf.addr] = (name, vals)
                self._proto().start_unwind(buf.addr)
                self.pauses += 1
                return _ret([_zero(k) for k in results])
            return _ret(vals)
        return handler

    # -- driving exports
    def call(self, export: str, args=(), buf: Buffer | None = None):
        """Call an export once (first call or rewind). Returns its value, or
        raises Unwound if it unwound (after asyncify_stop_unwind)."""
        if buf is not None:
            self.active = buf
        try:
            v = self.exports[export](self.store, *args)
        except wasmtime.ExitTrap as e:
            v = Exit(e.code)
        if self.state() == UNWINDING:
            self._proto().stop_unwind()
            raise Unwound()
        assert self.state() == NORMAL, f"{export} returned in state {self.state()}"
        return v

    def resume(self, export: str, args=(), buf: Buffer | None = None):
        buf = buf or self.active
        self.active = buf
        self._proto().start_rewind(buf.addr)
        return self.call(export, args, buf)

    def drive(self, export: str, args=(), buf: Buffer | None = None):
        """Call an export, resuming it every time it unwinds, until it returns."""
        try:
            return self.call(export, args, buf)
        except Unwound:
            pass
        while True:
            try:
                return self.resume(export, args)
            except Unwound:
                continue


def _ret(vals):
    if not vals:
        return None
    return vals[0] if len(vals) == 1 else list(vals)


def _pausing_predicate(pausing) -> Callable[[str], bool]:
    """None: every `env` import whose name starts with "sleep"; else a
    predicate, or a collection of names."""
    if pausing is None:
        return lambda name: name.startswith("sleep")
    if callable(pausing):
        return pausing
    names = frozenset(pausing)
    return lambda name: name in names


def _policy(pause_at) -> Callable[[int], bool]:
    if pause_at is None:
        return lambda n: False
    if pause_at == ALL:
        return lambda n: True
    if callable(pause_at):
        return pause_at
    s = frozenset(pause_at)
    return lambda n: n in s


def run(wasm: bytes | str, pause_at=None, *, export: str | None = None, args=(),
        pausing=None, result_fn: Callable = default_result,
        data_addr: int | None = DATA_ADDR, buf_size: int = BUF_SIZE, argv=None) -> Result:
    """Run one export (default: `main`, or `_start` for a WASI command) to
    completion, pausing at the import calls `pause_at` selects (None, ALL, a
    set of call numbers, or a predicate). WASI programs get their buffer in a
    freshly grown page (data_addr is ignored); others at `data_addr`."""
    inst = Instance(wasm, pausing=pausing, result_fn=result_fn, argv=argv)
    stdout = ""
    try:
        is_wasi = inst._stdout is not None
        if export is None:
            export = "_start" if "_start" in inst.exports else "main"
        buf = None
        if inst.instrumented:
            buf = inst.grown_page_buffer() if is_wasi else inst.buffer(data_addr, buf_size)
        elif pause_at not in (None, ()):
            raise ValueError("pause_at given for a module that is not instrumented")
        inst.policy = _policy(pause_at)
        value = inst.drive(export, args, buf)
        if isinstance(value, list):
            value = tuple(value)
    finally:
        stdout = inst.close()
    out = stdout if is_wasi else inst.log
    return Result(value, out, inst.calls, inst.pauses)


def memory_bytes(inst: Instance, lo: int, hi: int) -> bytes:
    return bytes(inst.memory.read(inst.store, lo, hi))


__all__ = ["ALL", "BUF_SIZE", "DATA_ADDR", "Buffer", "Exit", "Instance", "Result", "Unwound",
           "compile", "default_result", "engine", "memory_bytes", "run"]
