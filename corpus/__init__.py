"""Corpus of WebAssembly programs for asyncpy's tests and benchmarks.

    from corpus import build, run, expected, HOST_IMPORTS
    path = build.quickjs()                       # or build.build("quickjs")
    code, out = run.run(path, HOST_IMPORTS)
    assert (code, out) == (0, expected("quickjs"))

See corpus/README.md for the programs and corpus/build.py for the cache.
"""
from pathlib import Path

from . import build, run

#: The env imports every corpus program may use, as the expected outputs assume them.
HOST_IMPORTS = {"pause": lambda n: n + 1}

#: Reactors have no _start: run.run(path, HOST_IMPORTS, invoke=REACTOR_CALLS).
REACTOR_CALLS = [("add_paused", (3, 4)), ("count", (5,)), ("square", (7,))]

EXPECTED_DIR = Path(__file__).resolve().parent / "expected"


def expected_path(name: str) -> Path:
    """corpus/expected/<name>.txt; name is a PROGRAMS key, e.g. "c/fnptr" -> c-fnptr.txt."""
    return EXPECTED_DIR / (name.replace("/", "-") + ".txt")


def expected(name: str) -> str:
    """Expected stdout of program `name` run with HOST_IMPORTS (and REACTOR_CALLS)."""
    return expected_path(name).read_text()


def run_program(name: str) -> tuple[int, str]:
    """Build program `name` and run it the way its expected output was recorded."""
    return run.run(build.build(name), HOST_IMPORTS, invoke=REACTOR_CALLS)
