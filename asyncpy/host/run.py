"""`asyncpy run`: run WASI commands on asyncio, several instances on one
loop, with imports from a --host file, after instrumenting them if needed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import wasmtime

from asyncpy.host.cache import ensure_instrumented
from asyncpy.host.instance import (
    WASI_PAUSE_IMPORTS,
    HostError,
    Instance,
    WasiOptions,
    _import_table,
    check_runnable,
)
from asyncpy.wasm.engine import compile, compile_cached


async def run_command(wasm, argv: list[str] | None = None, imports=None, *,
                      wasi: WasiOptions | None = None, buffer=None) -> int:
    """Instantiate a WASI command (already instrumented) and run it; return
    its exit code. `argv` overrides wasi.argv."""
    wasi = wasi or WasiOptions()
    if argv is not None:
        wasi.argv = list(argv)
    inst = Instance(wasm, imports, wasi=wasi, buffer=buffer)
    return await inst.run_command()


def load_host_imports(path: str | os.PathLike) -> dict[tuple[str, str], Callable]:
    """A Python file that defines IMPORTS = {"env": {"pause": fn}} (or
    {"env.pause": fn}); each fn may be sync or async."""
    import runpy

    try:
        ns = runpy.run_path(str(path))
    except FileNotFoundError:
        raise HostError(f"--host {path}: no such file") from None
    imports = ns.get("IMPORTS")
    if not isinstance(imports, Mapping):
        raise HostError(f"--host {path}: the file must define IMPORTS = {{'module': {{'name': function}}}}")
    return _import_table(imports)


def run_program(path: str | os.PathLike, args: Iterable[str] = (), *, instances: int = 1,
                imports: Iterable[str] | None = None, host: str | os.PathLike | None = None,
                data_memory: str = "separate", data_pages: int = 4, cache: bool = True,
                env: Mapping[str, str] | None = None, dirs: Iterable[tuple[str, str]] = (),
                progress=None) -> int:
    """What `asyncpy run` does: instrument PATH if needed (pausing imports:
    `imports`, default the WASI pause points plus every import the host file
    provides), then run `instances` copies of the command concurrently on one
    event loop, with async WASI. With several instances each output line is
    prefixed by "[i] " (i from 1). Returns the first non-zero exit code, or 0."""
    import sys

    from asyncpy.host.wasi import line_writer
    from asyncpy.wasm import to_binary

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise HostError(f"{path}: cannot read: {e.strerror or e}") from None
    table = load_host_imports(host) if host else {}
    if imports is None:
        imports = list(WASI_PAUSE_IMPORTS) + [f"{m}.{n}" for m, n in table]
    binary = to_binary(raw, str(path))
    check_runnable(binary, table, str(path))      # before the instrumenting, which takes a while
    wasm = ensure_instrumented(binary, imports, data_memory=data_memory,
                               data_pages=data_pages, name=str(path), cache=cache, progress=progress)
    module = compile_cached(wasm) if cache else compile(wasm)
    argv = [path.name, *args]

    closed = set()

    def writer(stream, prefix):
        def write(text: str) -> None:
            if stream in closed:
                return
            try:
                stream.write(text)
                stream.flush()
            except BrokenPipeError:     # e.g. `| head`: drop the rest, keep running
                closed.add(stream)
        return line_writer(write, prefix)

    async def main() -> list[int]:
        flushes = []
        insts = []
        for i in range(instances):
            opts = WasiOptions(argv=argv, env=dict(env or {}), stdin="inherit", preopens=list(dirs))
            if instances > 1:
                out, fo = writer(sys.stdout, f"[{i + 1}] ")
                err, fe = writer(sys.stderr, f"[{i + 1}] ")
                opts.stdout, opts.stderr = out, err
                flushes += [fo, fe]
            insts.append(Instance(module, table, wasi=opts))
        try:
            return await asyncio.gather(*(inst.run_command() for inst in insts))
        finally:
            for f in flushes:
                f()

    try:
        codes = asyncio.run(main())
    except wasmtime.Trap as e:
        # The program's own failure (unreachable, out of bounds, a task
        # runtime trap), not asyncpy's: say where, in one line.
        raise HostError(f"{path} trapped: {trap_summary(e)}") from None
    return next((c for c in codes if c), 0)


def trap_summary(trap: wasmtime.Trap) -> str:
    """The trap's message and the innermost function that has a name."""
    # wasmtime puts the backtrace first and the cause after "Caused by:".
    lines = [ln.strip() for ln in str(trap.message).strip().splitlines() if ln.strip()]
    message = lines[-1] if lines else "trap"
    where = next((f.func_name for f in trap.frames or () if f.func_name), None)
    return f"{message} (in {where})" if where else message
