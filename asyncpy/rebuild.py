"""The rebuild cache: a chunk's facts and output, kept between builds.

A big module goes through Binaryen a chunk of functions at a time
(asyncpy.wasm.chunks). A developer's rebuild after a small change leaves
most chunks byte for byte as they were: rebuilding the Go program of the
benchmark with one constant changed in one function changed one body of
13,965, and no data. With `asyncpy transform --incremental`, each chunk's
facts and instrumented output are kept under $ASYNCPY_CACHE/chunks, and a
rebuild reads into Binaryen only the chunks whose bytes changed, and
instruments only the chunks whose bytes or analysis changed.

Keys (sha256), each with the version of asyncpy's sources and Binaryen's:

* facts: the chunk's bytes (the module with the other chunks stubbed);
* output: the chunk's bytes, the options, the feature mask, and the whole
  analysis with the merged facts it came from (`digest`): a chunk's
  instrumentation reads only its own bodies, the module's interface and
  the analysis, so that is all it depends on. A change that moves data or
  renumbers functions changes every chunk's bytes and misses everywhere,
  as it must.

An entry that cannot be read is a miss; a cache that cannot be written
costs the next build its work, no more. The directory is kept under
MAX_BYTES by dropping the least recently used entries.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from asyncpy.cache import cache_dir, source_digest
from asyncpy.errors import AsyncpyError
from asyncpy.wasm.output import write_output

MAX_BYTES = 2 << 30

# Chunks are smaller when they are kept: a rebuild redoes whole chunks.
CHUNK_BYTES = 4 << 20


def _binaryen_version() -> str:
    try:
        from importlib.metadata import version
        return version("icpp-binaryen")
    except Exception:
        return "unknown"


class RebuildCache:
    def __init__(self, root: Path | None = None):
        self.root = root or cache_dir("chunks")
        self.salt = f"{source_digest()}\0{_binaryen_version()}".encode()

    def key(self, *parts: bytes | str) -> str:
        h = hashlib.sha256(self.salt)
        for p in parts:
            b = p.encode() if isinstance(p, str) else p
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        return h.hexdigest()[:40]

    def _path(self, kind: str, key: str) -> Path:
        return self.root / f"{kind}-{key}"

    def load(self, kind: str, key: str):
        """The object kept under `key`, or None (a miss: absent or damaged)."""
        path = self._path(kind, key)
        try:
            data = path.read_bytes()
            os.utime(path)          # recently used
            return pickle.loads(data)
        except Exception:
            return None

    def store(self, kind: str, key: str, obj) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_output(self._path(kind, key), pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
            self._trim()
        except (OSError, AsyncpyError):
            pass        # a cache that cannot be written costs the next build its work, no more

    def _trim(self) -> None:
        entries = []
        for p in self.root.iterdir():
            try:
                st = p.stat()
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries, key=lambda e: e[0]):
            if total <= MAX_BYTES:
                break
            p.unlink(missing_ok=True)
            total -= size


def digest(facts, analysis) -> str:
    """What a chunk's instrumentation depends on besides its bytes and the
    options: the merged facts and the analysis, rendered in a fixed order
    (sets sorted; dicts in the module's order, which the bytes fix)."""
    h = hashlib.sha256()
    for f in facts.functions.values():
        h.update(repr(f).encode())
    for name, contents in sorted(facts.table_contents.items()):
        h.update(repr((name, sorted(contents))).encode())
    h.update(repr((sorted(facts.open_tables), sorted(facts.escaping), sorted(facts.features))).encode())
    h.update(repr(sorted((k, repr(v)) for k, v in analysis.reasons.items())).encode())
    h.update(repr((analysis.instrument, sorted(analysis.top_most), sorted(analysis.bottom_most),
                   analysis.options)).encode())
    return h.hexdigest()
