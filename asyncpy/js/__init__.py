"""The JavaScript host (ES modules, no build step, no dependencies).

`asyncpy.mjs` is the entry point; it imports `binary.mjs` and `wasi.mjs`
from its own folder, so the three travel together: `copy(out)` (what
`asyncpy js --out DIR` does) puts them side by side in DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

from asyncpy.errors import AsyncpyError

HERE = Path(__file__).resolve().parent
ENTRY = "asyncpy.mjs"
FILES = ("asyncpy.mjs", "binary.mjs", "wasi.mjs")


def path(name: str = ENTRY) -> Path:
    """The installed file `name` of the JS host (default: the entry module)."""
    if name not in FILES:
        raise AsyncpyError(f"no JS host file {name!r} (files: {', '.join(FILES)})")
    return HERE / name


def copy(out: str | os.PathLike) -> list[Path]:
    """Copy the JS host's files into directory `out` (created if missing);
    returns the written paths. Only these files are replaced."""
    from asyncpy.wasm.output import write_output

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AsyncpyError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AsyncpyError(f"--out {out}: cannot create the directory: {e.strerror or e}") from None
    written = []
    for name in FILES:
        target = out / name
        if target.exists() and target.is_dir():
            raise AsyncpyError(f"{target}: is a directory")
        try:
            write_output(target, (HERE / name).read_bytes())
        except OSError as e:
            raise AsyncpyError(f"{target}: cannot write: {e.strerror or e}") from None
        written.append(target)
    return written
