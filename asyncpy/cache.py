"""The one cache directory: $ASYNCPY_CACHE, else ~/.cache/asyncpy.

Each user keeps its files in a subdirectory of its own kind: `transformed`
(modules instrumented on the fly by `asyncpy run` and the host), `chunks`
(the rebuild cache, asyncpy.rebuild), `corpus` (the benchmark and test
programs), `tests`, `scenarios`.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path


def cache_dir(kind: str = "transformed") -> Path:
    """The cache subdirectory for `kind`. Created by whoever writes to it."""
    root = os.environ.get("ASYNCPY_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "asyncpy") / kind


@cache
def source_digest() -> str:
    """Hash of asyncpy's own sources (not the host, not the CLI), so that a
    changed transform invalidates what was cached with the old one."""
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob('*.py')) + sorted(pkg.rglob('*.wat')) + sorted(pkg.rglob('*.c')):
        rel = p.relative_to(pkg)
        if rel.parts[0] not in ('host', 'cli'):
            h.update(str(rel).encode() + bytes(1) + p.read_bytes())
    return h.hexdigest()[:16]
