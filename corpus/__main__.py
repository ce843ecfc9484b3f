"""python -m corpus [--record] [names...]

Builds every program (or the named ones, e.g. c/fnptr quickjs wat/loop), runs it with
HOST_IMPORTS and prints path, size, function count and whether stdout matches
corpus/expected/. --record (re)writes the expected files instead.
"""
import sys

import wasmtime

from asyncpy.wasm.binary import function_counts

from . import build, expected_path, run_program


def function_count(path) -> tuple[int, int]:
    """(defined functions, imported functions) of a .wasm or .wat file."""
    data = path.read_bytes()
    if path.suffix == ".wat":
        data = wasmtime.wat2wasm(data.decode())
    return function_counts(bytes(data))


def main(argv):
    record = "--record" in argv
    names = [a for a in argv if a != "--record"] or list(build.PROGRAMS)
    bad = 0
    for name in names:
        path = build.build(name)
        defined, imported = function_count(path)
        code, out = run_program(name)
        exp = expected_path(name)
        if record:
            exp.write_text(out)
            status = "recorded"
        else:
            ok = code == 0 and exp.exists() and exp.read_text() == out
            status = "ok" if ok else f"MISMATCH (exit {code})"
            bad += not ok
        print(f"{name:16} {path.stat().st_size:>9} B {defined:>5} funcs "
              f"(+{imported} imports)  {status}  {path}")
    return 1 if bad else 0


sys.exit(main(sys.argv[1:]))
