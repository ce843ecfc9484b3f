"""The native walker (walk.c): reading an instrumented function's body in
one C call instead of a Python walk through cffi.

walk.c is compiled on first use with zig's C compiler (the `ziglang`
package, a dependency) against the same libbinaryen the rest of
asyncpy.binaryen loads, and cached in the cache directory under a name
that hashes its sources and the library, so an upgrade rebuilds it. Its
C declarations are the ones cffi reads (`_cdef.CDEF`), and its child
enumeration is generated from the same shape table as the Python reader
(`_cdef.CHILD_SETTERS` and friends), so the two cannot drift.

If the compiler cannot run, `available()` is False and the transform keeps
its Python walk (asyncpy.transform.liveness/sites), which is also the
reference the tests compare this one with. ASYNCPY_NATIVE=0 forces that.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from asyncpy.binaryen._cdef import CDEF, CHILD_SETTERS, LEAF_KINDS, VARIADIC_KINDS
from asyncpy.binaryen.ir import KIND_NAMES, Kind, Node, UnsupportedExpression
from asyncpy.binaryen.library import NULL, _ffi, _lib, _library_path
from asyncpy.cache import cache_dir

_ffi.cdef("""
typedef struct {
  uint64_t ref, name;
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
_RECORD = struct.Struct("<QQ8i")
_EVENT = struct.Struct("<QQQQii")
FLAG_SITE, FLAG_TEE = 1, 2
OK, E_UNSUPPORTED, E_TAIL_CALL, E_TOO_DEEP, E_MEMORY = range(5)
# The liveness recursion's depth limit: a few hundred bytes of C stack per
# level, well inside the 8 MB main-thread stack. Deeper bodies (none in
# the corpus; Go's deepest dispatch nests are in the thousands) take the
# Python walk.
MAX_DEPTH = 20000


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
    single = {}
    for entry in CHILD_SETTERS:
        kind, kids = entry.split(":")
        single[kind] = kids.split(",")
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
        cases += body + ["    return 1; }"]
        case += 1
    for kind, kids in single.items():
        inits.append(f"  shape_of[K_{kind}] = {case};")
        cases += [f"  case {case}: {{ /* {kind} */", "    BinaryenExpressionRef c;"]
        cases += [push(f"Binaryen{kind}Get{c}(e)", True) for c in kids]
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


_lib_native = None
_failure: str | None = None


def _target(sources: dict[str, str]) -> Path:
    """Where the library for these sources and this libbinaryen is cached."""
    lib = Path(_library_path())
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    st = lib.stat()
    h.update(f"{lib}:{st.st_size}:{st.st_mtime_ns}".encode())
    return cache_dir("native") / f"walk-{h.hexdigest()[:16]}.so"


def needs_build() -> bool:
    """True when the next use will compile the walker (a few seconds, once)."""
    return _lib_native is None and _failure is None and not _disabled() and not _target(_sources()).exists()


def _load():
    global _lib_native, _failure
    if _lib_native is not None or _failure is not None:
        return _lib_native
    if _disabled():
        _failure = "disabled by ASYNCPY_NATIVE=0"
        return None
    sources = _sources()
    target = _target(sources)
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


@dataclass
class Spine:
    """What the transform needs of one body: the spine as `Node`s (spine
    nodes with their children, other nodes without), the sites numbered,
    and the liveness results in the shapes liveness.live_across_sites
    returns them."""
    root: Node | None               # None: no site in the body
    size: int                       # nodes in the body
    nsites: int
    site_live: dict[int, int]       # site index -> locals live after it
    live_in: dict[int, int]         # id(pausing child of a block) -> locals live before it
    masks: bytes = b""              # per node (Node.rec): locals read, then written, below it
    words: int = 1                  # 64-bit words per mask

    def touched(self, n: Node) -> tuple[int, int]:
        """(locals read, locals written) in the subtree of `n`."""
        size = self.words * 8
        at = n.rec * 2 * size
        m = self.masks
        return int.from_bytes(m[at:at + size], "little"), int.from_bytes(m[at + size:at + 2 * size], "little")


class TooDeep(Exception):
    """The body nests deeper than the C walker's recursion allows: use the
    Python walk for it."""


class Walker:
    """One per instrumented module: the pausing direct targets (as
    Binaryen's interned name pointers, compared by address in C) and the
    predicate for indirect calls."""

    def __init__(self, module, pausing_names, indirect_is_site) -> None:
        lib = _load()
        assert lib is not None, "check native.available() first"
        self.lib = lib
        ptrs = []
        for name in pausing_names:
            f = _lib.BinaryenGetFunction(module.ref, name.encode())
            if f != NULL:
                ptrs.append(int(_ffi.cast("uintptr_t", _lib.BinaryenFunctionGetName(f))))
        ptrs.sort()
        self._pausing = _ffi.new("uintptr_t[]", ptrs or [0])
        self._npausing = len(ptrs)
        kinds = {Kind.CallIndirect, Kind.CallRef}

        def indirect(ref, kind):
            # An exception cannot cross C: a failing predicate says "pauses",
            # the safe answer.
            try:
                return 1 if kind in kinds and indirect_is_site(Node(ref, kind)) else 0
            except Exception:
                return 1

        self._callback = _ffi.callback("int(BinaryenExpressionRef, int32_t)", indirect, onerror=None)
        self._names: dict[int, str | None] = {0: None}

    def _name(self, p: int) -> str | None:
        s = self._names.get(p, "")
        if s == "":
            s = _ffi.string(_ffi.cast("char *", p)).decode()
            self._names[p] = s
        return s

    def spine(self, func_ref, nlocals: int, func_name: str) -> Spine:
        from asyncpy.errors import UnsupportedError
        words = max(1, (nlocals + 63) // 64)
        w = _ffi.new("AsyncpyWalk *")
        w.pausing, w.npausing = self._pausing, self._npausing
        w.indirect_pauses = self._callback
        w.words = words
        w.max_depth = MAX_DEPTH
        self.lib.asyncpy_spine(_lib.BinaryenFunctionGetBody(func_ref), w)
        try:
            if w.status == E_UNSUPPORTED:
                raise UnsupportedExpression(KIND_NAMES.get(w.detail, f"expression kind {w.detail}"))
            if w.status == E_TAIL_CALL:
                raise UnsupportedError(f"function {func_name}: a tail call (return_call) that may "
                                       "pause; tail calls on a pause path are not supported")
            if w.status == E_TOO_DEEP:
                raise TooDeep(func_name)
            if w.status == E_MEMORY:
                raise MemoryError(f"native walker: out of memory in function {func_name}")
            if w.nsites == 0:
                return Spine(None, w.size, 0, {}, {})
            return self._decode(w, words)
        finally:
            self.lib.asyncpy_spine_free(w)

    def _decode(self, w, words: int) -> Spine:
        """Nodes for the records. Most are cold children of spine nodes,
        which need only their expression and kind: those are made in bulk;
        the few C listed as special get the rest of their record."""
        nbytes = words * 8
        count = w.nrecords
        raw = _ffi.buffer(w.records, count * _RECORD.size)
        nodes = list(map(Node, _ffi.unpack(w.refs, count), _ffi.unpack(w.kinds, count)))
        for q, n in enumerate(nodes):
            n.rec = q
        name = self._name
        pool = bytes(_ffi.buffer(w.live_in, max(1, _live_in_words(w)) * 8)) if w.live_in != NULL else b""
        live_in: dict[int, int] = {}
        block = Kind.Block
        unpack, size = _RECORD.unpack_from, _RECORD.size
        for q in _ffi.unpack(w.special, w.nspecial):
            _ref, nm, kind, lo, hi, index, nkids, first, li, flags = unpack(raw, q * size)
            n = nodes[q]
            n.index = index
            if hi >= lo:
                n.lo, n.hi = lo, hi
                if flags & FLAG_SITE:
                    n.site = True
                if flags & FLAG_TEE:
                    n.tee = True
                if nm and kind == block:
                    n.name = name(nm)
                if nkids:
                    n.kids = nodes[first:first + nkids]     # children come after their parent
            if li >= 0:
                live_in[id(n)] = int.from_bytes(pool[li * 8:li * 8 + nbytes], "little")
        site_raw = bytes(_ffi.buffer(w.site_live, w.nsites * nbytes))
        site_live = {}
        for k in range(w.nsites):
            m = int.from_bytes(site_raw[k * nbytes:(k + 1) * nbytes], "little")
            if m:
                site_live[k + 1] = m
        masks = bytes(_ffi.buffer(w.masks, w.nrecords * 2 * nbytes))
        return Spine(nodes[0], w.size, w.nsites, site_live, live_in, masks, words)


_names: dict[int, str] = {}


def _string(p: int) -> str:
    """A name Binaryen interned: the same pointer is the same name."""
    s = _names.get(p)
    if s is None:
        s = _names[p] = _ffi.string(_ffi.cast("char *", p)).decode()
    return s


def scan(body):
    """asyncpy.binaryen.scan.scan_body, in C: the same BodyFacts."""
    from asyncpy.binaryen.ir import call_ref_signature
    from asyncpy.binaryen.scan import BodyFacts
    from asyncpy.binaryen.types import signature
    lib = _load()
    assert lib is not None
    facts = BodyFacts()
    if body == NULL:
        return facts
    s = _ffi.new("AsyncpyScan *")
    lib.asyncpy_scan(body, s)
    try:
        if s.status == E_UNSUPPORTED:
            raise UnsupportedExpression(KIND_NAMES.get(s.detail, f"expression kind {s.detail}"))
        if s.status != OK:
            raise MemoryError("native scan: out of memory")
        facts.node_count = s.node_count
        facts.has_try = bool(s.has_try)
        facts.v128 = bool(s.v128)
        facts.kinds = set(_ffi.unpack(s.kind_list, s.nkinds))
        facts.unary_ops = set(_ffi.unpack(s.op_list, s.nops))
        # Direct calls are most events: deduplicated as pointers first.
        if s.ncalls:
            facts.calls = [_string(p) for p in dict.fromkeys(_ffi.unpack(s.calls, s.ncalls))]
        if s.nreturn_calls:
            facts.return_calls = [_string(p) for p in dict.fromkeys(_ffi.unpack(s.return_calls, s.nreturn_calls))]
        K = Kind
        sigs: dict[tuple[int, int], object] = {}
        events = _EVENT.iter_unpack(_ffi.buffer(s.events, s.nevents * _EVENT.size)) if s.nevents else ()
        for ref, nm, params, results, kind, ret in events:
            if kind == K.CallIndirect:
                sig = sigs.get((params, results))
                if sig is None:
                    sig = sigs[(params, results)] = signature(params, results)
                facts.indirect.append((_string(nm), sig, bool(ret)))
            elif kind == K.CallRef:
                facts.call_refs.append((call_ref_signature(_ffi.cast("BinaryenExpressionRef", ref)), bool(ret)))
            elif kind == K.RefFunc:
                facts.ref_funcs.append(_string(nm))
            else:
                facts.table_writes.append(_string(nm))
        return facts
    finally:
        lib.asyncpy_scan_free(s)


def _live_in_words(w) -> int:
    return w.live_in_used
