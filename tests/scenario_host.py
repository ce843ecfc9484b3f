"""Shared host scenarios (tests/scenarios/*.json): build them, run them on
the Python host. The JavaScript host runs the same files with
tests/js/scenarios.mjs (in node and in Chromium); see tests/scenarios/asyncify/README.md
for the format and tests/test_js_host.py for the tests that compare them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from asyncpy.cache import cache_dir
from asyncpy.host import HostError, Instance, WasiOptions

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "scenarios" / "asyncify"
PROGRAMS = SCENARIOS / "programs"
INCLUDE = ROOT / "examples"


def load_all() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(SCENARIOS.glob("*.json"))]


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()[:24]


def build_c(src: Path, reactor: bool) -> Path:
    """zig cc, cached by source, header and flags."""
    flags = ["--target=wasm32-wasi", "-O2", "-s", f"-I{INCLUDE}",
             *(["-mexec-model=reactor"] if reactor else [])]
    key = _digest(src.read_bytes(), (INCLUDE / "asyncpy.h").read_bytes(),
                  " ".join(flags[:3] + flags[4:]).encode())
    out = cache_dir("scenarios") / f"{src.stem}-{key}.wasm"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        r = subprocess.run([sys.executable, "-m", "ziglang", "cc", *flags, str(src), "-o", str(tmp)],
                           capture_output=True, text=True, check=False)
        if r.returncode:
            raise RuntimeError(f"zig cc {src.name}: {r.stderr}")
        os.replace(tmp, out)
    return out


def build(scenario: dict) -> bytes:
    """The scenario's program, built and transformed with its arguments
    (cached by input, arguments and asyncpy's own sources)."""
    from asyncpy.cache import source_digest

    src = PROGRAMS / scenario["program"]
    inp = build_c(src, scenario.get("reactor", False)) if src.suffix == ".c" else src
    args = list(scenario.get("transform", []))
    key = _digest(inp.read_bytes(), json.dumps(args).encode(), source_digest().encode())
    out = cache_dir("scenarios") / f"{scenario['name']}-{key}.wasm"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp.wasm")
        r = subprocess.run([sys.executable, "-m", "asyncpy.cli", "transform", str(inp),
                            "-q", "-o", str(tmp), *args],
                           capture_output=True, text=True, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False)
        if r.returncode:
            raise RuntimeError(f"asyncpy transform {inp.name}: {r.stderr}")
        os.replace(tmp, out)
    return out.read_bytes()


# --------------------------------------------------------------------------
# the Python runner

class Boom(Exception):
    """What a scenario's import raises (raise_on)."""


def fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v)
    return repr(v) if isinstance(v, float) else str(v)


class _Gate:
    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.released = asyncio.Event()


async def run_scenario(scenario: dict, wasm: bytes) -> list[str]:
    """Run the steps on asyncpy.host and return the events (see tests/scenarios/asyncify/README.md)."""
    events: list[str] = []
    gates: dict[str, _Gate] = {}
    raised: list[BaseException] = []

    def gate(key: str) -> _Gate:
        return gates.setdefault(key, _Gate())

    def make_import(qual: str, spec: dict):
        def fn(*args):
            key = f"{qual}({fmt(args)})"
            events.append(f"import {key}")
            value = args[0] + spec["add"] if "add" in spec else spec.get("const", 0)
            fail = bool(args) and args[0] in spec.get("raise_on", [])

            def outcome():
                if fail:
                    e = Boom(key)
                    raised.append(e)
                    raise e
                return value
            if spec.get("gate"):
                g = gate(key)
                g.requested.set()

                async def gated():
                    await g.released.wait()
                    return outcome()
                return gated()
            if spec.get("async"):
                async def later():
                    await asyncio.sleep(0)
                    return outcome()
                return later()
            return outcome()
        return fn

    pending_line = {1: bytearray(), 2: bytearray()}

    def output(fd: int):
        def write(data: bytes) -> None:
            buf = pending_line[fd]
            buf.extend(data)
            while (i := buf.find(b"\n")) >= 0:
                events.append(("out: " if fd == 1 else "err: ") + buf[:i].decode())
                del buf[:i + 1]
        return write

    imports = {q: make_import(q, spec) for q, spec in scenario.get("imports", {}).items()}
    argv = next((s["run_command"] for s in scenario["steps"] if "run_command" in s), ["main"])
    wasi = WasiOptions(argv=list(argv), stdout=output(1), stderr=output(2))
    inst = Instance(wasm, imports, wasi=wasi)
    started: dict[str, tuple[str, asyncio.Task]] = {}

    async def finish(name: str, coro) -> None:
        try:
            result = await coro
        except Boom as e:
            same = "" if any(e is r for r in raised) else " (not the raised object)"
            events.append(f"error {name} Boom: {e}{same}")
        except HostError as e:
            events.append(f"error {name} {type(e).__name__}")
        else:
            events.append(f"return {name} {fmt(result)}")

    for step in scenario["steps"]:
        if "initialize" in step:
            events.append("initialize")
            await inst.initialize()
        elif "call" in step:
            name, args = step["call"], step.get("args", [])
            events.append(f"call {name}({fmt(args)})")
            await finish(name, inst.call(name, *args))
        elif "start" in step:
            name, args = step["start"], step.get("args", [])
            events.append(f"start {name}({fmt(args)})")
            started[step["as"]] = (name, asyncio.ensure_future(inst.call(name, *args)))
            await asyncio.sleep(0)
        elif "await" in step:
            name, task = started.pop(step["await"])
            await finish(name, task)
        elif "until_import" in step:
            await gate(step["until_import"]).requested.wait()
        elif "release" in step:
            events.append(f"release {step['release']}")
            gate(step["release"]).released.set()
        elif "pauses" in step:
            p = sorted(f"{k}={v}" for k, v in inst.pauses.items() if v)
            events.append("pauses " + (" ".join(p) if p else "none"))
        elif "run_command" in step:
            events.append("run " + " ".join(step["run_command"]))
            code = await inst.run_command()
            events.append(f"exit {code}")
        else:
            raise ValueError(f"{scenario['name']}: unknown step {step}")
    return events


def run_python(scenario: dict, wasm: bytes) -> list[str]:
    return asyncio.run(run_scenario(scenario, wasm))
