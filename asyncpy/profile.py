"""Profile-guided instrumentation: which functions are really on the stack
when a program pauses.

The analysis must assume that every function that *can* reach a pausing
import may be on the stack at a pause; in an interpreter that is most of
the program, and the instrumentation costs time in all of it. A run tells
which ones actually were. `asyncpy profile` instruments the program in a
tracing mode (each function calls the import `asyncpy_profile.unwind(id)`
as it saves its frame, i.e. once per pause it was on the stack for), runs
it, and writes those functions' names to a list file, merged with what the
file held before. Then

    asyncpy transform app.wasm --only-list @profile.txt --asserts

instruments just them. A pause on a path no profiled run took then reaches
an uninstrumented function, and `--asserts` makes that an immediate trap in
that function (wasmtime's message names it in the backtrace) instead of a
silently corrupted stack.

The list file has one name per line. Characters that `--only-list` would
read as separators or wildcards (`,`, `*`, newlines) are written as `*`,
which still matches the name (and perhaps a few more: instrumenting more is
always safe).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from asyncpy.errors import AsyncpyError
from asyncpy.transform import TRACE_BASE, TRACE_MODULE


@dataclass
class Profile:
    """function name -> number of pauses it was on the stack for."""
    counts: Counter = field(default_factory=Counter)
    pauses: int = 0
    runs: int = 0

    def merge(self, other: Profile) -> None:
        self.counts.update(other.counts)
        self.pauses += other.pauses
        self.runs += other.runs

    def names(self) -> list[str]:
        return sorted(self.counts)


def list_entry(name: str) -> str:
    return re.sub(r"[,*\n\r]", "*", name).strip() or "*"


def read_list(path: str | os.PathLike) -> list[str]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise AsyncpyError(f"cannot read profile {path}: {e.strerror or e}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def write_list(path: str | os.PathLike, names: Iterable[str], merge: bool = True) -> tuple[int, int]:
    """Write the list (merged with the file's earlier entries unless
    merge=False), atomically. Returns (entries written, entries that were
    there before)."""
    from asyncpy.wasm.output import write_output

    before = read_list(path) if merge else []
    entries = sorted(set(before) | {list_entry(n) for n in names})
    write_output(path, ("\n".join(entries) + "\n").encode() if entries else b"")
    return len(entries), len(before)


class Recorder:
    """The host side of the tracing import."""

    def __init__(self, names: list[str]):
        self.names = names
        self.profile = Profile(runs=1)

    def unwind(self, fid: int) -> None:
        self.profile.counts[self.names[fid]] += 1

    @property
    def imports(self) -> dict[tuple[str, str], Callable]:
        return {(TRACE_MODULE, TRACE_BASE): self.unwind}


def instrument_for_profile(wasm: bytes, imports: Iterable[str], *, data_memory: str = "separate",
                           data_pages: int = 4, name: str = "<input>",
                           progress: Callable[[str], None] | None = None) -> tuple[bytes, Recorder]:
    """`wasm` instrumented in tracing mode by the full analysis with these
    pausing imports, and a Recorder whose `imports` the host must add."""
    from asyncpy.options import AnalysisOptions, TransformOptions
    from asyncpy.pipeline import transform_loaded
    from asyncpy.wasm import load_bytes, to_binary
    from asyncpy.wasm.binary import is_instrumented

    wasm = to_binary(bytes(wasm), name)
    if is_instrumented(wasm):
        raise AsyncpyError(f"{name} is instrumented already; profile the original module")
    options = TransformOptions(analysis=AnalysisOptions(imports=tuple(sorted(set(imports)))),
                               data_memory=data_memory, data_pages=data_pages, trace_unwind=True)
    result = transform_loaded(load_bytes(wasm, name), options, progress=progress)
    return result.wasm, Recorder(list(result.analysis.instrument))


def profile_program(path: str | os.PathLike, args: Iterable[str] = (), *,
                    imports: Iterable[str] | None = None, host: str | os.PathLike | None = None,
                    data_memory: str = "separate", data_pages: int = 4,
                    env: Mapping[str, str] | None = None, dirs: Iterable[tuple[str, str]] = (),
                    progress: Callable[[str], None] | None = None) -> tuple[int, Profile, int]:
    """Run PATH once the way `asyncpy run` does (a WASI command; `host` is
    a Python file with IMPORTS, and optionally `async def main(instance)`
    which then drives the instance instead of `_start`, e.g. a reactor's
    exports). Returns (exit code, profile, functions the full analysis
    instruments)."""
    import wasmtime

    from asyncpy.host import WASI_PAUSE_IMPORTS, HostError, Instance, WasiOptions
    from asyncpy.host.instance import _import_table
    from asyncpy.wasm import to_binary

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise HostError(f"{path}: cannot read: {e.strerror or e}") from None
    table: dict = {}
    driver = None
    if host is not None:
        import runpy
        try:
            ns = runpy.run_path(str(host))
        except FileNotFoundError:
            raise HostError(f"--host {host}: no such file") from None
        table = _import_table(ns.get("IMPORTS") or {})
        driver = ns.get("main")
    if imports is None:
        imports = list(WASI_PAUSE_IMPORTS) + [f"{m}.{n}" for m, n in table]
    if progress:
        progress(f"instrumenting {path} with tracing (pausing imports: {', '.join(sorted(set(imports)))})")
    wasm, rec = instrument_for_profile(to_binary(raw, str(path)), imports, data_memory=data_memory,
                                       data_pages=data_pages, name=str(path), progress=progress)
    opts = WasiOptions(argv=[path.name, *args], env=dict(env or {}), stdin="inherit", preopens=list(dirs))

    async def main() -> int:
        inst = Instance(wasm, {**table, **rec.imports}, wasi=opts)
        try:
            if driver is not None:
                await inst.initialize()
                code = await driver(inst)
                return code if isinstance(code, int) else 0
            return await inst.run_command()
        except wasmtime.ExitTrap as e:
            return e.code
        finally:
            rec.profile.pauses = sum(inst.pauses.values())

    if progress:
        progress("running")
    code = asyncio.run(main())
    return code, rec.profile, len(rec.names)
