"""The host-wait protocol on asyncio (`python -m bench --only host`).

Figures, all from one process run, side by side:

* the cost of one host round trip for a task: a task calls an import the
  host implements as `async def` (returning at once), so the task is
  suspended into its own block, the host awaits the coroutine, delivers the
  value and resumes the task (`asyncpy_suspend`, an asyncio callback,
  `asyncpy_resume` + `asyncpy_run`, the rewind). Next to it: the same loop
  with a plain synchronous import (no suspend: the floor), and a
  whole-module asyncify pause of the same loop without the task runtime
  (the Python host's pre-existing path, one call per instance);
* throughput of `await inst.call("handle", i)` with 1, 10 and 100 callers
  in flight on one instance, each call awaiting the backend once: with a
  backend that only yields to the loop (the protocol's own cost) and with
  one that takes 1 ms (latency: where concurrency pays).
"""

from __future__ import annotations

import asyncio
import statistics
import time

WAT = """(module
  (import "env" "backend" (func $backend (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 65536))
  ;; n backend calls in a row on one task
  (func (export "loop") (param $n i32) (result i32)
    (local $acc i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (call $backend (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc))
  (func (export "handle") (param $x i32) (result i32)
    (i32.add (call $backend (local.get $x)) (i32.const 1))))
"""

ROUND_TRIPS = 1000
CALLS = 600             # per throughput figure, backend that only yields
LATENCY_CALLS = {1: 100, 10: 300, 100: 600}
REPEATS = 3


def _transform(reactor: bool) -> bytes:
    from asyncpy.link import LinkOptions
    from asyncpy.options import AnalysisOptions, TransformOptions
    from asyncpy.pipeline import transform_loaded
    from asyncpy.wasm import load_bytes

    loaded = load_bytes(WAT.encode(), "host_wait.wat", isolate=False)
    opts = TransformOptions(analysis=AnalysisOptions(imports=("env.backend",)))
    runtime = LinkOptions(wrap_all=True, block_size=8192) if reactor else None
    return transform_loaded(loaded, opts, runtime=runtime, optimize=(2, 0)).wasm


async def _instant(x: int) -> int:
    return x


async def _yield(x: int) -> int:
    await asyncio.sleep(0)
    return x


async def _one_ms(x: int) -> int:
    await asyncio.sleep(0.001)
    return x


def _sync(x: int) -> int:
    return x


async def _loop_seconds(wasm: bytes, backend, n: int) -> float:
    from asyncpy.host import Instance

    inst = Instance(wasm, {"env": {"backend": backend}})
    await inst.call("loop", 10)                  # warm up (first block, compiled code)
    t0 = time.perf_counter()
    await inst.call("loop", n)
    return (time.perf_counter() - t0) / n


async def _throughput(wasm: bytes, backend, callers: int, calls: int) -> float:
    from asyncpy.host import Instance

    inst = Instance(wasm, {"env": {"backend": backend}})
    per = calls // callers

    async def caller(k: int) -> None:
        for i in range(per):
            r = await inst.call("handle", k * per + i)
            assert r == k * per + i + 1
    await asyncio.gather(*(inst.call("handle", i) for i in range(callers)))   # warm up the blocks
    t0 = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(callers)))
    return per * callers / (time.perf_counter() - t0)


def measure(log=print) -> dict:
    tasks = _transform(reactor=True)
    whole = _transform(reactor=False)
    out: dict = {"round_trips": ROUND_TRIPS}

    async def main() -> None:
        trips: dict[str, list[float]] = {"task_async": [], "sync_import": [], "whole_module_async": []}
        for _ in range(REPEATS):        # interleaved, so that noise hits all alike
            trips["task_async"].append(await _loop_seconds(tasks, _instant, ROUND_TRIPS))
            trips["sync_import"].append(await _loop_seconds(tasks, _sync, ROUND_TRIPS))
            trips["whole_module_async"].append(await _loop_seconds(whole, _instant, ROUND_TRIPS))
        out["seconds_per_call"] = {k: statistics.median(v) for k, v in trips.items()}
        tp: dict[str, dict[int, list[float]]] = {"yield": {}, "1ms": {}}
        for _ in range(REPEATS):
            for callers in (1, 10, 100):
                tp["yield"].setdefault(callers, []).append(await _throughput(tasks, _yield, callers, CALLS))
                tp["1ms"].setdefault(callers, []).append(
                    await _throughput(tasks, _one_ms, callers, LATENCY_CALLS[callers]))
        out["calls_per_second"] = {k: {c: statistics.median(v) for c, v in d.items()} for k, d in tp.items()}
    asyncio.run(main())
    s = out["seconds_per_call"]
    log(f"host: round trip {s['task_async'] * 1e6:.0f} µs (task), "
        f"sync import {s['sync_import'] * 1e6:.1f} µs, "
        f"whole-module pause {s['whole_module_async'] * 1e6:.0f} µs")
    return out


def markdown(r: dict) -> str:
    s = r["seconds_per_call"]
    lines = [
        "### Waiting on the host (asyncio, task runtime)",
        "",
        "| per call of the import | µs |",
        "|---|--:|",
        ("| task suspended, `async def` awaited, task resumed (host round trip) "
         f"| {s['task_async'] * 1e6:.1f} |"),
        f"| the same import as a plain function (no suspend) | {s['sync_import'] * 1e6:.1f} |",
        (f"| whole-module asyncify pause, no task runtime (one call per instance) "
         f"| {s['whole_module_async'] * 1e6:.1f} |"),
        "",
        "| export calls in flight | calls/s, backend yields once | calls/s, backend takes 1 ms |",
        "|---|--:|--:|",
    ]
    for c in (1, 10, 100):
        y = r["calls_per_second"]["yield"][c]
        m = r["calls_per_second"]["1ms"][c]
        lines.append(f"| {c} | {y:,.0f} | {m:,.0f} |")
    lines += ["", (f"Medians of {REPEATS} interleaved runs; {r['round_trips']} round trips per run; "
                   "each throughput call is one `await inst.call` whose task awaits the backend once.")]
    return "\n".join(lines)
