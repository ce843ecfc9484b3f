"""The one wasmtime engine, which validates everything asyncpy may read (all
the proposals Binaryen 116 understands) and runs modules for the hosts, plus
compiling with a cache keyed by engine and content, so a module used by many
instances (or shims by many hosts) is compiled once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import wasmtime

from asyncpy.cache import cache_dir
from asyncpy.errors import AsyncpyError

_FEATURES = ("wasm_bulk_memory", "wasm_multi_value", "wasm_reference_types", "wasm_simd",
             "wasm_relaxed_simd", "wasm_tail_call", "wasm_threads", "wasm_memory64",
             "wasm_multi_memory", "wasm_exceptions")


_ENGINE: wasmtime.Engine | None = None


_MODULES: dict[tuple[int, str], wasmtime.Module] = {}


def engine() -> wasmtime.Engine:
    """The one engine: validates what the loader accepts (every proposal
    Binaryen 116 reads) and runs the hosts' instances. Only features are set:
    no fuel, no epoch interruption, wasmtime's default compiler settings, so
    code runs as under a default `wasmtime.Engine()` (whose features this
    is a superset of, for what asyncpy reads)."""
    global _ENGINE
    if _ENGINE is None:
        cfg = wasmtime.Config()
        for flag in _FEATURES:
            setattr(cfg, flag, True)
        _ENGINE = wasmtime.Engine(cfg)
    return _ENGINE


validation_engine = engine


def compile(wasm: bytes | str | os.PathLike | wasmtime.Module,
            eng: wasmtime.Engine | None = None) -> wasmtime.Module:
    """A wasmtime Module from bytes, WAT text, a path, or a Module; compiled
    once per content and engine."""
    if isinstance(wasm, wasmtime.Module):
        return wasm
    eng = eng or engine()
    if isinstance(wasm, os.PathLike) or (isinstance(wasm, str) and not wasm.lstrip().startswith("(")):
        p = Path(wasm)
        data: bytes | str = p.read_text() if p.suffix == ".wat" else p.read_bytes()
    else:
        data = wasm
    raw = data.encode() if isinstance(data, str) else bytes(data)
    key = (id(eng), hashlib.sha256(raw).hexdigest())
    m = _MODULES.get(key)
    if m is None:
        m = _MODULES[key] = wasmtime.Module(eng, data)
    return m


def compile_cached(wasm: bytes) -> wasmtime.Module:
    """compile(), with wasmtime's compiled code kept in the cache directory
    (compiling Go's 4 MB takes seconds; loading it back, milliseconds)."""
    from importlib.metadata import version

    key = hashlib.sha256(wasm + version("wasmtime").encode()).hexdigest()[:32]
    path = cache_dir() / f"{key}.cwasm"
    eng = engine()
    if path.exists():
        try:
            return wasmtime.Module.deserialize_file(eng, str(path))
        except wasmtime.WasmtimeError:
            pass        # another wasmtime or engine configuration: compile again
    module = compile(wasm, eng)
    try:
        from asyncpy.wasm.output import write_output

        path.parent.mkdir(parents=True, exist_ok=True)
        write_output(path, bytes(module.serialize()))
    except (OSError, AsyncpyError):
        pass            # no cache this time; the module is compiled anyway
    return module
