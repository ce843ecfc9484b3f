"""A Python host for asyncify-transformed modules, on asyncio and wasmtime.

Any import may be an ``async def`` (or any function that returns an
awaitable); calling an export gives a coroutine:

    inst = Instance(wasm, {"env": {"pause": pause}})     # pause may be async
    value = await inst.call("add_paused", 3, 4)
    code = await run_command("app.wasm", argv=["app", "x"])   # a WASI command

How a call runs (the protocol of Binaryen's Asyncify runtimes):

1. The driver calls the export.
2. An import whose Python function returns an awaitable keeps it, calls
   ``asyncify_start_unwind(ptr)`` and returns zeros; the instrumented callers
   save their frames into the buffer and return.
3. The export returns in state 1: the driver calls ``asyncify_stop_unwind``,
   awaits the awaitable (other tasks, and other instances, run meanwhile),
   calls ``asyncify_start_rewind(ptr)`` and calls the export again with the
   same arguments.
4. The import is entered again in state 2: it calls ``asyncify_stop_rewind``
   and returns the awaited value, or raises the awaited exception, which
   leaves the guest as a trap and reaches the awaiting caller as the same
   exception object (as with a synchronous import that raises).

Buffer (the ``{current, end}`` struct and the space after it):

* a module transformed with ``--data-memory separate`` exports
  ``asyncify_memory`` with the struct pre-initialised at address 0: the host
  uses it and never touches the guest's memory (required for Go, whose
  runtime owns all of its linear memory);
* else ``buffer=(addr, size)`` (or a function of the instance returning one,
  called once after instantiation): a region of the guest's memory that the
  caller allocated, e.g. with the guest's malloc; the struct takes its first
  8 bytes (16 on memory64);
* else the host grows the guest's memory by one page at instantiation and
  uses that page. Fine for wasi-libc (its allocator only uses pages it grew
  itself), wrong for Go (its allocator assumes it owns every page).

Only one call per instance can be in progress: a second ``call`` while the
first one is paused raises `InstanceBusy` (the buffer holds one stack).
Instances are independent (one wasmtime store each), so any number run at
once on one loop.

Cancelling the task that awaits a paused call discards the saved stack: the
instance is marked broken and every later use raises `InstanceBroken`. A
trap during an unwind or a rewind, or an unwind that saved nothing (the
pausing import is not a pause point of this module) also marks it broken.
An exception raised by an import (sync or async) is a trap for the guest
but leaves the instance usable, as in wasmtime.

WASI (`WasiOptions`): wasmtime's WASI, with ``poll_oneoff``, ``fd_read`` and
``clock_time_get`` replaced by the non-blocking versions of
`asyncpy.host.wasi` (clock waits are ``asyncio.sleep``, stdin is read
asynchronously). Those two pause points must be instrumented
(``--imports wasi_snapshot_preview1.poll_oneoff,wasi_snapshot_preview1.fd_read``),
which `ensure_instrumented` and ``asyncpy run`` do.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import wasmtime

import asyncpy.wasm.engine as wasm_engine
from asyncpy.abi import NORMAL, PAGE_SIZE, REWINDING, SEPARATE_MEMORY, SEPARATE_STRUCT, UNWINDING
from asyncpy.errors import AsyncpyError
from asyncpy.host.protocol import Asyncify, data_memory
from asyncpy.host.protocol import is_instrumented as _has_control_exports
from asyncpy.host.wasi import WASI, AsyncWasi
from asyncpy.wasm.engine import compile, engine

WASI_PAUSE_IMPORTS = (f"{WASI}.poll_oneoff", f"{WASI}.fd_read")


class HostError(AsyncpyError):
    """The host cannot run the module or the call as asked."""


class InstanceBroken(HostError):
    """The instance was left in a state it cannot continue from."""


class InstanceBusy(HostError):
    """A call was made while another call of the same instance is paused."""


class TooManyCalls(HostError):
    """More export calls in flight on one instance than its `max_calls`."""


HOST_MODE_IDLE_RETURN = 1       # docs/host-protocol.md
CLOCK_IMPORT = ("asyncpy_host", "clock_ms")
DEFAULT_MAX_CALLS = 10000


def clock_ms() -> int:
    """The clock of the runtime's real-time sleeps (asyncpy_host.clock_ms)."""
    return time.monotonic_ns() // 1_000_000


_RESULT_GETTERS = {"i32": "asyncpy_result_i32", "i64": "asyncpy_result_i64",
                   "f32": "asyncpy_result_f32", "f64": "asyncpy_result_f64"}


@dataclass
class _Call:
    """An export call of a task-runtime module that went pending."""
    name: str
    future: asyncio.Future
    results: list[str]           # wasm result types


# --------------------------------------------------------------------------
# WASI options

@dataclass
class WasiOptions:
    """WASI for one instance. stdout/stderr: "inherit" (the process's), None
    (discarded), a path, or a callable that receives each write's bytes.
    stdin: None (empty), bytes, "inherit" (the process's stdin, read by a
    thread), an asyncio.StreamReader or a `wasi_async.StdinSource`."""
    argv: list[str] = field(default_factory=lambda: ["main"])
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: Any = None
    stdout: Any = "inherit"
    stderr: Any = "inherit"
    preopens: Iterable[tuple[str, str]] = ()   # (host dir, guest path)

    def config(self) -> wasmtime.WasiConfig:
        cfg = wasmtime.WasiConfig()
        cfg.argv = list(self.argv)
        cfg.env = list(self.env.items())
        for which in ("stdout", "stderr"):
            target = getattr(self, which)
            if isinstance(target, str) and target == "inherit":
                getattr(cfg, f"inherit_{which}")()
            elif target is None or callable(target):
                pass        # discarded, or written by AsyncWasi.fd_write
            else:
                setattr(cfg, f"{which}_file", str(target))
        for host_dir, guest in self.preopens:
            cfg.preopen_dir(str(host_dir), guest)
        return cfg


    def outputs(self) -> dict[int, Callable[[bytes], Any]]:
        return {fd: t for fd, t in ((1, self.stdout), (2, self.stderr))
                if callable(t) and not isinstance(t, (str, os.PathLike))}


# --------------------------------------------------------------------------
# the instance

def _zero(t: wasmtime.ValType):
    k = str(t)
    return 0.0 if k in ("f32", "f64") else (None if k in ("externref", "funcref") else 0)


def _import_table(imports) -> dict[tuple[str, str], Any]:
    """{"env": {"pause": f}}, {"env.pause": f} or {("env", "pause"): f}
    -> {("env", "pause"): f}. Values are functions, or wasmtime externs
    (a Global, a Memory...) for imports of those kinds."""
    table: dict[tuple[str, str], Any] = {}
    for key, value in (imports or {}).items():
        if isinstance(key, tuple):
            table[key] = value
        elif isinstance(value, Mapping):
            for name, fn in value.items():
                table[(key, name)] = fn
        else:
            mod, sep, name = key.partition(".")
            if not sep:
                raise HostError(f"import {key!r}: give 'module.name' or a {{module: {{name: fn}}}} mapping")
            table[(mod, name)] = value
    return table


@dataclass
class _Pause:
    import_name: str
    awaitable: Any
    outcome: tuple[str, Any] | None = None      # ("value", v) or ("error", exc)


class Instance:
    """A wasmtime instance whose imports may be async. See the module docs."""

    def __init__(self, module, imports=None, *, wasi: WasiOptions | bool | None = None,
                 buffer: tuple[int, int] | Callable[[Instance], tuple[int, int]] | None = None,
                 engine: wasmtime.Engine | None = None, max_calls: int = DEFAULT_MAX_CALLS):
        self.module = compile(module, engine)
        self.store = wasmtime.Store(engine or wasm_engine.engine())
        self.broken: str | None = None
        self.pauses: dict[str, int] = {}         # import -> number of pauses (unwinds) so far
        self._busy = False
        self._pause: _Pause | None = None        # an import unwound, awaiting
        self._resuming: _Pause | None = None     # rewinding into that import
        self._exports: Mapping[str, Any] = {}
        self._instantiated = False                  # the start function has run
        self.memory: wasmtime.Memory | None = None
        # the task runtime's host-wait protocol (docs/host-protocol.md)
        self.tasks = False
        self.max_calls = max_calls
        self._calls: dict[int, _Call] = {}          # pending export calls by task handle
        self._ops: dict[int, asyncio.Future] = {}   # host operations by waiting task
        self._op_names: dict[int, str] = {}
        self._outcomes: dict[int, tuple[str, Any]] = {}   # completed, not yet delivered
        self._ready: list[int] = []                 # tasks to resume at the next drive
        self._drive_scheduled: asyncio.AbstractEventLoop | None = None   # the loop a drive waits in
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = -1
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._free_waiters: list[asyncio.Future] = []
        self._watch_state = False       # see handler in _wrap
        self._resumed: set[int] = set()  # resumed tasks not yet rewound into their import

        linker = wasmtime.Linker(self.store.engine)
        linker.allow_shadowing = True
        table = _import_table(imports)
        types = {(i.module, i.name): i.type for i in self.module.imports}
        if wasi is None:
            wasi = any(m == WASI for m, _ in types)
        self.wasi: AsyncWasi | None = None
        if wasi:
            opts = wasi if isinstance(wasi, WasiOptions) else WasiOptions()
            self.store.set_wasi(opts.config())
            linker.define_wasi()
            self.wasi = AsyncWasi(self.store, lambda: self.memory, opts.stdin, opts.outputs())
            for name, ftype, fn in self.wasi.functions():
                if (WASI, name) in types and (WASI, name) not in table:
                    linker.define_func(WASI, name, ftype, self._wrap(f"{WASI}.{name}", fn, ftype))
        self._real_time = CLOCK_IMPORT in types     # the program sleeps in real time
        if CLOCK_IMPORT in types and CLOCK_IMPORT not in table:
            table[CLOCK_IMPORT] = clock_ms
        for (mod, name), fn in table.items():
            itype = types.get((mod, name))
            if itype is None:
                continue        # not imported by this module
            if not isinstance(itype, wasmtime.FuncType):
                linker.define(self.store, mod, name, fn)
                continue
            if mod == "asyncpy_profile":   # transform.TRACE_MODULE: called while unwinding, never pauses
                linker.define_func(mod, name, itype, fn)
                continue
            linker.define_func(mod, name, itype, self._wrap(f"{mod}.{name}", fn, itype))

        missing = [i for i in self.module.imports if not _linked(linker, self.store, i)]
        if missing:
            example = f"{{{missing[0].module!r}: {{{missing[0].name!r}: fn}}}}"
            raise HostError(missing_imports_message([(i.module, i.name, i.type) for i in missing],
                                                    f"give it in the imports mapping, e.g. {example}"))
        self.instance = linker.instantiate(self.store, self.module)
        ex: Mapping[str, Any] = self.instance.exports(self.store)
        self._exports = ex
        self._instantiated = True
        named = ex.get("memory")
        self.memory = named if isinstance(named, wasmtime.Memory) \
            else next((m for m in (ex[e.name] for e in self.module.exports if e.name != SEPARATE_MEMORY)
                       if isinstance(m, wasmtime.Memory)), None)
        self.instrumented = _has_control_exports(ex)
        self.asyncify: Asyncify | None = None       # the control calls and the data struct
        self._buffer = (0, 0, 0)                    # the struct's address, the buffer's start and end
        if self.instrumented:
            self._setup_buffer(buffer)
        if self.instrumented and "asyncpy_suspend" in ex:
            self.tasks = True
            self.stack_size = ex["asyncpy_stack_size"](self.store)
            ex["asyncpy_host_mode"](self.store, HOST_MODE_IDLE_RETURN)

    # -- buffer
    def _setup_buffer(self, buffer) -> None:
        ex = self._exports
        mem = data_memory(ex, self.memory)
        if mem is None:
            raise HostError("the module has no exported memory for the asyncify buffer "
                            "(transform it with --data-memory separate)")
        self.asyncify = proto = Asyncify(self.store, ex, mem)
        if mem is not self.memory:      # asyncify_memory: the struct is pre-initialised at SEPARATE_STRUCT
            start, end = proto.read_struct(SEPARATE_STRUCT)
            self._buffer = (SEPARATE_STRUCT, start, end)
            return
        if callable(buffer):
            buffer = buffer(self)
        if buffer is None:
            try:
                old = self.memory.grow(self.store, 1)
            except wasmtime.WasmtimeError as e:
                raise HostError(f"cannot grow the guest's memory for the asyncify buffer ({e}); "
                                "pass buffer=(addr, size) or transform with --data-memory separate") from None
            buffer = (old * PAGE_SIZE, PAGE_SIZE)
        addr, size = buffer
        if size < proto.struct_size + 16:
            raise HostError(f"buffer of {size} bytes is too small")
        self._buffer = (addr, addr + proto.struct_size, addr + size)

    def _proto(self) -> Asyncify:
        # (only reached on paths that checked self.instrumented)
        assert self.asyncify is not None, "the module is not instrumented"
        return self.asyncify

    def _reset_struct(self) -> None:
        self._proto().write_struct(*self._buffer)

    def _saved_bytes(self) -> int:
        addr, start, _ = self._buffer
        return self._proto().current(addr) - start

    # -- state
    @property
    def exports(self) -> Mapping[str, Any]:
        """wasmtime's exports (call them with the store to bypass the driver)."""
        return self._exports

    def state(self) -> int:
        return self.asyncify.state() if self.asyncify is not None else NORMAL

    def _break(self, why: str, exc: BaseException | None = None) -> None:
        if self.broken is None:
            self.broken = why
        p, self._pause = self._pause, None
        if p is not None and inspect.iscoroutine(p.awaitable):
            p.awaitable.close()
        self._resuming = None
        calls, self._calls = self._calls, {}
        for c in calls.values():
            if not c.future.done():
                c.future.set_exception(exc if exc is not None else InstanceBroken(
                    f"the instance cannot be used any more: {why}"))
        ops, self._ops = self._ops, {}
        for op in ops.values():
            op.cancel()
        self._outcomes.clear()
        self._ready.clear()
        self._resumed.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_usable(self) -> None:
        if self.broken is not None:
            raise InstanceBroken(f"the instance cannot be used any more: {self.broken}")

    # -- imports
    def _wrap(self, qualname: str, fn: Callable, ftype: wasmtime.FuncType) -> Callable:
        results = list(ftype.results)
        zeros = [_zero(t) for t in results]
        dummy = None if not zeros else (zeros[0] if len(zeros) == 1 else zeros)

        def checked(r):
            # wasmtime would say "callback produced results when it shouldn't"
            # or "don't know how to convert None to i32", naming nothing.
            problem = _result_problem(r, results)
            if problem is not None:
                raise HostError(f"import {qualname} {problem}, but its type is {signature(ftype)}")
            return r

        def handler(*args):
            if self._resuming is not None:
                return checked(self._finish_rewind(qualname))
            if self._resumed:
                # A resumed task's first import call is the rewind into the
                # import it waited in (each call into the module costs, so
                # no state reading).
                t = self._exports["asyncpy_current"](self.store)
                if t in self._resumed:
                    self._resumed.discard(t)
                    if self._pause is None:
                        self._watch_state = False   # tasks switched: every unwind we started is over
                    return checked(self._finish_task_rewind(qualname, t))
            if self._watch_state:
                # An unwind this host started may be under way (reading the
                # state costs a call into the module, so only then).
                st = self.state()
                if st == REWINDING and self.tasks:
                    current = self._exports["asyncpy_current"](self.store)
                    return checked(self._finish_task_rewind(qualname, current))
                if st == NORMAL and self._pause is None:
                    self._watch_state = False
                if st != NORMAL:
                    why = (f"import {qualname} was called while the module is unwinding; the import that "
                           f"paused ({self._pause.import_name if self._pause else '?'}) is not a pause "
                           f"point of this module (transform it with --imports naming it)")
                    self._break(why)
                    raise InstanceBroken(why)
            r = fn(*args)
            if not inspect.isawaitable(r):
                return checked(r)
            if not self._instantiated:
                _close(r)
                raise HostError(f"import {qualname} returned an awaitable during instantiation "
                                "(the start function cannot pause)")
            if not self.instrumented:
                _close(r)
                raise HostError(f"import {qualname} returned an awaitable, but the module is not "
                                "instrumented (no asyncify_get_state export): transform it with "
                                f"asyncpy transform --imports {qualname}")
            if self.tasks:
                try:
                    t = self._exports["asyncpy_suspend"](self.store)
                except BaseException:       # e.g. the task's stack overflowed
                    _close(r)
                    raise
                if t:       # only this task waits; the scheduler runs the others
                    self._watch_state = True
                    self._start_op(t, qualname, r)
                    return dummy
                # not called from a task: pause the whole module (below)
            if not self._busy:
                _close(r)
                raise HostError(f"import {qualname} returned an awaitable in a call that did not go "
                                "through the async driver (use `await instance.call(...)`)")
            if self._pause is not None:
                _close(r)
                raise HostError(f"import {qualname} paused twice in one unwind")
            self._reset_struct()
            self._watch_state = True
            self._pause = _Pause(qualname, r)
            self.pauses[qualname] = self.pauses.get(qualname, 0) + 1
            self._proto().start_unwind(self._buffer[0])
            return dummy
        return handler

    def _finish_rewind(self, qualname: str):
        p = self._resuming
        assert p is not None and p.outcome is not None     # the handler checked; the driver set it
        if p.import_name != qualname or self.state() != REWINDING:
            why = (f"rewinding reached import {qualname} in state {self.state()}, but "
                   f"{p.import_name} paused")
            self._break(why)
            raise InstanceBroken(why)
        self._proto().stop_rewind()
        self._resuming = None
        kind, value = p.outcome
        if kind == "error":
            raise value
        return value

    # -- the task runtime's host-wait protocol (docs/host-protocol.md)
    def _start_op(self, t: int, qualname: str, awaitable) -> None:
        self.pauses[qualname] = self.pauses.get(qualname, 0) + 1
        fut = asyncio.ensure_future(awaitable)      # runs from now on, overlapping the others
        self._ops[t] = fut
        self._op_names[t] = qualname
        fut.add_done_callback(functools.partial(self._op_done, t))

    def _op_done(self, t: int, fut: asyncio.Future) -> None:
        if self._ops.get(t) is not fut:
            return                  # cancelled with its call, or the instance broke
        del self._ops[t]
        if fut.cancelled():
            self._outcomes[t] = ("error", asyncio.CancelledError(
                f"the host operation of import {self._op_names.get(t, '?')} was cancelled"))
        elif fut.exception() is not None:
            self._outcomes[t] = ("error", fut.exception())
        else:
            self._outcomes[t] = ("value", fut.result())
        self._ready.append(t)
        self._schedule_drive()

    def _finish_task_rewind(self, qualname: str, t: int):
        outcome = self._outcomes.pop(t, None)
        if outcome is None or self._op_names.get(t) != qualname:
            why = (f"a task was rewound into import {qualname} without a result for it "
                   f"(it waited in {self._op_names.get(t, 'no import')})")
            self._break(why)
            raise InstanceBroken(why)
        del self._op_names[t]
        self._proto().stop_rewind()
        kind, value = outcome
        if kind == "error":
            raise value
        return value

    def _schedule_drive(self) -> None:
        loop = asyncio.get_running_loop()
        # (an instance may outlive the loop of asyncio.run: a drive left in
        # a closed loop never runs, so schedule again in this one)
        if self._drive_scheduled is not loop and self.broken is None:
            self._drive_scheduled = loop
            loop.call_soon(self._drive)

    def _drive(self) -> None:
        """Deliver completed host operations and due sleeps: one scheduler
        run until the module is idle again. Runs from the event loop, never
        inside another entry into the module."""
        self._drive_scheduled = None
        if self.broken is not None or self._busy:
            return                  # a whole-module pause: driven again when it ends
        ex, store = self._exports, self.store
        ready, self._ready = self._ready, []
        for t in ready:
            try:
                ex["asyncpy_resume"](store, t)
            except wasmtime.Trap as e:
                name = self._op_names.get(t, "?")
                self._break(f"import {name} paused a task but nothing of it was saved: it is not a "
                            f"pause point of this module (transform it with --imports naming it); {e}")
                return
            self._resumed.add(t)
        try:
            done = ex["asyncpy_run"](store)
        except Exception as e:
            self._after_trap(e, entry_call=False)
            done = None
        self._after_entry(done)

    def _after_entry(self, done: int | None = None) -> None:
        """Hand finished pending calls their results; arm the timer for the
        earliest real-time wake-up. `done`: how many calls finished, when
        known (each call into the module costs, from Python)."""
        if self.broken is not None:
            return
        ex, store = self._exports, self.store
        # (only calls that went pending can be on the done list)
        while self._calls and (done is None or done > 0):
            t = ex["asyncpy_take_done"](store)
            if not t:
                break
            call = self._calls.pop(t, None)
            values = [] if call is None else [ex[_RESULT_GETTERS[k]](store, t, j)
                                              for j, k in enumerate(call.results)]
            ex["asyncpy_release"](store, t)
            if call is not None and not call.future.done():
                call.future.set_result(None if not values else values[0] if len(values) == 1 else values)
            if done is not None:
                done -= 1
        if not self._real_time:
            return
        deadline = ex["asyncpy_deadline"](store)
        if deadline == self._timer_at and self._timer is not None and \
                self._timer_loop is asyncio.get_running_loop():
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline >= 0:
            # asyncio may fire a little early (float seconds): a margin
            # saves a second round through the module
            delay = max(0, deadline - clock_ms()) / 1000 + 0.0002
            self._timer_loop = asyncio.get_running_loop()
            self._timer = self._timer_loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = -1
        self._schedule_drive()

    def _after_trap(self, e: BaseException, entry_call: bool) -> int | None:
        """A trap came out of an entry with the state normal: find the task
        that trapped, give the exception to its caller, and make the module
        usable again. Returns the handle of the entry's own call if it is
        still alive (it is pending now), else None (the entry's caller gets
        `e`)."""
        ex, store = self._exports, self.store
        t = ex["asyncpy_recover"](store)
        pending = ex["asyncpy_call_pending"](store)
        self._op_names.pop(t, None)
        self._outcomes.pop(t, None)
        self._resumed.discard(t)
        if t == -1:
            self._break(f"a trap in a re-entrant export call ({e}): the tasks below it are lost", e)
            return None
        if isinstance(e, wasmtime.ExitTrap):
            self._break(f"the program exited (code {e.code})", e)
            return None
        call = self._calls.pop(t, None) if t else None
        if call is not None:
            if not call.future.done():
                call.future.set_exception(self._explain(e))
            return pending or None
        if t and (pending or not entry_call):
            # a task nobody awaits (started with asyncpy.go): who should see it is unknown
            self._break(f"a background task trapped: {e}", e)
            return None
        if pending:     # the trap was outside any task; the entry's own call is alive
            ex["asyncpy_cancel"](store, pending)
        return None

    def _explain(self, e: BaseException) -> BaseException:
        if isinstance(e, wasmtime.Trap) and "asyncpy.rt.trap.stack_overflow" in str(e):
            err = HostError(f"a task overflowed its stack: {self.stack_size} bytes per task (transform "
                            f"with a bigger --task-stack)")
            err.__cause__ = e
            return err
        if isinstance(e, wasmtime.Trap) and "asyncpy.rt.trap.out_of_memory" in str(e):
            err = HostError(f"no memory for another task's block ({self.stack_size} bytes each; "
                            f"{len(self._calls)} calls in flight): lower max_calls or --task-stack")
            err.__cause__ = e
            return err
        return e

    def _cancel_call(self, t: int) -> None:
        """Cancel one pending call: its host operation and its task."""
        if self._calls.pop(t, None) is None or self.broken is not None:
            return
        op = self._ops.pop(t, None)
        if op is not None:
            op.cancel()
        self._op_names.pop(t, None)
        self._outcomes.pop(t, None)
        self._resumed.discard(t)
        if t in self._ready:
            self._ready.remove(t)
        self._exports["asyncpy_cancel"](self.store, t)
        self._after_entry()

    async def _wait_free(self) -> None:
        while self._busy:
            fut = asyncio.get_running_loop().create_future()
            self._free_waiters.append(fut)
            await fut

    def _set_free(self) -> None:
        self._busy = False
        waiters, self._free_waiters = self._free_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)
        if self.tasks and (self._ready or self._timer_at >= 0):
            self._schedule_drive()

    @property
    def in_flight(self) -> int:
        """Export calls of this instance that are pending (task runtime)."""
        return len(self._calls)

    # -- calls
    def export(self, name: str) -> Callable[..., Any]:
        """`name` as an async function: `await inst.export("f")(1, 2)`."""
        async def call(*args):
            return await self.call(name, *args)
        call.__name__ = name
        return call

    async def call(self, name: str, *args):
        """Call export `name`; pauses of async imports wait without blocking
        the loop. Returns the export's result (a list for several).

        With the task runtime, any number of calls may be in flight (up to
        `max_calls`), each its own task; cancelling the awaiting asyncio
        task cancels that call only. Otherwise one call at a time."""
        self._check_usable()
        func = self._exports.get(name)
        if not isinstance(func, wasmtime.Func):
            raise HostError(f"the module has no exported function {name!r}")
        if self.tasks:
            return await self._call_task(name, func, args)
        if self._busy:
            raise InstanceBusy(f"cannot call {name}: another call of this instance is in progress "
                               "(one call at a time per instance)")
        return await self._call_whole(name, func, args)

    async def _call_task(self, name: str, func: wasmtime.Func, args):
        if len(self._calls) >= self.max_calls:
            raise TooManyCalls(f"cannot call {name}: {len(self._calls)} calls are in flight on this "
                               f"instance, its limit (max_calls={self.max_calls})")
        await self._wait_free()
        self._check_usable()
        ex, store = self._exports, self.store
        try:
            result = await self._call_whole(name, func, args)
        except Exception as e:
            if self.broken is not None or self.state() != NORMAL:
                raise
            t = self._after_trap(e, entry_call=True)
            self._after_entry()
            if t is None:
                raise self._explain(e) from None
        else:
            t = ex["asyncpy_call_pending"](store)
            if not t:
                self._after_entry()
                return result
        fut = asyncio.get_running_loop().create_future()
        self._calls[t] = _Call(name, fut, [str(r) for r in func.type(store).results])
        self._after_entry()
        try:
            return await fut
        except asyncio.CancelledError:
            self._cancel_call(t)
            raise

    async def _call_whole(self, name: str, func: wasmtime.Func, args):
        self._busy = True
        try:
            while True:
                try:
                    result = func(self.store, *args)
                except BaseException:
                    if self.instrumented and self.broken is None and self.state() != NORMAL:
                        during = "an unwind" if self.state() == UNWINDING else "a rewind"
                        self._break(f"a trap during {during} in {name} (buffer too small, or a bug)")
                    self._pause = self._resuming = None
                    raise
                if not self.instrumented or self.state() == NORMAL:
                    if self._pause is not None or self._resuming is not None:
                        self._break(f"{name} returned normally with a pause pending")
                        raise InstanceBroken(self.broken)
                    return result
                if self.state() != UNWINDING:
                    self._break(f"{name} returned in state {self.state()}")
                    raise InstanceBroken(self.broken)
                try:
                    self._proto().stop_unwind()
                except BaseException:       # traps when the saved frames overran the buffer
                    self._break(f"a trap at the end of an unwind in {name} (the saved frames overran "
                                "the buffer: give a bigger one)")
                    raise
                p = self._pause
                if p is None:
                    self._break(f"{name} unwound, but no import paused")
                    raise InstanceBroken(self.broken)
                if self._saved_bytes() <= 0:
                    self._break(f"import {p.import_name} paused but nothing was saved: it is not a "
                                "pause point of this module (transform it with --imports naming it)")
                    raise InstanceBroken(self.broken)
                try:
                    value = await p.awaitable
                except Exception as e:      # raised in the guest at the import, then to our caller
                    p.outcome = ("error", e)
                except BaseException as e:  # cancelled (or KeyboardInterrupt...): the stack is lost
                    self._break(f"{type(e).__name__} while {name} was paused in import {p.import_name}; "
                                "its saved stack was discarded")
                    raise
                else:
                    p.outcome = ("value", value)
                self._pause = None
                self._resuming = p
                self._proto().start_rewind(self._buffer[0])
        finally:
            self._set_free()

    async def run_command(self) -> int:
        """Run a WASI command's `_start`; return its exit code."""
        try:
            await self.call("_start")
        except wasmtime.ExitTrap as e:
            return e.code
        return 0

    async def initialize(self) -> None:
        """A WASI reactor: call `_initialize` (if exported)."""
        if "_initialize" in self._exports:
            await self.call("_initialize")


def signature(ftype: wasmtime.FuncType) -> str:
    """`(i32, i64) -> f64`, `() -> ()`: a function type as a reader writes it."""
    def part(types) -> str:
        names = [str(t) for t in types]
        return names[0] if len(names) == 1 else f"({', '.join(names)})"
    return f"({', '.join(str(t) for t in ftype.params)}) -> {part(ftype.results)}"


def _result_problem(r, results: list) -> str | None:
    """What is wrong with `r` as the result of an import returning
    `results`, or None."""
    def fits(v, t) -> bool:
        k = str(t)
        if k in ("i32", "i64"):
            return isinstance(v, int)
        if k in ("f32", "f64"):
            return isinstance(v, (int, float))
        return True         # references, v128: wasmtime converts or says what is wrong
    if not results:
        return None if r is None else f"returned {r!r}"
    if len(results) == 1:
        return None if fits(r, results[0]) else f"returned {r!r}"
    if not isinstance(r, (list, tuple)) or len(r) != len(results):
        return f"returned {r!r} (it must return {len(results)} values)"
    return next((f"returned {v!r} as result {i}" for i, (v, t) in enumerate(zip(r, results, strict=True))
                 if not fits(v, t)), None)


def _linked(linker: wasmtime.Linker, store: wasmtime.Store, imp) -> bool:
    try:
        linker.get(store, imp.module, imp.name)
    except wasmtime.WasmtimeError:
        return False
    return True


def missing_imports_message(missing: Sequence[tuple[str, str | None, Any]], how: str,
                            what: str = "the module") -> str:
    """One line naming the imports nobody supplies (with their types where
    known) and how to supply them."""
    def one(m: str, n: str | None, t: Any) -> str:
        if isinstance(t, wasmtime.FuncType):
            return f"{m}.{n} {signature(t)}"
        return f"{m}.{n}" + (f" ({type(t).__name__.removesuffix('Type').lower()})" if t is not None else "")
    more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
    names = ", ".join(one(*x) for x in missing[:4]) + more
    return f"{what} imports {names}, which nothing supplies: {how}"


def _close(r) -> None:
    if inspect.iscoroutine(r):
        r.close()


# --------------------------------------------------------------------------
# `asyncpy run`


def check_runnable(wasm: bytes, table: Mapping[tuple[str, str], Any], name: str) -> None:
    """What `asyncpy run` checks before instrumenting: a `_start` export, and
    a supplier for every import (WASI, the --host file; `asyncify.*` and
    `asyncpy.*` are resolved by the transform itself)."""
    from asyncpy.wasm import interface_names

    names = interface_names(wasm)
    if names is None:
        return          # the loader will say what is wrong with the sections
    imports, exports = names
    if "_start" not in exports:
        kind = "a reactor (it exports _initialize)" if "_initialize" in exports else "not a WASI command"
        raise HostError(f"{name}: no _start export: {kind}; asyncpy run runs WASI commands "
                        "(for a reactor, use asyncpy.host.Instance from Python)")
    instrumented = "asyncify_get_state" in exports
    probe = wasmtime.Linker(engine())
    probe.define_wasi()
    store = wasmtime.Store(engine())
    missing = []
    for m, n in imports:
        if (m, n) in table or (not instrumented and m in ("asyncify", "asyncpy")):
            continue
        try:
            probe.get(store, m, n)
        except wasmtime.WasmtimeError:
            missing.append((m, n, None))
    if missing:
        m, n, _ = missing[0]
        raise HostError(missing_imports_message(
            missing, f"define {'them' if len(missing) > 1 else 'it'} in a Python file as "
                     f"IMPORTS = {{{m!r}: {{{n!r}: fn}}}} (fn may be async) and pass --host FILE.py",
            what=name))


__all__ = [
    "DEFAULT_MAX_CALLS",
    "WASI_PAUSE_IMPORTS",
    "HostError",
    "Instance",
    "InstanceBroken",
    "InstanceBusy",
    "TooManyCalls",
    "WasiOptions",
    "check_runnable",
    "clock_ms",
    "missing_imports_message",
    "signature",
]
