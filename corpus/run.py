"""Tiny wasmtime runner for corpus programs (WASI preview1 + i32->i32 `env` imports).

    code, out = run(path, {"pause": lambda n: n + 1})
    code, out = run(reactor_path, {"pause": f}, invoke=[("add_paused", (3, 4))])
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import wasmtime

from asyncpy.wasm.engine import engine as asyncpy_engine


def instantiate(path, env_imports: dict[str, Callable[[int], int]] | None = None,
                argv=None, stdout_path=None):
    """Return (store, instance) with WASI set up; stdout goes to stdout_path if given."""
    path = Path(path)
    engine = asyncpy_engine()
    store = wasmtime.Store(engine)
    if path.suffix == ".wat":
        module = wasmtime.Module(engine, path.read_text())
    else:
        module = wasmtime.Module.from_file(engine, str(path))
    wasi = wasmtime.WasiConfig()
    wasi.argv = list(argv) if argv is not None else [path.stem]
    wasi.inherit_stderr()
    if stdout_path is not None:
        wasi.stdout_file = str(stdout_path)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    i32_i32 = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
    for name, fn in (env_imports or {}).items():
        linker.define_func("env", name, i32_i32, (lambda f: lambda n: int(f(n)) & 0xFFFFFFFF)(fn))
    return store, linker.instantiate(store, module)


def run(path, env_imports: dict[str, Callable[[int], int]] | None = None, argv=None,
        invoke: Iterable[tuple[str, tuple]] = ()) -> tuple[int, str]:
    """Run a command module's _start (or, for a reactor, _initialize then each
    (export, args) of `invoke`); return (exit_code, captured stdout)."""
    fd, out = tempfile.mkstemp(suffix=".stdout")
    os.close(fd)
    try:
        store, inst = instantiate(path, env_imports, argv, stdout_path=out)
        exports = inst.exports(store)
        code = 0
        try:
            if "_start" in exports:
                exports["_start"](store)
            else:
                if "_initialize" in exports:
                    exports["_initialize"](store)
                for name, args in invoke:
                    exports[name](store, *args)
        except wasmtime.ExitTrap as e:
            code = e.code
        del store, inst
        return code, Path(out).read_text()
    finally:
        os.unlink(out)
