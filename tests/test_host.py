"""asyncpy.host: async imports on asyncio, non-blocking WASI, `asyncpy run`."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wasmtime

from asyncpy.cache import cache_dir
from asyncpy.host import (
    WASI_PAUSE_IMPORTS,
    HostError,
    Instance,
    InstanceBroken,
    InstanceBusy,
    TooManyCalls,
    WasiOptions,
    ensure_instrumented,
)
from asyncpy.host.run import run_command
from corpus import build, expected
from corpus import run as corpus_run
from tests.support import ROOT, run_cli, wat2wasm

WASI = "wasi_snapshot_preview1"

# --------------------------------------------------------------------------
# programs

# A WASI command that sleeps in real time; also one of the shared host scenarios' programs.
SLEEPER_C = (ROOT / "tests" / "scenarios" / "asyncify" / "programs" / "sleeper.c").read_text()

ECHO_C = r"""
#include <ctype.h>
#include <stdio.h>

int main(void) {
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, stdin)) {
        for (char *p = line; *p; p++) *p = toupper((unsigned char)*p);
        printf("%d: %s", ++n, line);
        fflush(stdout);
    }
    printf("eof after %d lines\n", n);
    return 0;
}
"""


def build_c(name: str, source: str) -> Path:
    """Compile a test C program with zig (cached by source hash)."""
    key = hashlib.sha256(source.encode() + build._zig_version().encode()).hexdigest()[:16]
    out = build.cache_dir() / f"test-host-{name}-{key}.wasm"
    if not out.exists():
        src = out.with_suffix(".c")
        src.write_text(source)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        r = subprocess.run([sys.executable, "-m", "ziglang", "cc", *build.CFLAGS, str(src), "-o", str(tmp)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        os.replace(tmp, out)
    return out


async def _async_pause(n: int) -> int:
    await asyncio.sleep(0)
    return n + 1


GO_IMPORTS = (*tuple(WASI_PAUSE_IMPORTS), "env.pause")


@pytest.fixture(scope="session")
def go_hello_path() -> Path:
    return build.go("hello")


@pytest.fixture(scope="session")
def go_hello_async(go_hello_path) -> bytes:
    # the same imports and options as `asyncpy run --host` uses, so the CLI hits this cache entry
    return ensure_instrumented(go_hello_path.read_bytes(), GO_IMPORTS, name="go/hello")


@pytest.fixture(scope="session")
def sleeper_path() -> Path:
    return build_c("sleeper", SLEEPER_C)


@pytest.fixture(scope="session")
def sleeper_async(sleeper_path) -> bytes:
    return ensure_instrumented(sleeper_path.read_bytes(), name="sleeper")


@pytest.fixture(scope="session")
def echo_async() -> bytes:
    return ensure_instrumented(build_c("echo", ECHO_C).read_bytes(), name="echo")


@pytest.fixture(scope="session")
def reactor_async() -> bytes:
    return ensure_instrumented(build.c("reactor", reactor=True).read_bytes(), ["env.pause"],
                               data_memory="default", name="c/reactor")


def capture() -> tuple[list[bytes], WasiOptions]:
    out: list[bytes] = []
    return out, WasiOptions(stdout=out.append)


# --------------------------------------------------------------------------
# Go: goroutines, sleeps and channels, same output as plain wasmtime

@pytest.mark.slow
@pytest.mark.go
def test_go_hello_host_api(go_hello_path, go_hello_async):
    want = expected("go/hello")
    assert corpus_run.run(go_hello_path, {"pause": lambda n: n + 1}) == (0, want)

    out, wasi = capture()
    wasi.argv = ["hello"]
    inst = Instance(go_hello_async, {"env": {"pause": _async_pause}}, wasi=wasi)
    assert asyncio.run(inst.run_command()) == 0
    assert b"".join(out).decode() == want
    # the sleeps went through asyncio (poll_oneoff paused), and so did every env.pause
    assert inst.pauses[f"{WASI}.poll_oneoff"] > 0
    assert inst.pauses["env.pause"] == 9


@pytest.mark.slow
@pytest.mark.go
def test_go_hello_asyncpy_run(go_hello_path, go_hello_async, tmp_path):
    host = tmp_path / "host.py"
    host.write_text("import asyncio\n\nasync def pause(n):\n    await asyncio.sleep(0.001)\n"
                    "    return n + 1\n\nIMPORTS = {'env': {'pause': pause}}\n")
    r = run_cli("run", go_hello_path, "--host", host)
    assert (r.returncode, r.stdout) == (0, expected("go/hello")), r.stderr


@pytest.mark.slow
@pytest.mark.go
def test_go_hello_ten_instances_cli(go_hello_path, go_hello_async, tmp_path):
    host = tmp_path / "host.py"
    host.write_text("async def pause(n):\n    return n + 1\n\nIMPORTS = {'env.pause': pause}\n")
    r = run_cli("run", go_hello_path, "--host", host, "--instances", 10)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    want = expected("go/hello").splitlines()
    for i in range(1, 11):
        assert [ln[len(f"[{i}] "):] for ln in lines if ln.startswith(f"[{i}] ")] == want
    # interleaved, not one instance after the other: every instance printed its
    # first line before the last instance printed its last line, and the output
    # switches between instances many times
    last_first = max(lines.index(f"[{i}] hello from go/hello") for i in range(1, 11))
    first_last = min(lines.index(f"[{i}] bye") for i in range(1, 11))
    assert last_first < first_last
    switches = sum(a.split()[0] != b.split()[0] for a, b in itertools.pairwise(lines))
    assert switches > 20


# --------------------------------------------------------------------------
# many instances on one loop

def test_ten_sleepers_interleave(sleeper_async):
    events: list[tuple[int, str]] = []

    def sink(i):
        return lambda data: events.extend((i, ln) for ln in data.decode().splitlines())

    async def main():
        insts = [Instance(sleeper_async, wasi=WasiOptions(argv=["sleeper", "3"], stdout=sink(i)))
                 for i in range(10)]
        return await asyncio.gather(*(inst.run_command() for inst in insts)), insts

    codes, insts = asyncio.run(main())
    assert codes == [0] * 10
    for i in range(10):
        assert [ln for j, ln in events if j == i] == ["tick 0", "tick 1", "tick 2", "absolute sleep ok: 1"]
        assert insts[i].pauses[f"{WASI}.poll_oneoff"] == 4
    # run one after the other, instance 0 would print all its lines first; here
    # every instance printed "tick 0" before any instance woke from a sleep
    assert events[:10] == [(i, "tick 0") for i in range(10)]
    first_done = min(k for k, (_, ln) in enumerate(events) if ln.startswith("absolute"))
    last_tick0 = max(k for k, (_, ln) in enumerate(events) if ln == "tick 0")
    assert last_tick0 < first_done


def test_cli_instances_prefix_and_exit_code(sleeper_path, sleeper_async):
    r = run_cli("run", sleeper_path, "--instances", 3, "--", "2", "5")
    assert r.returncode == 5, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["[1] tick 0", "[2] tick 0", "[3] tick 0"]
    for i in (1, 2, 3):
        assert [ln for ln in lines if ln.startswith(f"[{i}] ")] == \
            [f"[{i}] tick 0", f"[{i}] tick 1", f"[{i}] absolute sleep ok: 1"]
    r = run_cli("run", sleeper_path, "--", "1")
    assert (r.returncode, r.stdout) == (0, "tick 0\nabsolute sleep ok: 1\n"), r.stderr


def test_cli_transforms_on_the_fly_and_caches(tmp_path, sleeper_path):
    env = dict(os.environ, ASYNCPY_CACHE=str(tmp_path / "cache"))
    cached = []
    for _attempt in range(2):
        r = subprocess.run([sys.executable, "-m", "asyncpy.cli", "run", str(sleeper_path), "--", "1"],
                           capture_output=True, text=True, cwd=ROOT, env=env)
        assert (r.returncode, r.stdout) == (0, "tick 0\nabsolute sleep ok: 1\n"), r.stderr
        assert r.stderr == ""       # progress only on a terminal
        made = (tmp_path / "cache" / "transformed").glob("*.wasm")
        cached.append({p.name: p.stat().st_mtime_ns for p in made})
    assert len(cached[0]) == 1 and cached[1] == cached[0]     # made once, then reused


def test_cli_run_errors(tmp_path, write_wasm):
    r = run_cli("run", tmp_path / "missing.wasm")
    assert r.returncode == 1 and "asyncpy: error:" in r.stderr and "Traceback" not in r.stderr
    lib = write_wasm('(module (func (export "f")))')
    r = run_cli("run", lib, "--imports", "env.x")
    assert r.returncode == 1 and "no _start export" in r.stderr, r.stderr


# --------------------------------------------------------------------------
# stdin

def test_stdin_bytes(echo_async):
    out, wasi = capture()
    wasi.stdin = b"hello\nworld\n"
    inst = Instance(echo_async, wasi=wasi)
    assert asyncio.run(inst.run_command()) == 0
    assert b"".join(out).decode() == "1: HELLO\n2: WORLD\neof after 2 lines\n"
    assert inst.pauses[f"{WASI}.fd_read"] >= 1


def test_stdin_does_not_block_the_loop(echo_async, sleeper_async):
    """One instance waits for input while another one runs its sleeps."""
    events: list[str] = []

    async def main():
        reader = asyncio.StreamReader()
        echo = Instance(echo_async, wasi=WasiOptions(stdin=reader,
                                                     stdout=lambda d: events.append("echo " + d.decode())))
        sleeper = Instance(sleeper_async, wasi=WasiOptions(
            argv=["s", "2"], stdout=lambda d: events.append("sleeper " + d.decode())))
        t_echo = asyncio.create_task(echo.run_command())
        assert await sleeper.run_command() == 0
        events.append("feeding")
        reader.feed_data(b"abc\n")
        reader.feed_eof()
        return await t_echo

    assert asyncio.run(main()) == 0
    assert events == ["sleeper tick 0\n", "sleeper tick 1\n", "sleeper absolute sleep ok: 1\n", "feeding",
                      "echo 1: ABC\n", "echo eof after 1 lines\n"]


def test_cli_stdin(tmp_path):
    path = build_c("echo", ECHO_C)
    r = run_cli("run", path, input="one\ntwo\n")
    assert (r.returncode, r.stdout) == (0, "1: ONE\n2: TWO\neof after 2 lines\n"), r.stderr


# --------------------------------------------------------------------------
# poll_oneoff, directly

POLL_WAT = """(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; poll(n): subscriptions at 1024, events at 2048, nevents at 4000
  (func (export "poll") (param $n i32) (result i32)
    (call $poll (i32.const 1024) (i32.const 2048) (local.get $n) (i32.const 4000)))
  (func (export "nevents") (result i32) (i32.load (i32.const 4000))))"""


def _clock_sub(userdata: int, clock_id: int, timeout: int, flags: int = 0) -> bytes:
    sub = bytearray(48)
    struct.pack_into("<QB", sub, 0, userdata, 0)
    struct.pack_into("<IxxxxQQH", sub, 16, clock_id, timeout, 0, flags)
    return bytes(sub)


def _fd_sub(userdata: int, tag: int, fd: int) -> bytes:
    sub = bytearray(48)
    struct.pack_into("<QBxxxxxxxI", sub, 0, userdata, tag, fd)
    return bytes(sub)


@pytest.fixture(scope="module")
def poll_async() -> bytes:
    return ensure_instrumented(wat2wasm(POLL_WAT), [f"{WASI}.poll_oneoff"], data_memory="default")


def _poll(wasm: bytes, subs: list[bytes]):
    async def main():
        inst = Instance(wasm, wasi=WasiOptions())
        inst.memory.write(inst.store, b"".join(subs), 1024)
        t0 = time.monotonic()
        errno = await inst.call("poll", len(subs))
        elapsed = time.monotonic() - t0
        n = await inst.call("nevents")
        raw = bytes(inst.memory.read(inst.store, 2048, 2048 + 32 * n))
        evs = [struct.unpack_from("<QHB", raw, 32 * i) for i in range(n)]
        return errno, evs, elapsed, inst
    return asyncio.run(main())


def test_poll_fd_ready_at_once(poll_async):
    errno, evs, elapsed, inst = _poll(poll_async, [_clock_sub(7, 1, 10 * 10**9), _fd_sub(8, 2, 1),
                                                   _fd_sub(9, 1, 0)])
    assert errno == 0 and evs == [(8, 0, 2), (9, 0, 1)]
    assert elapsed < 5 and not inst.pauses


def test_poll_relative_and_absolute_clocks(poll_async):
    errno, evs, elapsed, inst = _poll(poll_async, [_clock_sub(1, 1, 30_000_000), _clock_sub(2, 1, 10**10)])
    assert errno == 0 and evs == [(1, 0, 0)] and elapsed >= 0.029
    assert inst.pauses == {f"{WASI}.poll_oneoff": 1}
    deadline = time.time_ns() + 30_000_000      # realtime, absolute
    errno, evs, elapsed, _ = _poll(poll_async, [_clock_sub(3, 0, deadline, flags=1)])
    assert errno == 0 and evs == [(3, 0, 0)] and time.time_ns() >= deadline
    errno, evs, elapsed, _ = _poll(poll_async, [_clock_sub(4, 1, 0, flags=1)])   # in the past
    assert errno == 0 and evs == [(4, 0, 0)]
    errno, evs, _, _ = _poll(poll_async, [_clock_sub(5, 99, 0)])                   # unknown clock
    assert errno == 0 and evs == [(5, 28, 0)]


def test_poll_sleeps_of_instances_overlap(poll_async):
    async def main():
        insts = [Instance(poll_async, wasi=WasiOptions()) for _ in range(10)]
        for inst in insts:
            inst.memory.write(inst.store, _clock_sub(1, 1, 50_000_000), 1024)
        order: list[str] = []

        async def one(i, inst):
            order.append(f"start {i}")
            await inst.call("poll", 1)
            order.append(f"end {i}")
        await asyncio.gather(*(one(i, inst) for i, inst in enumerate(insts)))
        return order
    order = asyncio.run(main())
    # all ten were asleep at once: every start precedes every end
    assert [e.split()[0] for e in order] == ["start"] * 10 + ["end"] * 10


# --------------------------------------------------------------------------
# C: async imports that return values, exceptions, cancellation

@pytest.mark.parametrize("data_memory", ["default", "separate"])
def test_c_async_import_returns_value(data_memory):
    wasm = ensure_instrumented(build.c("recursion").read_bytes(), ["env.pause"], data_memory=data_memory,
                               name="c/recursion")
    calls = []

    async def pause(n):
        calls.append(n)
        await asyncio.sleep(0)
        return n + 1

    out, wasi = capture()
    inst = Instance(wasm, {"env": {"pause": pause}}, wasi=wasi)
    assert asyncio.run(inst.run_command()) == 0
    assert b"".join(out).decode() == expected("c/recursion")
    assert inst.pauses["env.pause"] == len(calls) > 100


def test_c_export_call_is_awaitable(reactor_async):
    async def pause(n):
        await asyncio.sleep(0.001)
        return n + 1

    async def main():
        out, wasi = capture()
        inst = Instance(reactor_async, {"env.pause": pause}, wasi=wasi)
        await inst.initialize()
        r = [await inst.call("add_paused", 3, 4), await inst.export("count")(5), await inst.call("square", 7)]
        return r, b"".join(out).decode(), inst
    values, text, inst = asyncio.run(main())
    assert values == [9, 30, 49]
    assert text == expected("c/reactor")
    assert inst.pauses == {"env.pause": 7}


def test_sync_imports_mix_with_async(reactor_async):
    seen = []

    def pause(n):           # a plain function: no pause at all
        seen.append(n)
        return n + 1

    _out, wasi = capture()
    inst = Instance(reactor_async, {"env": {"pause": pause}}, wasi=wasi)
    assert asyncio.run(inst.call("add_paused", 3, 4)) == 9
    assert seen == [3, 4] and inst.pauses == {}


class Boom(Exception):
    pass


def test_exception_in_async_import_reaches_caller(reactor_async):
    err = Boom("no luck")

    async def pause(n):
        await asyncio.sleep(0)
        if n == 4:
            raise err
        return n + 1

    async def main():
        inst = Instance(reactor_async, {"env": {"pause": pause}}, wasi=WasiOptions(stdout=None))
        with pytest.raises(Boom) as info:
            await inst.call("add_paused", 3, 4)
        assert info.value is err
        # the exception was a trap for the guest, as for a sync import: still usable
        assert inst.broken is None
        assert await inst.call("add_paused", 1, 2) == 5
        assert await inst.call("square", 6) == 36
    asyncio.run(main())


def test_exception_in_sync_import_reaches_caller(reactor_async):
    err = Boom("sync")

    def pause(n):
        raise err

    async def main():
        inst = Instance(reactor_async, {"env": {"pause": pause}}, wasi=WasiOptions(stdout=None))
        with pytest.raises(Boom) as info:
            await inst.call("add_paused", 3, 4)
        assert info.value is err and inst.broken is None
    asyncio.run(main())


def test_cancellation_marks_instance_broken(reactor_async):
    async def main():
        paused = asyncio.Event()
        never = asyncio.Event()

        async def stuck(n):
            paused.set()
            await never.wait()
            return n

        inst = Instance(reactor_async, {"env": {"pause": stuck}}, wasi=WasiOptions(stdout=None))
        other = Instance(reactor_async, {"env": {"pause": _async_pause}}, wasi=WasiOptions(stdout=None))
        task = asyncio.create_task(inst.call("add_paused", 3, 4))
        await paused.wait()
        assert inst.state() == 0        # unwound, waiting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert inst.broken and "CancelledError" in inst.broken and "env.pause" in inst.broken
        for later in (inst.call("square", 2), inst.call("add_paused", 1, 1)):
            with pytest.raises(InstanceBroken, match=r"cannot be used any more.*CancelledError"):
                await later
        # other instances are unaffected
        assert await other.call("add_paused", 3, 4) == 9
    asyncio.run(main())


def test_cancel_with_timeout(sleeper_async):
    async def main():
        inst = Instance(sleeper_async, wasi=WasiOptions(argv=["s", "1000"], stdout=None))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(inst.run_command(), 0.05)
        with pytest.raises(InstanceBroken):
            await inst.run_command()
    asyncio.run(main())


def test_one_call_at_a_time(reactor_async):
    async def main():
        gate = asyncio.Event()

        async def pause(n):
            await gate.wait()
            return n + 1

        inst = Instance(reactor_async, {"env": {"pause": pause}}, wasi=WasiOptions(stdout=None))
        first = asyncio.create_task(inst.call("add_paused", 3, 4))
        await asyncio.sleep(0)
        with pytest.raises(InstanceBusy):
            await inst.call("square", 3)
        gate.set()
        assert await first == 9
        assert await inst.call("square", 3) == 9     # free again
    asyncio.run(main())


def test_not_instrumented_module_is_a_clear_error():
    wasm = wat2wasm("""(module (import "env" "pause" (func $p (param i32) (result i32)))
      (func (export "f") (result i32) (call $p (i32.const 1))))""")

    async def pause(n):
        return n

    inst = Instance(wasm, {"env": {"pause": pause}})
    with pytest.raises(HostError, match="not instrumented"):
        asyncio.run(inst.call("f"))
    # sync imports are fine without instrumentation
    assert asyncio.run(Instance(wasm, {"env.pause": lambda n: n + 5}).call("f")) == 6


def test_import_that_is_not_a_pause_point_breaks_clearly():
    """Instrumented for env.a only; env.b returning an awaitable cannot pause."""
    wasm = ensure_instrumented(wat2wasm("""(module
      (import "env" "a" (func $a (param i32) (result i32)))
      (import "env" "b" (func $b (param i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "f") (result i32) (i32.add (call $a (i32.const 1)) (call $b (i32.const 2)))))"""),
        ["env.a"], data_memory="default")

    async def plus10(n):
        return n + 10

    async def main():
        good = Instance(wasm, {"env": {"a": plus10, "b": lambda n: n}})
        assert await good.call("f") == 13
        bad = Instance(wasm, {"env": {"a": plus10, "b": plus10}})
        with pytest.raises(InstanceBroken, match=r"env.b.*not a pause point"):
            await bad.call("f")
    asyncio.run(main())


def test_caller_given_buffer(reactor_async):
    async def main():
        _out, wasi = capture()
        # a region of the guest's own memory: the caller grew one page itself
        inst = Instance(reactor_async, {"env": {"pause": _async_pause}}, wasi=wasi,
                        buffer=lambda i: (i.memory.grow(i.store, 1) * 65536, 65536))
        pages = inst.memory.size(inst.store)
        assert await inst.call("add_paused", 3, 4) == 9
        assert inst.memory.size(inst.store) == pages
    asyncio.run(main())


def test_run_command_helper(sleeper_async):
    out: list[bytes] = []
    code = asyncio.run(run_command(sleeper_async, ["s", "1", "3"], wasi=WasiOptions(stdout=out.append)))
    assert code == 3 and b"".join(out) == b"tick 0\nabsolute sleep ok: 1\n"


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ASYNCPY_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "transformed"


# --------------------------------------------------------------------------
# the task runtime's host-wait protocol (docs/host-protocol.md): many calls
# in flight, async imports that block one task, real time. Overlap is shown
# by the order of events, never by a wall-clock limit.

EXAMPLES = ROOT / "examples"


def build_example_reactor(name: str) -> Path:
    src = EXAMPLES / f"{name}.c"
    flags = [*build.CFLAGS, "-mexec-model=reactor", f"-I{EXAMPLES}"]
    key = hashlib.sha256(src.read_bytes() + " ".join(flags).encode() + build._zig_version().encode())
    out = build.cache_dir() / f"test-host-{name}-{key.hexdigest()[:16]}.wasm"
    if not out.exists():
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        r = subprocess.run([sys.executable, "-m", "ziglang", "cc", *flags, str(src), "-o", str(tmp)],
                           capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        os.replace(tmp, out)
    return out


@pytest.fixture(scope="session")
def backend_server(tmp_path_factory) -> bytes:
    # exactly what the README promises a user: --reactor --imports env.backend
    out = tmp_path_factory.mktemp("server") / "server.async.wasm"
    r = run_cli("transform", "--reactor", "--imports", "env.backend",
                str(build_example_reactor("backend_server")), "-q", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def test_hundred_export_calls_in_flight_each_awaiting_python(backend_server):
    events = []

    async def backend(key):
        events.append(("start", key))
        await asyncio.sleep((key * 37 % 100) / 2000)     # 0-50 ms, in a scrambled order
        events.append(("end", key))
        return key * 10

    async def main():
        inst = Instance(backend_server, {"env": {"backend": backend}}, wasi=WasiOptions(stdout=None))
        await inst.initialize()
        replies = await asyncio.gather(*(inst.call("handle", k) for k in range(1, 101)))
        return replies, await inst.call("max_in_flight"), await inst.call("served"), inst
    replies, most, served, inst = asyncio.run(main())
    assert replies == [k * 20 + k % 7 for k in range(1, 101)]       # each caller got its own reply
    # every backend call started before the first one ended: all 100 were
    # waiting at once, each on its own task's stack
    assert [e[0] for e in events] == ["start"] * 100 + ["end"] * 100
    assert sorted(e[1] for e in events[100:]) == list(range(1, 101))
    assert most == 100 and served == 100
    assert inst.pauses == {"env.backend": 100} and inst.in_flight == 0


def test_cancelling_one_call_leaves_the_others_and_the_instance(backend_server):
    cancelled = []

    async def backend(key):
        try:
            await asyncio.sleep(10 if key == 13 else 0.01)
        except asyncio.CancelledError:
            cancelled.append(key)
            raise
        return key

    async def main():
        inst = Instance(backend_server, {"env": {"backend": backend}}, wasi=WasiOptions(stdout=None))
        await inst.initialize()
        calls = [asyncio.ensure_future(inst.call("handle", k)) for k in (12, 13, 14)]
        await asyncio.wait([calls[0], calls[2]])
        calls[1].cancel()
        await asyncio.wait([calls[1]])
        assert calls[1].cancelled() and cancelled == [13]
        assert inst.broken is None and inst.in_flight == 0
        later = await inst.call("handle", 15)
        return [calls[0].result(), calls[2].result(), later], await inst.call("served")
    replies, served = asyncio.run(main())
    assert replies == [12 * 2 + 5, 14 * 2 + 0, 15 * 2 + 1]
    assert served == 3                  # the cancelled request never finished


def test_max_calls_is_a_clear_error(backend_server):
    async def main():
        gate = asyncio.Event()

        async def backend(key):
            await gate.wait()
            return key

        inst = Instance(backend_server, {"env": {"backend": backend}}, wasi=WasiOptions(stdout=None),
                        max_calls=3)
        calls = [asyncio.ensure_future(inst.call("handle", k)) for k in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(TooManyCalls, match=r"3 calls are in flight.*max_calls=3"):
            await inst.call("handle", 9)
        gate.set()
        assert await asyncio.gather(*calls) == [k * 2 + k % 7 for k in range(3)]
        assert await inst.call("handle", 9) == 9 * 2 + 2      # room again
    asyncio.run(main())


@pytest.fixture(scope="session")
def scenario_server(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("scn") / "server.async.wasm"
    r = run_cli("transform", str(ROOT / "tests" / "scenarios" / "server.wat"), "--reactor", "--imports",
                "env.backend", "--task-stack", "8192", "-q", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def test_task_stack_overflow_is_a_clear_error(scenario_server):
    async def backend(x):
        await asyncio.sleep(0)
        return x

    async def main():
        inst = Instance(scenario_server, {"env": {"backend": backend, "log": lambda k, v: None}})
        assert await inst.call("hog", 1000) == 1          # fits in the 8 KiB block
        with pytest.raises(HostError, match=r"overflowed its stack: 8192 bytes per task.*--task-stack"):
            await inst.call("hog", 9000)
        assert inst.broken is None
        assert await inst.call("handle", 4) == 4          # the instance goes on
    asyncio.run(main())


def test_asyncpy_run_c_tasks_overlap_sleeps_and_host_waits():
    wasm = build_c("sleepers", (EXAMPLES / "sleepers.c").read_text().replace('"asyncpy.h"',
                                                                           f'"{EXAMPLES / "asyncpy.h"}"'))
    r = run_cli("run", str(wasm), "--host", str(EXAMPLES / "sleepers_host.py"))
    assert r.returncode == 0, r.stderr
    lines = [line.split("] ", 1)[1] for line in r.stdout.splitlines() if line.startswith("[")]
    # all five went to sleep before the first woke; worker 2 woke from its
    # sleep while worker 1 was still waiting on the host, and so on: the
    # sleeps and the host waits overlap
    assert lines[:5] == [f"worker {i}: sleeps ms {100 * i}" for i in range(1, 6)]
    assert lines[5:] == ["worker 1: slept, fetches 1", "worker 2: slept, fetches 2", "worker 1: fetched 1000",
                         "worker 3: slept, fetches 3", "worker 2: fetched 2000", "worker 4: slept, fetches 4",
                         "worker 3: fetched 3000", "worker 5: slept, fetches 5", "worker 4: fetched 4000",
                         "worker 5: fetched 5000"]
    assert r.stdout.splitlines()[-1].startswith("all 5 workers done in ")


@pytest.mark.slow
@pytest.mark.go
def test_go_reactor_goroutine_from_init_serves_repeated_calls():
    # init starts a goroutine that sleeps (poll_oneoff: an asyncio sleep) and
    # feeds a channel; each next() blocks on it: the goroutine survives every
    # export return, with its loop counter
    wasm = ensure_instrumented(build.go("ticker", buildmode="c-shared").read_bytes(), name="go/ticker")

    async def main():
        inst = Instance(wasm, wasi=WasiOptions(stdout=None))
        await inst.initialize()
        got = []
        for _ in range(6):
            got.append((await inst.call("next"), await inst.call("sent")))
        return got, inst
    got, inst = asyncio.run(main())
    assert got == [(10 * i, i) for i in range(1, 7)]
    # The sleeps went through the host: the first one at least must pause
    # (nothing else can run while next() waits for the first tick). How many
    # of the later ones do is timing: when the host is slow enough between two
    # calls, the 2 ms timer has expired before Go's scheduler idles, and Go
    # runs the goroutine without polling (seen at load 14: 5 of 6).
    assert inst.pauses[f"{WASI}.poll_oneoff"] >= 1


def test_buffer_overrun_at_stop_unwind_breaks_the_instance():
    """A deep pause into a buffer too small for its frames: the unwind writes
    past `end`, `asyncify_stop_unwind` traps on current > end, and that trap
    must leave the instance marked broken (it once escaped unmarked, and the
    saved stack was silently lost)."""
    wasm = ensure_instrumented(wat2wasm("""(module
      (import "env" "pause" (func $p (param i32) (result i32)))
      (memory (export "memory") 1)
      (func $down (export "down") (param $n i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n))
          (then (call $p (i32.const 0)))
          (else (i32.add (local.get $n) (call $down (i32.sub (local.get $n) (i32.const 1))))))))"""),
        ["env.pause"], data_memory="default")

    async def main():
        roomy = Instance(wasm, {"env": {"pause": _async_pause}}, buffer=(1024, 8192))
        assert await roomy.call("down", 20) == 211          # 1..20 plus pause(0) + 1
        tiny = Instance(wasm, {"env": {"pause": _async_pause}}, buffer=(1024, 24))
        with pytest.raises(wasmtime.Trap):
            await tiny.call("down", 20)
        assert tiny.broken and "overran" in tiny.broken
        with pytest.raises(InstanceBroken):
            await tiny.call("down", 0)
    asyncio.run(main())


def test_cli_run_no_cache(sleeper_path):
    """--no-cache compiles with asyncpy's compile (it once reached Python's
    builtin compile, an internal error)."""
    r = run_cli("run", "--no-cache", sleeper_path, "--", "1")
    assert (r.returncode, r.stdout) == (0, "tick 0\nabsolute sleep ok: 1\n"), r.stderr
