"""The shared host scenarios (tests/scenarios/) on the Python host: the
same programs, steps and expected event orders the JavaScript host runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from asyncpy.host import Instance
from tests.support import run_cli

HERE = Path(__file__).with_name("scenarios")
DOC = json.loads((HERE / "scenarios.json").read_text())


@pytest.fixture(scope="module")
def server_wasm(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("scenarios") / "server.async.wasm"
    r = run_cli("transform", str(HERE / DOC["module"]), *DOC["transform"], "-q", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def imports(kind: str, events: list):
    def log(k, v):
        events.append([k, v])

    def check(x):
        if x < 0:
            raise RuntimeError(f"backend failed: {x}")
        return 2 * x + 1

    barrier: list[asyncio.Future] = []

    async def backend_async(x):
        if x < 0:
            await asyncio.sleep(0)
            check(x)
        if x // 10000:
            fut = asyncio.get_running_loop().create_future()
            barrier.append(fut)
            if len(barrier) >= x // 10000:
                for f in barrier:
                    if not f.done():
                        f.set_result(None)
            await fut
        await asyncio.sleep((x % 1000) / 1000)
        return check(x)

    return {"env": {"log": log, "backend": backend_async if kind == "async" else check}}


async def play(wasm: bytes, sc: dict):
    events: list = []
    inst = Instance(wasm, imports(sc["backend"], events))
    await inst.initialize()
    tasks: dict[str, asyncio.Task] = {}
    for step in sc["steps"]:
        if "call" in step:
            tasks[step["id"]] = asyncio.ensure_future(inst.call(step["call"], *step["args"]))
            await asyncio.sleep(0)          # let it enter the module, in step order
        elif "wait" in step:
            await asyncio.wait([tasks[step["wait"]]])
        elif "cancel" in step:
            t = tasks[step["cancel"]]
            t.cancel()
            await asyncio.wait([t])
    await asyncio.wait(list(tasks.values()))
    return inst, events, tasks


def check_outcome(sc: dict, events: list, tasks: dict) -> None:
    exp = sc["expect"]
    results = {k: t.result() for k, t in tasks.items() if not t.cancelled() and t.exception() is None}
    errors = {k: str(t.exception()) for k, t in tasks.items() if not t.cancelled() and t.exception()}
    cancelled = sorted(k for k, t in tasks.items() if t.cancelled())
    assert results == exp.get("results", {})
    assert errors == exp.get("errors", {})
    assert cancelled == sorted(exp.get("cancelled", []))
    if "events" in exp:
        assert events == exp["events"]
    else:
        pos = 0
        for group in exp["event_groups"]:
            got = events[pos:pos + len(group)]
            assert sorted(got) == sorted(group), f"events {pos}..{pos + len(group)}"
            pos += len(group)
        assert pos == len(events)


@pytest.mark.parametrize("sc", DOC["scenarios"], ids=[s["name"] for s in DOC["scenarios"]])
def test_scenario(server_wasm, sc):
    inst, events, tasks = asyncio.run(play(server_wasm, sc))
    check_outcome(sc, events, tasks)
    assert inst.broken is None and inst.in_flight == 0
