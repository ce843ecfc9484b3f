"""The command lines: main (asyncpy), wasmopt (asyncpy-wasm-opt)."""

from asyncpy.cli.main import main

__all__ = ["main"]
