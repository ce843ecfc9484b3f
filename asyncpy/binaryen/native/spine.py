"""One instrumented body through the native walker: the spine as `Node`s,
the sites numbered, and the liveness at them (walk.c, `asyncpy_spine`).

The transform's Python walk (asyncpy.transform.sites and .liveness) is the
reference these results are tested against, and the fallback for a body
too deep for the C recursion (`TooDeep`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from asyncpy.binaryen.ir import KIND_NAMES, Kind, Node, UnsupportedExpression
from asyncpy.binaryen.library import NULL, _ffi, _lib
from asyncpy.binaryen.native.build import lib

_RECORD = struct.Struct("<Q8i")        # walk.c's Record
FLAG_SITE, FLAG_TEE = 1, 2
OK, E_UNSUPPORTED, E_TAIL_CALL, E_TOO_DEEP, E_MEMORY, E_TRY = range(6)
# The liveness recursion's depth limit: a few hundred bytes of C stack per
# level, well inside the 8 MB main-thread stack. Deeper bodies (none in
# the corpus; Go's deepest dispatch nests are in the thousands) take the
# Python walk.
MAX_DEPTH = 20000

# Binaryen interns names for the life of the process: one pointer is one
# name, so each is decoded once, for every module and both walks.
_names: dict[int, str] = {}


def interned_name(p: int) -> str:
    s = _names.get(p)
    if s is None:
        s = _names[p] = _ffi.string(_ffi.cast("char *", p)).decode()
    return s


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


class Refused(Exception):
    """A site where the scheme cannot go: args[0] is "tail-call" or "try"
    (the transform words the error: asyncpy.transform.sites.refusal)."""


class TooDeep(Exception):
    """The body nests deeper than the C walker's recursion allows: use the
    Python walk for it."""


class Walker:
    """One per instrumented module: the pausing direct targets (as
    Binaryen's interned name pointers, compared by address in C) and the
    predicate for indirect calls."""

    def __init__(self, module, pausing_names, indirect_is_site) -> None:
        self.lib = lib()
        self._error: Exception | None = None
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
            # An exception cannot cross C: it is kept, the walk told "pauses"
            # (the safe answer), and spine() raises it when C returns.
            try:
                return 1 if kind in kinds and indirect_is_site(Node(ref, kind)) else 0
            except Exception as e:
                if self._error is None:
                    self._error = e
                return 1

        self._callback = _ffi.callback("int(BinaryenExpressionRef, int32_t)", indirect, onerror=None)

    def spine(self, func_ref, nlocals: int, func_name: str) -> Spine:
        words = max(1, (nlocals + 63) // 64)
        w = _ffi.new("AsyncpyWalk *")
        w.pausing, w.npausing = self._pausing, self._npausing
        w.indirect_pauses = self._callback
        w.words = words
        w.max_depth = MAX_DEPTH
        self._error = None
        self.lib.asyncpy_spine(_lib.BinaryenFunctionGetBody(func_ref), w)
        try:
            if self._error is not None:
                raise self._error
            if w.status == E_UNSUPPORTED:
                raise UnsupportedExpression(KIND_NAMES.get(w.detail, f"expression kind {w.detail}"))
            if w.status == E_TAIL_CALL:
                raise Refused("tail-call")
            if w.status == E_TRY:
                raise Refused("try")
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
        pool = bytes(_ffi.buffer(w.live_in, w.live_in_used * 8)) if w.live_in != NULL else b""
        live_in: dict[int, int] = {}
        block = Kind.Block
        unpack, size = _RECORD.unpack_from, _RECORD.size
        for q in _ffi.unpack(w.special, w.nspecial):
            nm, kind, lo, hi, index, nkids, first, li, flags = unpack(raw, q * size)
            n = nodes[q]
            n.index = index
            if hi >= lo:
                n.lo, n.hi = lo, hi
                if flags & FLAG_SITE:
                    n.site = True
                if flags & FLAG_TEE:
                    n.tee = True
                if nm and kind == block:
                    n.name = interned_name(nm)
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
