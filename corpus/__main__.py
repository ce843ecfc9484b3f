"""python -m corpus [--record] [names...]

Builds every program (or the named ones, e.g. c/fnptr quickjs wat/loop), runs it with
HOST_IMPORTS and prints path, size, function count and whether stdout matches
corpus/expected/. --record (re)writes the expected files instead.
"""
import sys

import wasmtime

from . import build, expected_path, run_program


def function_count(path) -> tuple[int, int]:
    """(defined functions, imported functions) of a .wasm or .wat file."""
    data = path.read_bytes()
    if path.suffix == ".wat":
        data = wasmtime.wat2wasm(data.decode())

    def leb(i):
        v = shift = 0
        while True:
            b = data[i]; i += 1
            v |= (b & 0x7F) << shift; shift += 7
            if b < 0x80:
                return v, i

    i, defined, imported = 8, 0, 0
    while i < len(data):
        sid = data[i]
        size, j = leb(i + 1)
        if sid == 3:
            defined, _ = leb(j)
        elif sid == 2:  # import section: count kind 0 (func)
            n, k = leb(j)
            for _ in range(n):
                for _ in range(2):  # module and field names
                    ln, k = leb(k); k += ln
                kind = data[k]; k += 1
                if kind == 0:
                    imported += 1; _, k = leb(k)
                elif kind == 1:  # table: reftype + limits
                    k += 1; flags, k = leb(k); _, k = leb(k)
                    if flags & 1: _, k = leb(k)
                elif kind == 2:  # memory limits
                    flags, k = leb(k); _, k = leb(k)
                    if flags & 1: _, k = leb(k)
                else:  # global / tag: type + flag
                    k += 2
        i = j + size
    return defined, imported


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
