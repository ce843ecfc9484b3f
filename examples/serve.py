"""Many concurrent requests into one C reactor, each awaiting a Python
`async def` backend.

    python examples/serve.py [REQUESTS]      # default 100

1. builds examples/backend_server.c (plain C, a WASI reactor) with ziglang;
2. `asyncpy transform --reactor --imports env.backend` (nothing else);
3. starts REQUESTS `await inst.call("handle", i)` at once on one instance.
   The backend sleeps 50-150 ms per request; the wall time is about the
   longest single wait, not their sum.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from asyncpy.host import Instance
from examples.run import HERE, build


async def backend(key: int) -> int:
    """The host's side: an async lookup (a sleep standing in for the network)."""
    await asyncio.sleep(0.05 + (key * 37 % 100) / 1000)
    return key * 10


def build_and_transform() -> bytes:
    wasm = build(HERE / "backend_server.c")
    out = wasm.with_suffix(".async.wasm")
    subprocess.run([sys.executable, "-m", "asyncpy.cli", "transform", "--reactor", "--imports", "env.backend",
                    str(wasm), "-q", "-o", str(out)], check=True)
    return out.read_bytes()


async def main(wasm: bytes, n: int) -> None:
    inst = Instance(wasm, {"env": {"backend": backend}})
    await inst.initialize()
    t0 = time.perf_counter()
    replies = await asyncio.gather(*(inst.call("handle", i) for i in range(1, n + 1)))
    wall = time.perf_counter() - t0
    assert replies == [i * 20 + i % 7 for i in range(1, n + 1)]
    waits = sum(0.05 + (i * 37 % 100) / 1000 for i in range(1, n + 1))
    print(f"{n} requests, every reply right; at most {await inst.call('max_in_flight')} in flight at once")
    print(f"wall time {wall * 1000:.0f} ms; the backend waits add up to {waits * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main(build_and_transform(), int(sys.argv[1]) if len(sys.argv) > 1 else 100))
