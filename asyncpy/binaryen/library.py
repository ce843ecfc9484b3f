"""Loading libbinaryen and talking C: the cffi handle, C strings, and a
context manager that silences Binaryen's writes to stdout/stderr."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from cffi import FFI

from asyncpy.binaryen._cdef import CDEF

_ffi = FFI()


_ffi.cdef(CDEF)


def _library_path() -> str:
    import icpp_binaryen  # only for its location: we load the library ourselves

    return str(Path(icpp_binaryen.__file__).parent / "lib" / "libbinaryen.so")


_lib = _ffi.dlopen(_library_path())


NULL = _ffi.NULL


def release_freed_memory() -> None:
    """Give the pages malloc keeps after frees back to the system. A module
    is millions of small allocations; when it is disposed, glibc keeps
    their pages (they are not at the top of its heap), so whatever runs
    next (checking the output, the next module) would add its memory to a
    peak that still counts the module. glibc's malloc_trim returns them
    (CUE: about 700 MB, in tens of milliseconds); other C libraries do
    not have it, and there this does nothing."""
    try:
        trim = _lib.malloc_trim     # resolved through libbinaryen's own libc
    except AttributeError:
        return
    trim(0)


def cstr(p) -> str | None:
    return None if p == NULL else _ffi.string(p).decode("utf-8", "replace")


def name_of(p) -> str:
    """A name Binaryen always has (a function's, an export's...)."""
    s = cstr(p)
    assert s is not None, "Binaryen returned no name"
    return s


@contextlib.contextmanager
def quiet():
    """Silence what libbinaryen prints on the C stdout/stderr (validation
    reports, warnings); Python's own streams are flushed around it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)

