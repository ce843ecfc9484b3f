"""Building and loading the native walker (walk.c).

walk.c is compiled on first use with zig's C compiler (the `ziglang`
package, a dependency of asyncpy) against the same libbinaryen the rest of
asyncpy.binaryen loads, and cached in the cache directory under a name
that hashes its sources and the library, so an upgrade rebuilds it. Its C
declarations are the ones cffi reads (`_cdef.CDEF`), and its child
enumeration (children.h) is generated here from the same shape table as
the Python reader (`_cdef.CHILD_SETTERS` and friends), so the two cannot
drift.

If the compiler cannot run, `available()` is False and the callers keep
their Python walks. ASYNCPY_NATIVE=0 forces that.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from asyncpy.binaryen._cdef import CDEF, CHILD_SETTERS, LEAF_KINDS, VARIADIC_KINDS
from asyncpy.binaryen.ir import Kind
from asyncpy.binaryen.library import _ffi, _library_path
from asyncpy.cache import cache_dir

# The structs and entry points of walk.c, as cffi sees them (same layout).
_ffi.cdef("""
typedef struct {
  uint64_t name;
  int32_t kind, lo, hi, index, nkids, first, live_in, flags;
} AsyncpyRecord;
typedef struct {
  const uintptr_t *pausing; size_t npausing;
  int (*indirect_pauses)(BinaryenExpressionRef, int32_t);
  int32_t words;
  int32_t max_depth;
  int32_t status, detail;
  int32_t size, nsites, nrecords;
  AsyncpyRecord *records;
  uint64_t *site_live;
  uint64_t *live_in;
  BinaryenExpressionRef *refs;
  int32_t *kinds;
  int32_t *special, nspecial;
  uint64_t *masks;
  void *nodes; int32_t nnodes, cap;
  const char **names; int32_t nnames_used, names_cap;
  int32_t nlabels;
  int32_t live_in_used, live_in_cap;
  BinaryenExpressionRef *tmp; int32_t tmp_cap;
} AsyncpyWalk;
typedef struct {
  uint64_t ref, name, params, results;
  int32_t kind, is_return;
} AsyncpyEvent;
typedef struct {
  int32_t status, detail, node_count, has_try, v128, nevents;
  AsyncpyEvent *events;
  int32_t ncalls, nreturn_calls;
  uint64_t *calls, *return_calls;
  uint8_t kinds[512];
  uint8_t unary_ops[1024];
  int32_t nkinds, nops;
  int32_t kind_list[512], op_list[1024];
} AsyncpyScan;
void asyncpy_scan(BinaryenExpressionRef body, AsyncpyScan *s);
void asyncpy_scan_free(AsyncpyScan *s);
void asyncpy_spine(BinaryenExpressionRef body, AsyncpyWalk *w);
void asyncpy_spine_free(AsyncpyWalk *w);
""")

_HERE = Path(__file__).parent


def _children_source() -> str:
    """push_children() and the kind ids, generated from the shape table."""
    kinds = [k for k in vars(Kind) if not k.startswith("_")]
    out = [f"static int32_t K_{k};" for k in kinds]
    out.append("static unsigned char shape_of[512];")
    cases: list[str] = []
    inits = [f"  K_{k} = (int32_t)Binaryen{k}Id();" for k in kinds]
    inits += [f"  shape_of[K_{k}] = 1;" for k in LEAF_KINDS]

    def push(expr: str, optional: bool) -> str:
        test = "c && " if optional else ""
        return f"    c = {expr}; if ({test}!tmp_push(w, n, c)) return 0;"

    case = 2
    single: dict[str, list[str]] = {}
    for entry in CHILD_SETTERS:
        kind, spec = entry.split(":")
        single[kind] = spec.split(",")
    for entry in VARIADIC_KINDS:
        kind, spec = entry.split(":")
        count, at = spec.split(",")
        inits.append(f"  shape_of[K_{kind}] = {case};")
        body = [f"  case {case}: {{ /* {kind} */",
                "    BinaryenExpressionRef c;",
                f"    BinaryenIndex m = Binaryen{kind}GetNum{count}(e);",
                f"    for (BinaryenIndex i = 0; i < m; i++) {{ c = Binaryen{kind}Get{at}(e, i);"
                " if (!tmp_push(w, n, c)) return 0; }"]
        body += [push(f"Binaryen{kind}Get{c}(e)", True) for c in single.pop(kind, [])]
        cases += [*body, "    return 1; }"]
        case += 1
    for kind, getters in single.items():
        inits.append(f"  shape_of[K_{kind}] = {case};")
        cases += [f"  case {case}: {{ /* {kind} */", "    BinaryenExpressionRef c;"]
        cases += [push(f"Binaryen{kind}Get{c}(e)", True) for c in getters]
        cases += ["    return 1; }"]
        case += 1
    inits.append(f"  shape_of[K_Try] = {case};")
    cases += [f"  case {case}: {{ /* Try: body, then catch bodies */",
              "    BinaryenExpressionRef c;",
              "    c = BinaryenTryGetBody(e); if (!tmp_push(w, n, c)) return 0;",
              "    BinaryenIndex m = BinaryenTryGetNumCatchBodies(e);",
              "    for (BinaryenIndex i = 0; i < m; i++) { c = BinaryenTryGetCatchBodyAt(e, i);"
              " if (!tmp_push(w, n, c)) return 0; }",
              "    return 1; }"]
    out += ["static int kinds_ready;",
            "static void init_kinds(void) {",
            "  if (kinds_ready) return;", *inits, "  kinds_ready = 1;", "}",
            "/* Appends the children of e (kind k) to w->tmp; 1: done, 0: out of",
            "   memory, -1: a kind asyncpy does not understand. */",
            "static int push_children(Walk *w, BinaryenExpressionRef e, int32_t k, int32_t *n) {",
            "  *n = 0;",
            "  switch (k >= 0 && k < 512 ? shape_of[k] : 0) {",
            "  case 0: return -1;",
            "  case 1: return 1;",
            *cases, "  }", "  return -1;", "}"]
    return "\n".join(out) + "\n"


@functools.cache
def _sources() -> dict[str, str]:
    return {
        "shape.h": "#include <stddef.h>\n#include <stdint.h>\n#include <stdbool.h>\n" + CDEF,
        "children.h": _children_source(),
        "walk.c": (_HERE / "walk.c").read_text(),
    }


def _build(target: Path, sources: dict[str, str]) -> None:
    lib = Path(_library_path())
    with tempfile.TemporaryDirectory(prefix="asyncpy-native-") as tmp:
        for name, text in sources.items():
            (Path(tmp) / name).write_text(text)
        out = Path(tmp) / "walk.so"
        cmd = [sys.executable, "-m", "ziglang", "cc", "-shared", "-fPIC", "-O2", "-lc",
               "-o", str(out), str(Path(tmp) / "walk.c"),
               f"-L{lib.parent}", "-lbinaryen", f"-Wl,-rpath,{lib.parent}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a concurrent build or a reader never sees half a library.
        staged = target.with_name(f".{target.name}.{os.getpid()}")
        staged.write_bytes(out.read_bytes())
        os.replace(staged, target)


_lib_native: Any = None
_failure: str | None = None


@functools.cache
def _target() -> Path:
    """Where the library for these sources and this libbinaryen is cached
    (computed once: needs_build and _load both ask)."""
    sources = _sources()
    lib = Path(_library_path())
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    st = lib.stat()
    h.update(f"{lib}:{st.st_size}:{st.st_mtime_ns}".encode())
    return cache_dir("native") / f"walk-{h.hexdigest()[:16]}.so"


def needs_build() -> bool:
    """True when the next use will compile the walker (a few seconds, once)."""
    return _lib_native is None and _failure is None and not _disabled() and not _target().exists()


def _load():
    global _lib_native, _failure
    if _lib_native is not None or _failure is not None:
        return _lib_native
    if _disabled():
        _failure = "disabled by ASYNCPY_NATIVE=0"
        return None
    sources = _sources()
    target = _target()
    try:
        if not target.exists():
            _build(target, sources)
        _lib_native = _ffi.dlopen(str(target))
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        _failure = f"{e}: {detail.decode(errors='replace').strip()[:300]}" if detail else str(e)
    return _lib_native


def available() -> bool:
    return _load() is not None


def failure() -> str | None:
    """Why the native walker is not in use (None when it is)."""
    _load()
    return _failure


def broken() -> str | None:
    """Why the native walker failed to build or load; None when it works
    or was turned off on purpose (ASYNCPY_NATIVE=0)."""
    _load()
    return None if _disabled() else _failure


def _disabled() -> bool:
    return os.environ.get("ASYNCPY_NATIVE", "1") == "0"


def lib():
    """The loaded walker (check available() first)."""
    loaded = _load()
    assert loaded is not None, "check native.available() first"
    return loaded
