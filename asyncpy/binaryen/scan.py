"""One pass over a function body for the facts the analysis needs (direct
calls, indirect call sites, escaping function references, table writes,
return calls, try blocks) and for the features the output must declare."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asyncpy.binaryen.ir import (
    _SINGLE,
    _VARIADIC,
    KIND_NAMES,
    Kind,
    UnsupportedExpression,
    _try_children,
    call_ref_signature,
    function_locals,
)
from asyncpy.binaryen.library import NULL, _ffi, _lib
from asyncpy.binaryen.types import (
    _BASIC_NAMES,
    _SAT_TRUNC_OPS,
    _SIGN_EXT_OPS,
    _SPLAT_OPS,
    FEATURES,
    V128,
    Signature,
    expand_type,
    signature,
)

if TYPE_CHECKING:
    from asyncpy.binaryen.module import Module


@dataclass
class BodyFacts:
    """What the call-graph analysis needs from one function body."""
    calls: list[str] = field(default_factory=list)          # direct, in order of first call
    return_calls: list[str] = field(default_factory=list)   # return_call targets, the same
    indirect: list[tuple[str, Signature, bool]] = field(default_factory=list)  # (table, sig, is_return)
    call_refs: list[tuple[Signature | None, bool]] = field(default_factory=list)
    ref_funcs: list[str] = field(default_factory=list)
    table_writes: list[str] = field(default_factory=list)
    has_try: bool = False
    node_count: int = 0
    # Expression kinds and unary ops present. The native scan hands out one
    # shared frozenset per distinct set (CUE: ~150 among 24k functions;
    # a set per function was 31 MB).
    kinds: Set[int] = field(default_factory=set)
    unary_ops: Set[int] = field(default_factory=set)
    v128: bool = False                                # a v128 constant or load


def scan_body(body) -> BodyFacts:
    """One pass over an expression tree collecting call-graph facts. It
    runs on every node of the module, so everything it tests per node is a
    local variable, and leaves (half the nodes) leave early. The native
    walker does the same in C when it is available (asyncpy.binaryen.native).
    """
    from asyncpy.binaryen import native
    if native.available():
        return native.scan(body)
    return scan_body_python(body)


def scan_body_python(body) -> BodyFacts:
    """scan_body's Python walk: the fallback, and the tests' reference."""
    facts = BodyFacts()
    if body == NULL:
        return facts
    get_id = _lib.BinaryenExpressionGetId
    get_type = _lib.BinaryenExpressionGetType
    single_tab, var_tab = _SINGLE, _VARIADIC
    K = Kind
    k_unary, k_const, k_load, k_ref_func, k_table_set, k_table_grow = (
        K.Unary, K.Const, K.Load, K.RefFunc, K.TableSet, K.TableGrow)
    k_call, k_call_indirect, k_call_ref, k_try = K.Call, K.CallIndirect, K.CallRef, K.Try
    unary_op = _lib.BinaryenUnaryGetOp
    call_target, call_is_return = _lib.BinaryenCallGetTarget, _lib.BinaryenCallIsReturn
    string = _ffi.string
    null = NULL
    stack = [body]
    pop, push, extend = stack.pop, stack.append, stack.extend
    n = 0
    kinds: set[int] = set()
    unary_ops: set[int] = set()
    facts.kinds, facts.unary_ops = kinds, unary_ops
    add_kind, add_unary = kinds.add, unary_ops.add
    while stack:
        e = pop()
        n += 1
        k = get_id(e)
        add_kind(k)
        single = single_tab.get(k)
        if single is not None:
            if k == k_unary:
                add_unary(unary_op(e))
            elif (k == k_const or k == k_load) and get_type(e) == V128:
                facts.v128 = True
            for g in single:
                c = g(e)
                if c != null:
                    push(c)
            if k == k_ref_func:
                facts.ref_funcs.append(string(_lib.BinaryenRefFuncGetFunc(e)).decode())
            elif k == k_table_set:
                facts.table_writes.append(string(_lib.BinaryenTableSetGetTable(e)).decode())
            elif k == k_table_grow:
                facts.table_writes.append(string(_lib.BinaryenTableGrowGetTable(e)).decode())
            continue
        var = var_tab.get(k)
        if var is not None:
            count, at, after = var
            extend([at(e, i) for i in range(count(e))])
            for g in after:
                push(g(e))
            if k == k_call:
                name = string(call_target(e)).decode()
                (facts.return_calls if call_is_return(e) else facts.calls).append(name)
            elif k == k_call_indirect:
                sig = signature(_lib.BinaryenCallIndirectGetParams(e), _lib.BinaryenCallIndirectGetResults(e))
                facts.indirect.append((string(_lib.BinaryenCallIndirectGetTable(e)).decode(), sig,
                                       bool(_lib.BinaryenCallIndirectIsReturn(e))))
            elif k == k_call_ref:
                facts.call_refs.append((call_ref_signature(e), bool(_lib.BinaryenCallRefIsReturn(e))))
            continue
        if k == k_try:
            facts.has_try = True
            extend(_try_children(e))
            continue
        raise UnsupportedExpression(KIND_NAMES.get(k, f"expression kind {k}"))
    facts.node_count = n
    facts.calls = list(dict.fromkeys(facts.calls))
    facts.return_calls = list(dict.fromkeys(facts.return_calls))
    return facts


def detect_features(module: Module, bodies: list[BodyFacts], infos=None) -> set[str]:
    """The features a module uses, from its code, types and sections, plus
    any it declares in a target_features section. Binaryen's writer encodes
    some constructs differently when a feature is on, and wasmtime rejects
    modules written with every feature enabled, so the output declares
    exactly these (and mutable-globals, which `--export-globals` needs).
    `infos` is module.functions(), when the caller has read it already."""
    found = {name for name, bit in FEATURES.items() if module.features & bit}
    found.add("mutable-globals")
    kinds: set[int] = set()
    unary: set[int] = set()
    for f in bodies:
        kinds |= f.kinds
        unary |= f.unary_ops
        if f.v128:
            found.add("simd")
        if f.return_calls or any(r for _, _, r in f.indirect) or any(r for _, r in f.call_refs):
            found.add("tail-call")
    if unary & _SIGN_EXT_OPS:
        found.add("sign-ext")
    if unary & _SPLAT_OPS:
        found.add("simd")
    if unary & _SAT_TRUNC_OPS:
        found.add("nontrapping-float-to-int")
    K = Kind
    simd_kinds = {K.SIMDExtract, K.SIMDReplace, K.SIMDShuffle, K.SIMDTernary, K.SIMDShift,
                  K.SIMDLoad, K.SIMDLoadStoreLane}
    if kinds & simd_kinds:
        found.add("simd")
    if kinds & {K.MemoryCopy, K.MemoryFill, K.MemoryInit, K.DataDrop}:
        found.add("bulk-memory")
    if kinds & {K.AtomicRMW, K.AtomicCmpxchg, K.AtomicWait, K.AtomicNotify, K.AtomicFence}:
        found.add("threads")
    if kinds & {K.Try, K.Throw, K.Rethrow}:
        found.add("exception-handling")
    if kinds & {K.TupleMake, K.TupleExtract}:
        found.add("multivalue")
    if kinds & {K.RefNull, K.RefIsNull, K.RefFunc, K.RefEq, K.RefAs, K.TableGet, K.TableSet,
                K.TableSize, K.TableGrow, K.CallRef}:
        found.add("reference-types")
    if _lib.BinaryenGetNumTables(module.ref) > 1:
        found.add("reference-types")
    # Offsets and initialisers with arithmetic (extended-const): Binaryen's
    # validator rejects them unless the feature is on.
    binary = Kind.Binary
    extended = module.data_extended_const
    for i in range(_lib.BinaryenGetNumElementSegments(module.ref)):
        seg = _lib.BinaryenGetElementSegmentByIndex(module.ref, i)
        if _lib.BinaryenElementSegmentIsPassive(seg):
            found.update(("bulk-memory", "reference-types"))
        else:
            offset = _lib.BinaryenElementSegmentGetOffset(seg)
            extended = extended or (offset != NULL and _lib.BinaryenExpressionGetId(offset) == binary)
    for i in range(_lib.BinaryenGetNumGlobals(module.ref)):
        init = _lib.BinaryenGlobalGetInitExpr(_lib.BinaryenGetGlobalByIndex(module.ref, i))
        extended = extended or (init != NULL and _lib.BinaryenExpressionGetId(init) == binary)
    if extended:
        found.add("extended-const")
    flags = module.memory_flags
    if flags is None and _lib.BinaryenHasMemory(module.ref):
        flags = [(4 if _lib.BinaryenMemoryIs64(module.ref, NULL) else 0)
                 | (2 if _lib.BinaryenMemoryIsShared(module.ref, NULL) else 0)]
    for flag in flags or ():
        if flag & 4:
            found.add("memory64")
        if flag & 2:
            found.add("threads")
    if flags and len(flags) > 1:
        found.add("multimemory")
    for info in module.functions() if infos is None else infos:
        for t in info.params + info.results:
            _note_type(t, found)
        if len(info.results) > 1:
            found.add("multivalue")
        if not info.imported:
            for t in function_locals(module.function_ref(info.name))[1]:
                _note_type(t, found)
    for i in range(_lib.BinaryenGetNumGlobals(module.ref)):
        _note_type(_lib.BinaryenGlobalGetType(_lib.BinaryenGetGlobalByIndex(module.ref, i)), found)
    return found


def _note_type(t: int, found: set[str]) -> None:
    if t == V128:
        found.add("simd")
    elif t not in _BASIC_NAMES:
        parts = expand_type(t)
        if len(parts) > 1:
            found.add("multivalue")
            for p in parts:
                _note_type(p, found)
        else:
            found.add("reference-types")
