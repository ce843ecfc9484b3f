"""The wasmtime engines: one that validates everything asyncpy may read
(all the proposals Binaryen 116 understands) and one that runs modules for
the hosts, plus compiling with a cache keyed by content, so a module used by
many instances is compiled once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import wasmtime

from asyncpy.cache import cache_dir
from asyncpy.errors import AsyncpyError


def _engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    for flag in ("wasm_bulk_memory", "wasm_multi_value", "wasm_reference_types", "wasm_simd",
                 "wasm_relaxed_simd", "wasm_tail_call", "wasm_threads", "wasm_memory64",
                 "wasm_multi_memory", "wasm_exceptions"):
        setattr(cfg, flag, True)
    return wasmtime.Engine(cfg)


_ENGINE = None


def validation_engine() -> wasmtime.Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _engine()
    return _ENGINE


_HOST_ENGINE: wasmtime.Engine | None = None


_MODULES: dict[tuple[int, str], wasmtime.Module] = {}


def engine() -> wasmtime.Engine:
    """One engine for every instance, with the features asyncpy's outputs use."""
    global _HOST_ENGINE
    if _HOST_ENGINE is None:
        cfg = wasmtime.Config()
        for flag in ("wasm_bulk_memory", "wasm_multi_value", "wasm_reference_types", "wasm_simd",
                     "wasm_multi_memory", "wasm_memory64", "wasm_tail_call"):
            setattr(cfg, flag, True)
        _HOST_ENGINE = wasmtime.Engine(cfg)
    return _HOST_ENGINE


_shared_engine = engine


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
        write_output(path, module.serialize())
    except (OSError, AsyncpyError):
        pass            # no cache this time; the module is compiled anyway
    return module
