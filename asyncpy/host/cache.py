"""Instrumenting on the fly for `asyncpy run` and the host API, cached by the
hash of the input and of asyncpy's own sources (so a changed transform
invalidates old entries)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from asyncpy.cache import cache_dir, source_digest
from asyncpy.errors import AsyncpyError
from asyncpy.host.instance import WASI_PAUSE_IMPORTS
from asyncpy.wasm.binary import import_modules, is_instrumented


def ensure_instrumented(wasm: bytes, imports: Iterable[str] = WASI_PAUSE_IMPORTS, *,
                        data_memory: str = "separate", data_pages: int = 4, name: str = "<input>",
                        cache: bool = True, progress=None) -> bytes:
    """`wasm` if it is instrumented already (exports asyncify_get_state), else
    its transform with these pausing imports, cached by content hash under
    $ASYNCPY_CACHE/transformed (default ~/.cache/asyncpy/transformed)."""
    from asyncpy import __version__
    from asyncpy.wasm import to_binary

    wasm = to_binary(bytes(wasm), name)
    if is_instrumented(wasm):
        return wasm
    if "asyncpy" in import_modules(wasm):
        # The task runtime keeps each task's asyncify buffer in its own block
        # of the program's memory: the data cannot live in a memory apart.
        data_memory = "default"
    imports = sorted(set(imports))
    key = hashlib.sha256(b"\0".join([wasm, "\n".join(imports).encode(), data_memory.encode(),
                                     str(data_pages).encode(), __version__.encode(),
                                     source_digest().encode()])).hexdigest()[:32]
    path = cache_dir() / f"{key}.wasm"
    if cache and path.exists():
        return path.read_bytes()
    from asyncpy.options import AnalysisOptions, TransformOptions
    from asyncpy.pipeline import transform_loaded
    from asyncpy.progress import as_progress
    from asyncpy.wasm import load_bytes
    from asyncpy.wasm.output import write_output

    progress = as_progress(progress)
    progress.step(f"instrumenting {name} (pausing imports: {', '.join(imports)}); cached afterwards")
    options = TransformOptions(analysis=AnalysisOptions(imports=tuple(imports)), data_memory=data_memory,
                               data_pages=data_pages)
    out = transform_loaded(load_bytes(wasm, name), options, progress=progress).wasm
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_output(path, out)
        except (OSError, AsyncpyError):
            pass        # a read-only cache costs the next run the transform, no more
    return out
