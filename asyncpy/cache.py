"""The one cache directory: $ASYNCPY_CACHE, else ~/.cache/asyncpy.

Each user keeps its files in a subdirectory of its own kind: `transformed`
(modules instrumented on the fly by `asyncpy run` and the host), `corpus`
(the benchmark and test programs), `tests`, `scenarios`.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str = "transformed") -> Path:
    """The cache subdirectory for `kind`. Created by whoever writes to it."""
    root = os.environ.get("ASYNCPY_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "asyncpy") / kind
