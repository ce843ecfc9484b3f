"""The bundled runtime (asyncpy/runtime_wat, asyncpy/link.py): tasks that
keep their stacks across export returns (Go's //go:wasmexport semantics)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import wasmtime

from asyncpy.errors import AsyncpyError
from asyncpy.link import LinkOptions, api
from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.pipeline import transform_loaded
from asyncpy.wasm import load_bytes
from tests import pausehost

PROG = Path(__file__).with_name("runtime_prog.wat")
PAUSING = ("env.hostsleep",)
BLOCK = 4096


@functools.cache
def build(block: int = BLOCK, exports: tuple[str, ...] | None = None, optimize=None, **kw) -> bytes:
    loaded = load_bytes(PROG.read_bytes(), str(PROG), isolate=False)
    opts = TransformOptions(analysis=AnalysisOptions(imports=PAUSING), **kw)
    link = LinkOptions(wrap=exports, wrap_all=exports is None, block_size=block)
    return transform_loaded(loaded, opts, runtime=link, optimize=optimize).wasm


class Plain:
    """An instance whose imports do not pause; env.callback calls `inner`."""

    def __init__(self, wasm: bytes):
        self.store = wasmtime.Store()
        module = wasmtime.Module(self.store.engine, wasm)
        i32 = wasmtime.ValType.i32()
        self.callbacks = []

        def callback(x):
            self.callbacks.append(x)
            return self.ex["inner"](self.store, x)

        imports = []
        for imp in module.imports:
            if imp.name == "callback":
                imports.append(wasmtime.Func(self.store, wasmtime.FuncType([i32], [i32]), callback))
            else:
                imports.append(wasmtime.Func(self.store, wasmtime.FuncType([i32], [i32]), lambda x: x + 1))
        self.inst = wasmtime.Instance(self.store, module, imports)
        self.ex = self.inst.exports(self.store)

    def __getattr__(self, name):
        f = self.ex[name]
        return lambda *args: f(self.store, *args)

    def progress(self, ids, offset=8192):
        mem = self.ex["memory"]
        return [int.from_bytes(mem.read(self.store, offset + 4 * i, offset + 4 * i + 4), "little")
                for i in ids]


def test_api_matches_header():
    header = (Path(__file__).parent.parent / "examples" / "asyncpy.h").read_text()
    for name in api():
        assert f'ASYNCPY_IMPORT("{name}")' in header, name


@pytest.mark.parametrize("optimize", [None, (2, 0)], ids=["O0", "O2"])
def test_background_tasks_keep_their_stacks_across_export_returns(optimize):
    p = Plain(build(optimize=optimize))
    p.spawn(1, 5)                        # five workers, each 3 frames deep when paused
    seen = []
    for _call in range(1, 41):
        assert p.run(1) == 6             # 5 workers + this export's task
        seen.append(p.progress(range(1, 6)))
    # The call's task queues behind the workers, and its yield lets them
    # run once more: each resumed where it paused, with its locals and its
    # shadow-stack frame. (The first round only takes them to their yield.)
    assert all(s == [2 * i + 1] * 5 for i, s in enumerate(seen))
    assert p.run(0) == 6                 # one round before the call's task
    assert p.progress(range(1, 6)) == [80] * 5


def test_all_scalar_types_cross_a_wrapped_export():
    p = Plain(build())
    p.spawn(1, 2)
    assert p.mix(-3, 1 << 40, 0.5, 0.25) == -3 + (1 << 40) + 0.75
    assert p.progress([1, 2]) == [1, 1]


def test_a_thousand_live_tasks():
    p = Plain(build())
    p.spawn(0, 1000)
    assert p.run(3) == 1001
    assert p.progress(range(1000)) == [3] * 1000
    assert p.run(2) == 1001
    assert p.progress(range(1000)) == [6] * 1000


def test_finished_tasks_blocks_are_reused():
    p = Plain(build())
    for _ in range(200):
        assert p.run(2) == 1             # each call's task is freed after it
    used = p.ex["memory"].size(p.store)
    for _ in range(200):
        p.run(2)
    assert p.ex["memory"].size(p.store) == used


def test_virtual_clock_advances_only_when_every_task_sleeps():
    p = Plain(build())
    assert p.nap(5) == 5
    assert p.nap(3) == 8
    assert p.nap(0) == 8


def test_deadlock_inside_an_export_traps_with_a_message():
    p = Plain(build())
    assert p.nap(2) == 2                 # sleepers are not a deadlock: the clock advances
    with pytest.raises(wasmtime.Trap) as e:
        p.stuck()                        # waits on a queue nobody wakes, nothing else runs
    assert "asyncpy.rt.trap.deadlock" in str(e.value)


def test_stack_overflow_is_caught():
    p = Plain(build())
    with pytest.raises(wasmtime.Trap) as e:
        p.overflow(BLOCK - 64)
    assert "asyncpy.rt.trap.stack_overflow" in str(e.value)


@pytest.mark.parametrize("optimize", [None, (2, 0)], ids=["O0", "O2"])
def test_reentrant_export_from_an_import(optimize):
    p = Plain(build(optimize=optimize))
    p.spawn(1, 3)
    # outer yields (workers: 0 -> 1), calls env.callback, which calls the
    # export inner: a nested scheduler run where inner queues behind the
    # workers and yields 3 times (-> 5); then outer continues after the
    # import and yields once more (-> 6).
    assert p.outer(21) == 1042
    assert p.callbacks == [21]
    assert p.progress([1, 2, 3]) == [6, 6, 6]
    assert p.run(1) == 4
    assert p.progress([1, 2, 3]) == [8, 8, 8]


@pytest.mark.parametrize("check_bounds,optimize", [(False, None), (True, None), (False, (2, 0))])
def test_host_pause_while_several_tasks_exist(check_bounds, optimize):
    wasm = build(check_bounds=check_bounds, optimize=optimize)
    inst = pausehost.Instance(wasm, pausing={"hostsleep"})
    inst.policy = lambda n: True          # every hostsleep call unwinds to the host
    buf = inst.buffer(pausehost.DATA_ADDR, pausehost.BUF_SIZE)
    inst.drive("spawn", (1, 3), buf)
    inst.drive("spawn_sleeper", (100,), buf)
    results = []
    for x in range(5):
        results.append(inst.drive("work", (x,), buf))
    assert inst.pauses >= 10             # the export's task and the background sleeper
    # hostsleep's results are default_result(name, n, args): recompute them
    # from the host's log of calls to check each resumed with its own value.
    assert all(isinstance(r, int) for r in results)
    mem = lambda off: int.from_bytes(inst.memory.read(inst.store, off, off + 4), "little")
    workers = [mem(8192 + 4 * i) for i in (1, 2, 3)]
    assert workers == [workers[0]] * 3 and workers[0] >= 10
    assert mem(8192 + 400) >= 5          # the sleeper ran and recorded progress
    # Same program, no pauses at all: the same observable results.
    inst2 = pausehost.Instance(wasm, pausing={"hostsleep"})
    buf2 = inst2.buffer(pausehost.DATA_ADDR, pausehost.BUF_SIZE)
    inst2.drive("spawn", (1, 3), buf2)
    inst2.drive("spawn_sleeper", (100,), buf2)
    assert [inst2.drive("work", (x,), buf2) for x in range(5)] == results
    assert inst2.calls == inst.calls


def test_only_listed_exports_are_wrapped():
    wasm = build(exports=("run",))
    p = Plain(wasm)
    with pytest.raises(wasmtime.Trap) as e:
        p.work(1)                        # not a task: yield traps
    assert "asyncpy.rt.trap.not_in_task" in str(e.value)
    assert p.run(2) == 1


def test_runtime_functions_have_their_roles(tmp_path):
    from asyncpy.pipeline import transform_loaded as tl

    loaded = load_bytes(PROG.read_bytes(), str(PROG), isolate=False)
    r = tl(loaded, TransformOptions(analysis=AnalysisOptions(imports=PAUSING)),
           runtime=LinkOptions(wrap_all=True, block_size=BLOCK))
    a = r.analysis
    assert a.top_most == {"asyncpy.rt.pause", "asyncpy.rt.host.suspend"}
    assert a.bottom_most == {"asyncpy.rt.run_until"}
    assert "asyncpy.rt.run_until" not in a.instrument
    assert "asyncpy.rt.export.run" not in a.instrument      # wrappers stay plain
    assert "asyncpy.rt.entry.run" in a.instrument
    assert set(r.link.wrapped) >= {"run", "work", "outer", "inner"}


def test_bad_imports_are_reported():
    wat = """(module (import "asyncpy" "nope" (func)) (memory 1))"""
    with pytest.raises(AsyncpyError, match=r"unknown runtime import asyncpy.nope"):
        transform_loaded(load_bytes(wat.encode(), "x.wat", isolate=False))
    wat = """(module (import "asyncpy" "yield" (func (param i32))) (memory 1))"""
    with pytest.raises(AsyncpyError, match="has type"):
        transform_loaded(load_bytes(wat.encode(), "x.wat", isolate=False))


def test_cli_reactor(tmp_path):
    from click.testing import CliRunner

    from asyncpy.cli import main

    out = tmp_path / "o.wasm"
    res = CliRunner().invoke(main, ["transform", str(PROG), "--reactor-exports", "run,spawn",
                                    "--imports", "env.hostsleep", "--task-stack", "4096", "-o", str(out)])
    assert res.exit_code == 0, res.output
    p = Plain(out.read_bytes())
    p.spawn(1, 2)
    assert p.run(4) == 3
    assert p.progress([1, 2]) == [4, 4]


# --------------------------------------------------------------------------
# the host-wait protocol (docs/host-protocol.md) seen from the runtime

SCENARIO_WAT = Path(__file__).with_name("scenarios") / "server.wat"


@functools.cache
def build_server(imports: tuple[str, ...] = ("env.backend",)) -> bytes:
    loaded = load_bytes(SCENARIO_WAT.read_bytes(), str(SCENARIO_WAT), isolate=False)
    opts = TransformOptions(analysis=AnalysisOptions(imports=imports))
    return transform_loaded(loaded, opts, runtime=LinkOptions(wrap_all=True, block_size=8192)).wasm


def test_real_time_without_an_async_host_waits_on_the_clock():
    # A plain synchronous host (never calls asyncpy_host_mode): a real-time
    # sleep with nothing else to run polls the clock import until it is due.
    # The clock here is the test's own, advanced by each reading.
    store = wasmtime.Store()
    module = wasmtime.Module(store.engine, build_server())
    reads, events = [], []

    def clock():
        reads.append(1)
        return 1000 + len(reads)

    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    funcs = {("asyncpy_host", "clock_ms"): wasmtime.Func(store, wasmtime.FuncType([], [i64]), clock),
             ("env", "log"): wasmtime.Func(store, wasmtime.FuncType([i32, i32], []),
                                           lambda k, v: events.append((k, v))),
             ("env", "backend"): wasmtime.Func(store, wasmtime.FuncType([i32], [i32]), lambda x: 2 * x + 1)}
    inst = wasmtime.Instance(store, module, [funcs[(i.module, i.name)] for i in module.imports])
    ex = inst.exports(store)
    assert ex["nap"](store, 7) == 7
    assert events == [(3, 7), (4, 7)]
    assert 1000 + len(reads) >= 1001 + 7          # it woke no earlier than its deadline
    assert ex["handle"](store, 5) == 11           # sync imports, as ever


def _runtime_prog_instance(callback=None):
    from asyncpy.host import Instance

    holder = {}

    def cb(x):
        return (callback or (lambda inst, x: inst.exports["inner"](inst.store, x)))(holder["inst"], x)

    inst = Instance(build(), {"env": {"hostsleep": lambda x: x + 1, "callback": cb}})
    holder["inst"] = inst
    return inst


def test_async_host_keeps_reentrancy_and_the_virtual_clock():
    import asyncio

    async def main():
        inst = _runtime_prog_instance()
        assert inst.tasks
        assert await inst.call("nap", 5) == 5           # virtual sleepers never go idle: the clock jumps
        assert await inst.call("nap", 3) == 8
        await inst.call("spawn", 1, 3)                  # workers that yield forever
        assert await inst.call("outer", 21) == 1042     # an import calling an export: nested run
        mem = inst.exports["memory"]
        return [int.from_bytes(mem.read(inst.store, 8192 + 4 * i, 8196 + 4 * i), "little") for i in (1, 2, 3)]
    progress = asyncio.run(main())
    p = Plain(build())                                  # the same calls without the async host
    p.nap(5), p.nap(3)
    p.spawn(1, 3)
    assert p.outer(21) == 1042
    assert progress == p.progress([1, 2, 3])


def test_reentrant_call_that_would_wait_on_the_host_traps_clearly():
    import asyncio

    from asyncpy.host import InstanceBroken

    async def main():
        inst = _runtime_prog_instance(lambda inst, x: inst.exports["stuck"](inst.store))
        with pytest.raises(wasmtime.Trap, match=r"asyncpy.rt.trap.nested_wait"):
            await inst.call("outer", 1)
        assert inst.broken and "re-entrant" in inst.broken
        with pytest.raises(InstanceBroken):
            await inst.call("run", 1)
    asyncio.run(main())


def test_cancel_takes_a_task_off_every_kind_of_wait():
    import asyncio

    from asyncpy.host import Instance, clock_ms

    async def main():
        events = []

        async def backend(x):
            await asyncio.sleep(x / 1000)
            return x

        inst = Instance(build_server(),
                        {"env": {"backend": backend, "log": lambda k, v: events.append((k, v))}})
        ex, store = inst.exports, inst.store
        await inst.call("start_ticker", 1000)           # a background task sleeping in real time
        pages = None
        for round_ in range(30):
            calls = [asyncio.ensure_future(inst.call(name, *args))
                     for name, args in (("nap", (10_000,)), ("join", ()), ("handle", (10_000,)))]
            await asyncio.sleep(0)
            assert inst.in_flight == 3                  # sleeping (6), on a wait queue (3), on the host (5)
            for c in calls:
                c.cancel()
            await asyncio.wait(calls)
            assert inst.in_flight == 0
            assert await inst.call("add", round_, 1) == round_ + 1
            if round_ == 1:
                pages = ex["memory"].size(store)
        assert ex["memory"].size(store) == pages       # cancelled tasks' blocks are reused
        # the wait queue still works after a waiter was taken off it
        assert await inst.call("handle", 3) == 3
        assert inst.broken is None
        # the earliest deadline is the ticker's (20 ms away), not a cancelled nap's
        assert ex["asyncpy_deadline"](store) - clock_ms() <= 20
    asyncio.run(main())


def test_async_import_that_is_not_a_pause_point_breaks_clearly():
    import asyncio

    from asyncpy.host import Instance, InstanceBroken

    async def backend(x):
        await asyncio.sleep(0)
        return x

    async def main():
        # transformed with env.log as the only pausing import: backend's callers are not instrumented
        inst = Instance(build_server(("env.log",)), {"env": {"backend": backend, "log": lambda k, v: None}})
        with pytest.raises(InstanceBroken, match="not a pause point"):
            await inst.call("twice", 1)
    asyncio.run(main())


def test_separate_data_memory_is_refused_with_the_runtime():
    loaded = load_bytes(SCENARIO_WAT.read_bytes(), str(SCENARIO_WAT), isolate=False)
    with pytest.raises(AsyncpyError, match="--data-memory separate cannot be used with the task runtime"):
        transform_loaded(loaded, TransformOptions(data_memory="separate"))


def test_host_protocol_exports_and_the_clock_import_only_when_used():
    def names(wasm):
        m = wasmtime.Module(wasmtime.Engine(), wasm)
        return {e.name for e in m.exports}, {(i.module, i.name) for i in m.imports}
    exports, imports = names(build_server())
    assert {"asyncpy_host_mode", "asyncpy_suspend", "asyncpy_resume", "asyncpy_run", "asyncpy_call_pending",
            "asyncpy_take_done", "asyncpy_result_i64", "asyncpy_release", "asyncpy_deadline",
            "asyncpy_cancel", "asyncpy_recover", "asyncpy_current", "asyncpy_stack_size"} <= exports
    assert ("asyncpy_host", "clock_ms") in imports             # server.wat sleeps in real time
    _, imports = names(build())
    assert not any(m == "asyncpy_host" for m, _ in imports)     # runtime_prog.wat does not


def test_async_import_outside_any_task_pauses_the_whole_module():
    # only handle is wrapped: twice runs outside any task, so its backend
    # calls pause the whole module (Binaryen's protocol), and handle calls
    # made meanwhile wait for that pause to end instead of failing
    import asyncio

    from asyncpy.host import Instance

    loaded = load_bytes(SCENARIO_WAT.read_bytes(), str(SCENARIO_WAT), isolate=False)
    wasm = transform_loaded(loaded, TransformOptions(analysis=AnalysisOptions(imports=("env.backend",))),
                            runtime=LinkOptions(wrap=("handle",), block_size=8192)).wasm
    events = []

    async def backend(x):
        events.append(("start", x))
        await asyncio.sleep(0.01)
        events.append(("end", x))
        return 2 * x + 1

    async def main():
        inst = Instance(wasm, {"env": {"backend": backend, "log": lambda k, v: None}})
        both = await asyncio.gather(inst.call("twice", 5), inst.call("handle", 7), inst.call("handle", 8))
        return both, inst
    (tw, h7, h8), inst = asyncio.run(main())
    assert (tw, h7, h8) == (11 + 13, 15, 17)
    # twice's two waits held the instance: the handle calls came after them, then overlapped
    assert events[:4] == [("start", 5), ("end", 5), ("start", 6), ("end", 6)]
    assert [e[0] for e in events[4:]] == ["start", "start", "end", "end"]
    assert inst.broken is None


def test_an_instance_outlives_its_event_loop():
    # asyncio.run closes its loop: a sleeper's timer armed there is gone, so
    # the next loop must arm it again (60 s: a guard against a hang, not a measure)
    import asyncio

    from asyncpy.host import Instance

    events = []
    inst = Instance(build_server(),
                    {"env": {"backend": lambda x: x, "log": lambda k, v: events.append((k, v))}})
    async def first():
        await inst.call("start_ticker_every", 2, 500)
        assert await inst.call("add", 1, 2) == 3        # the ticker runs first, into its sleep
    asyncio.run(first())
    assert asyncio.run(asyncio.wait_for(inst.call("join"), 60)) == 1
    assert events == [(5, 1), (5, 2), (6, 0)]


def test_out_of_memory_for_task_blocks_is_a_clear_error():
    import asyncio

    from asyncpy.host import HostError, Instance

    wat = """(module
      (import "env" "backend" (func $backend (param i32) (result i32)))
      (memory (export "memory") 2 5)   ;; the host takes one page for its own buffer
      (global $__stack_pointer (mut i32) (i32.const 65536))
      (func (export "handle") (param $x i32) (result i32) (call $backend (local.get $x))))"""
    loaded = load_bytes(wat.encode(), "oom.wat", isolate=False)
    wasm = transform_loaded(loaded, TransformOptions(analysis=AnalysisOptions(imports=("env.backend",))),
                            runtime=LinkOptions(wrap_all=True, block_size=8192)).wasm

    async def main():
        gate = asyncio.Event()

        async def backend(x):
            await gate.wait()
            return x

        inst = Instance(wasm, {"env": {"backend": backend}})
        calls = [asyncio.ensure_future(inst.call("handle", i)) for i in range(40)]
        await asyncio.wait(calls, return_when=asyncio.FIRST_EXCEPTION)
        failed = [c for c in calls if c.done() and c.exception() is not None]
        assert failed and all(isinstance(c.exception(), HostError) for c in failed)
        assert "no memory for another task's block (8192 bytes each" in str(failed[0].exception())
        gate.set()
        ok = [await c for c in calls if c not in failed]
        assert ok == [i for i in range(40) if calls[i] not in failed] and len(ok) >= 16
        assert inst.broken is None and await inst.call("handle", 99) == 99    # blocks came back
    asyncio.run(main())
