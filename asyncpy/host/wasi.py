"""Non-blocking WASI preview1 for `asyncpy.host`.

wasmtime's own WASI (``Linker.define_wasi``) serves every call except the
ones that would block the thread that runs the event loop. Those are shadowed
(``linker.allow_shadowing = True``) by host functions that may return a
coroutine, which `asyncpy.host` turns into a pause of the module:

* ``poll_oneoff``: clock subscriptions (relative and absolute, realtime and
  monotonic) become ``asyncio.sleep``; fd_read / fd_write subscriptions are
  reported ready at once (the read itself is then asynchronous, below).
* ``fd_read`` on fd 0: reads the configured stdin asynchronously (bytes, an
  ``asyncio.StreamReader``, or the process's stdin through a reader thread).
  Other descriptors go to wasmtime's ``fd_read`` unchanged (through a small
  shim instance, since wasmtime's WASI reads the caller's ``memory`` export).
* ``fd_write`` on descriptors given an output callback (stdout/stderr
  captured by a Python function): the callback runs synchronously inside
  the guest's call, so output order follows the guest's events.
* ``clock_time_get``: answered from Python's clocks, so that absolute
  deadlines in ``poll_oneoff`` use the same clock as the guest (wasmtime's
  monotonic clock has a private origin a host cannot read).

Layouts (preview1, little-endian): subscription 48 bytes: userdata u64 @0,
tag u8 @8 (0 clock, 1 fd_read, 2 fd_write), clock {id u32 @16, timeout u64
@24, precision u64 @32, flags u16 @40 (bit 0: absolute)}, fd {fd u32 @16};
event 32 bytes: userdata u64 @0, error u16 @8, type u8 @10, fd_readwrite
{nbytes u64 @16, flags u16 @24}.
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import wasmtime

from asyncpy.wasm.engine import compile

WASI = "wasi_snapshot_preview1"

ESUCCESS = 0
EBADF = 8
EINVAL = 28
ENOTSUP = 58

SUB_SIZE = 48
EVENT_SIZE = 32
TAG_CLOCK, TAG_FD_READ, TAG_FD_WRITE = 0, 1, 2
ABSTIME = 1

CLOCKS: dict[int, Callable[[], int]] = {
    0: time.time_ns,            # realtime
    1: time.monotonic_ns,       # monotonic
    2: time.process_time_ns,    # process cputime
    3: time.thread_time_ns,     # thread cputime
}


def _i32(*params, results=1) -> wasmtime.FuncType:
    return wasmtime.FuncType([wasmtime.ValType.i32() if p == "i32" else wasmtime.ValType.i64()
                              for p in params], [wasmtime.ValType.i32()] * results)


POLL_ONEOFF_TYPE = _i32("i32", "i32", "i32", "i32")
FD_READ_TYPE = _i32("i32", "i32", "i32", "i32")
FD_WRITE_TYPE = FD_READ_TYPE
CLOCK_TIME_GET_TYPE = _i32("i32", "i64", "i32")

# A shim that lets the host call wasmtime's fd_read for the guest: wasmtime's
# WASI functions find the memory through their caller's `memory` export, so
# the call has to come from a wasm instance that exports the guest's memory.
_SHIM_WAT = f"""(module
  (import "{WASI}" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (import "guest" "memory" (memory 0))
  (export "memory" (memory 0))
  (import "{WASI}" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (func (export "fd_read") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $r)
  (func (export "fd_write") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $w))"""


# --------------------------------------------------------------------------
# stdin sources

class StdinSource:
    """Something `fd_read(0, ...)` reads from: `await read(n)` returns at
    most n bytes, b"" at end of input."""

    async def read(self, n: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError


class BytesStdin(StdinSource):
    def __init__(self, data: bytes = b""):
        self._data = bytes(data)
        self._pos = 0

    async def read(self, n: int) -> bytes:
        await asyncio.sleep(0)      # a read is a pause point, like a real one
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


class StreamStdin(StdinSource):
    def __init__(self, reader: asyncio.StreamReader):
        self._reader = reader

    async def read(self, n: int) -> bytes:
        return await self._reader.read(n)


class ProcessStdin(StdinSource):
    """The process's stdin, read by a daemon thread (works for pipes, files
    and terminals alike, and never blocks the event loop or interpreter exit).
    One per process: instances that share it share the input."""

    _instance: ProcessStdin | None = None

    @classmethod
    def shared(cls) -> ProcessStdin:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self, fd: int = 0):
        self._fd = fd
        self._buf = bytearray()
        self._eof = False
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                chunk = b""
            with self._lock:
                if chunk:
                    self._buf += chunk
                else:
                    self._eof = True
                self._wanted.clear()
                waiters, self._waiters = self._waiters, []
            for loop, fut in waiters:
                loop.call_soon_threadsafe(_set_done, fut)
            if not chunk:
                return

    async def read(self, n: int) -> bytes:
        while True:
            with self._lock:
                if self._buf or self._eof:
                    chunk = bytes(self._buf[:n])
                    del self._buf[:n]
                    return chunk
                fut = asyncio.get_running_loop().create_future()
                self._waiters.append((asyncio.get_running_loop(), fut))
                self._wanted.set()
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="asyncpy-stdin", daemon=True)
                    self._thread.start()
            await fut


def _set_done(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def stdin_source(stdin) -> StdinSource:
    """None: empty input; bytes/str; an asyncio.StreamReader; "inherit": the
    process's stdin; or a StdinSource."""
    if stdin is None:
        return BytesStdin(b"")
    if isinstance(stdin, StdinSource):
        return stdin
    if isinstance(stdin, str) and stdin == "inherit":
        return ProcessStdin.shared()
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        return BytesStdin(bytes(stdin))
    if isinstance(stdin, str):
        return BytesStdin(stdin.encode())
    if isinstance(stdin, asyncio.StreamReader):
        return StreamStdin(stdin)
    raise TypeError(f"stdin: expected None, bytes, 'inherit', an asyncio.StreamReader or a "
                    f"StdinSource, not {type(stdin).__name__}")


# --------------------------------------------------------------------------
# the shadowing host functions

class AsyncWasi:
    """The async WASI functions of one instance. `memory()` returns the
    guest's memory once it is instantiated (it is called only from inside
    calls into the guest)."""

    def __init__(self, store: wasmtime.Store, memory: Callable[[], wasmtime.Memory | None], stdin=None,
                 outputs: Mapping[int, Callable[[bytes], object]] | None = None):
        self.store = store
        self._memory = memory
        self.stdin = stdin_source(stdin)
        self.outputs = dict(outputs or {})    # fd -> callback, called in fd_write
        self._shim: Mapping[str, Any] | None = None     # wasmtime's fd_read over the guest's memory

    # -- wiring
    def functions(self) -> list[tuple[str, wasmtime.FuncType, Callable]]:
        """(name, type, function) of the WASI functions to define over
        wasmtime's; a function may return a coroutine (a pause)."""
        fns: list[tuple[str, wasmtime.FuncType, Callable[..., Any]]] = [
            ("poll_oneoff", POLL_ONEOFF_TYPE, self.poll_oneoff),
            ("fd_read", FD_READ_TYPE, self.fd_read),
            ("clock_time_get", CLOCK_TIME_GET_TYPE, self.clock_time_get)]
        if self.outputs:
            fns.append(("fd_write", FD_WRITE_TYPE, self.fd_write))
        return fns

    def _mem(self) -> wasmtime.Memory:
        m = self._memory()
        if m is None:
            raise RuntimeError("WASI call before the guest's memory is available")
        return m

    def read(self, addr: int, size: int) -> bytes:
        return bytes(self._mem().read(self.store, addr, addr + size))

    def write(self, addr: int, data: bytes) -> None:
        self._mem().write(self.store, data, addr)

    # -- clock_time_get(id, precision, *time) -> errno
    def clock_time_get(self, clock_id: int, precision: int, out: int) -> int:
        clock = CLOCKS.get(clock_id)
        if clock is None:
            return EINVAL
        self.write(out, struct.pack("<Q", clock()))
        return ESUCCESS

    # -- poll_oneoff(in, out, nsubscriptions, *nevents) -> errno
    def poll_oneoff(self, in_ptr: int, out_ptr: int, nsubs: int, nevents_ptr: int):
        if nsubs == 0:
            return EINVAL
        raw = self.read(in_ptr, nsubs * SUB_SIZE)
        ready: list[bytes] = []          # events that are ready now
        clocks: list[tuple[int, int]] = []   # (deadline on time.monotonic_ns, userdata)
        now = time.monotonic_ns()
        for i in range(nsubs):
            sub = raw[i * SUB_SIZE:(i + 1) * SUB_SIZE]
            userdata, tag = struct.unpack_from("<QB", sub, 0)
            if tag == TAG_CLOCK:
                clock_id, timeout, _precision, flags = struct.unpack_from("<IxxxxQQH", sub, 16)
                clock = CLOCKS.get(clock_id)
                if clock is None:
                    ready.append(_event(userdata, EINVAL, tag))
                    continue
                if not flags & ABSTIME:
                    deadline = now + timeout
                elif clock_id == 1:         # our monotonic clock is the deadlines' clock
                    deadline = timeout
                else:
                    deadline = time.monotonic_ns() + (timeout - clock())
                clocks.append((deadline, userdata))
            elif tag in (TAG_FD_READ, TAG_FD_WRITE):
                # Reported ready at once: a read that then has to wait waits in
                # fd_read (asynchronously), a write never waits.
                ready.append(_event(userdata, ESUCCESS, tag, nbytes=1))
            else:
                ready.append(_event(userdata, EINVAL, tag))

        def finish(events: list[bytes]) -> int:
            self.write(out_ptr, b"".join(events))
            self.write(nevents_ptr, struct.pack("<I", len(events)))
            return ESUCCESS

        def expired(at: int) -> list[bytes]:
            return [_event(u, ESUCCESS, TAG_CLOCK) for d, u in clocks if d <= at]

        if ready or not clocks:
            return finish(ready + expired(now))
        first = min(d for d, _ in clocks)
        if first <= now:
            return finish(expired(now))

        async def wait() -> int:
            # Always yield once (a blocking poll is a scheduling point even if
            # its deadline passed meanwhile); asyncio may wake a little early
            # (float seconds): never report a clock before its deadline.
            await asyncio.sleep(max(0, first - time.monotonic_ns()) / 1e9)
            while (left := first - time.monotonic_ns()) > 0:
                await asyncio.sleep(left / 1e9)
            return finish(expired(time.monotonic_ns()))
        return wait()

    # -- fd_read(fd, iovs, iovs_len, *nread) -> errno
    def fd_read(self, fd: int, iovs: int, iovs_len: int, nread_ptr: int):
        if fd != 0:
            return self._wasmtime_fd_read(fd, iovs, iovs_len, nread_ptr)
        vecs = [struct.unpack_from("<II", self.read(iovs + 8 * i, 8)) for i in range(iovs_len)]
        total = sum(n for _, n in vecs)

        async def read() -> int:
            data = await self.stdin.read(total) if total else b""
            pos = 0
            for addr, n in vecs:
                if pos >= len(data):
                    break
                part = data[pos:pos + n]
                self.write(addr, part)
                pos += len(part)
            self.write(nread_ptr, struct.pack("<I", len(data)))
            return ESUCCESS
        return read()

    # -- fd_write(fd, iovs, iovs_len, *nwritten) -> errno: only when a
    # callback is configured for some fd (synchronous, in the guest's thread;
    # wasmtime's stdout_custom calls back from a worker thread instead).
    def fd_write(self, fd: int, iovs: int, iovs_len: int, nwritten_ptr: int) -> int:
        out = self.outputs.get(fd)
        if out is None:
            return self._wasmtime("fd_write", fd, iovs, iovs_len, nwritten_ptr)
        vecs = [struct.unpack_from("<II", self.read(iovs + 8 * i, 8)) for i in range(iovs_len)]
        data = b"".join(self.read(addr, n) for addr, n in vecs if n)
        out(data)
        self.write(nwritten_ptr, struct.pack("<I", len(data)))
        return ESUCCESS

    def _wasmtime_fd_read(self, fd, iovs, iovs_len, nread_ptr) -> int:
        return self._wasmtime("fd_read", fd, iovs, iovs_len, nread_ptr)

    def _wasmtime(self, name: str, *args) -> int:
        """Call wasmtime's own WASI function `name` on the guest's memory."""
        if self._shim is None:
            engine = self.store.engine
            shim = compile(_SHIM_WAT, engine)      # once per engine
            linker = wasmtime.Linker(engine)
            linker.define_wasi()
            linker.define(self.store, "guest", "memory", self._mem())
            inst = linker.instantiate(self.store, shim)
            shim_exports: Mapping[str, Any] = inst.exports(self.store)
            self._shim = shim_exports
        r = self._shim[name](self.store, *args)
        assert isinstance(r, int)
        return r


def _event(userdata: int, error: int, tag: int, nbytes: int = 0) -> bytes:
    ev = bytearray(EVENT_SIZE)
    struct.pack_into("<QHB", ev, 0, userdata, error, tag)
    if tag != TAG_CLOCK:
        struct.pack_into("<QH", ev, 16, nbytes, 0)
    return bytes(ev)


def line_writer(write: Callable[[str], None], prefix: str = "") -> tuple[Callable[[bytes], None],
                                                                          Callable[[], None]]:
    """An output callback for WasiConfig.stdout_custom that hands complete
    lines (decoded, with `prefix`) to `write`, and a flush for the rest."""
    pending = bytearray()

    def out(data: bytes) -> None:
        pending.extend(data)
        while True:
            i = pending.find(b"\n")
            if i < 0:
                return
            line = bytes(pending[:i + 1])
            del pending[:i + 1]
            write(prefix + line.decode("utf-8", "replace"))

    def flush() -> None:
        if pending:
            write(prefix + bytes(pending).decode("utf-8", "replace") + "\n")
            pending.clear()
    return out, flush


__all__ = [
    "WASI",
    "AsyncWasi",
    "BytesStdin",
    "ProcessStdin",
    "StdinSource",
    "StreamStdin",
    "line_writer",
    "stdin_source",
]
