"""The asyncio host: instance (the driver), protocol (the asyncify control calls and data
struct), wasi (non-blocking WASI), cache (transform on the fly), run (asyncpy run)."""

from asyncpy.host.cache import ensure_instrumented
from asyncpy.host.instance import (
    WASI_PAUSE_IMPORTS,
    HostError,
    Instance,
    InstanceBroken,
    InstanceBusy,
    TooManyCalls,
    WasiOptions,
    clock_ms,
)
from asyncpy.host.run import run_program

__all__ = [
    "WASI_PAUSE_IMPORTS",
    "HostError",
    "Instance",
    "InstanceBroken",
    "InstanceBusy",
    "TooManyCalls",
    "WasiOptions",
    "clock_ms",
    "ensure_instrumented",
    "run_program",
]
