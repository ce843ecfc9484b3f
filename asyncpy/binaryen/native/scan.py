"""The analysis's scan in C (walk.c, `asyncpy_scan`): the same BodyFacts
as asyncpy.binaryen.scan.scan_body_python, which the tests compare it with."""

from __future__ import annotations

import struct

from asyncpy.binaryen.ir import KIND_NAMES, Kind, UnsupportedExpression, call_ref_signature
from asyncpy.binaryen.library import NULL, _ffi
from asyncpy.binaryen.native.build import lib
from asyncpy.binaryen.native.spine import E_UNSUPPORTED, OK, interned_name
from asyncpy.binaryen.types import Signature, signature

_EVENT = struct.Struct("<QQQQii")      # walk.c's Event

# Distinct sets of kinds or ops, by their bytes: few, and shared by all
# functions and modules of the process.
_sets: dict[bytes, frozenset[int]] = {}


def _shared(arr, n: int) -> frozenset[int]:
    key = bytes(_ffi.buffer(arr, n * 4))
    found = _sets.get(key)
    if found is None:
        found = _sets[key] = frozenset(_ffi.unpack(arr, n))
    return found


def scan(body):
    """asyncpy.binaryen.scan.scan_body, in C: the same BodyFacts."""
    from asyncpy.binaryen.scan import BodyFacts  # scan.py calls us: imported late
    facts = BodyFacts()
    if body == NULL:
        return facts
    s = _ffi.new("AsyncpyScan *")
    walker = lib()
    walker.asyncpy_scan(body, s)
    try:
        if s.status == E_UNSUPPORTED:
            raise UnsupportedExpression(KIND_NAMES.get(s.detail, f"expression kind {s.detail}"))
        if s.status != OK:
            raise MemoryError("native scan: out of memory")
        facts.node_count = s.node_count
        facts.has_try = bool(s.has_try)
        facts.v128 = bool(s.v128)
        facts.kinds = _shared(s.kind_list, s.nkinds)
        facts.unary_ops = _shared(s.op_list, s.nops)
        # Direct calls are most events: deduplicated as pointers first.
        if s.ncalls:
            facts.calls = [interned_name(p) for p in dict.fromkeys(_ffi.unpack(s.calls, s.ncalls))]
        if s.nreturn_calls:
            targets = _ffi.unpack(s.return_calls, s.nreturn_calls)
            facts.return_calls = [interned_name(p) for p in dict.fromkeys(targets)]
        K = Kind
        sigs: dict[tuple[int, int], Signature] = {}
        events = _EVENT.iter_unpack(_ffi.buffer(s.events, s.nevents * _EVENT.size)) if s.nevents else ()
        for ref, nm, params, results, kind, ret in events:
            if kind == K.CallIndirect:
                sig = sigs.get((params, results))
                if sig is None:
                    sig = sigs[(params, results)] = signature(params, results)
                facts.indirect.append((interned_name(nm), sig, bool(ret)))
            elif kind == K.CallRef:
                expr = _ffi.cast("BinaryenExpressionRef", ref)
                facts.call_refs.append((call_ref_signature(expr), bool(ret)))
            elif kind == K.RefFunc:
                facts.ref_funcs.append(interned_name(nm))
            else:
                facts.table_writes.append(interned_name(nm))
        return facts
    finally:
        walker.asyncpy_scan_free(s)
