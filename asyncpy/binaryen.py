"""The one layer that talks to libbinaryen (116, bundled in `icpp-binaryen`).

Everything above this module speaks wasm: names, value types, expression
kinds. Everything cffi (pointers, C strings, the process-global pass
arguments) stays here.

Two rules keep libbinaryen from killing the process, since its reader and
validator call `Fatal()` (exit) on input they cannot handle:

* a module reaches `Module.read` only after wasmtime's validator accepted
  it (see `asyncpy.loader`);
* validation output from Binaryen goes to the process's stdout, so callers
  that need it quiet use `quiet()`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cffi import FFI

from asyncpy._cdef import CDEF

_ffi = FFI()
_ffi.cdef(CDEF)


def _library_path() -> str:
    import icpp_binaryen  # only for its location: we load the library ourselves

    return str(Path(icpp_binaryen.__file__).parent / "lib" / "libbinaryen.so")


_lib = _ffi.dlopen(_library_path())
_lib.BinaryenSetColorsEnabled(False)
NULL = _ffi.NULL

# ---------------------------------------------------------------------------
# Value types

NONE = _lib.BinaryenTypeNone()
I32 = _lib.BinaryenTypeInt32()
I64 = _lib.BinaryenTypeInt64()
F32 = _lib.BinaryenTypeFloat32()
F64 = _lib.BinaryenTypeFloat64()
V128 = _lib.BinaryenTypeVec128()
UNREACHABLE = _lib.BinaryenTypeUnreachable()
AUTO = _lib.BinaryenTypeAuto()

_BASIC_NAMES = {NONE: "none", I32: "i32", I64: "i64", F32: "f32", F64: "f64",
                V128: "v128", UNREACHABLE: "unreachable"}
VALUE_SIZE = {I32: 4, I64: 8, F32: 4, F64: 8, V128: 16}


def expand_type(t: int) -> tuple[int, ...]:
    """The components of a (possibly tuple) type; () for none."""
    if t == NONE:
        return ()
    n = _lib.BinaryenTypeArity(t)
    if n == 1:
        return (t,)
    buf = _ffi.new("BinaryenType[]", n)
    _lib.BinaryenTypeExpand(t, buf)
    return tuple(buf)


def make_type(components) -> int:
    components = list(components)
    if not components:
        return NONE
    if len(components) == 1:
        return components[0]
    return _lib.BinaryenTypeCreate(_ffi.new("BinaryenType[]", components), len(components))


def type_name(t: int) -> str:
    name = _BASIC_NAMES.get(t)
    if name is not None:
        return name
    parts = expand_type(t)
    if len(parts) > 1:
        return "(" + " ".join(type_name(p) for p in parts) + ")"
    return "ref"


def is_reference(t: int) -> bool:
    return t not in _BASIC_NAMES and _lib.BinaryenTypeArity(t) == 1


def signature_of_heap_type(ht: int) -> tuple[int, int] | None:
    if not _lib.BinaryenHeapTypeIsSignature(ht):
        return None
    return (_lib.BinaryenSignatureTypeGetParams(ht), _lib.BinaryenSignatureTypeGetResults(ht))


def call_ref_signature(expr) -> tuple[int, int] | None:
    target = _lib.BinaryenCallRefGetTarget(expr)
    return signature_of_heap_type(_lib.BinaryenTypeGetHeapType(_lib.BinaryenExpressionGetType(target)))


# ---------------------------------------------------------------------------
# Features

FEATURES = {
    "sign-ext": _lib.BinaryenFeatureSignExt(),
    "mutable-globals": _lib.BinaryenFeatureMutableGlobals(),
    "nontrapping-float-to-int": _lib.BinaryenFeatureNontrappingFPToInt(),
    "bulk-memory": _lib.BinaryenFeatureBulkMemory(),
    "simd": _lib.BinaryenFeatureSIMD128(),
    "relaxed-simd": _lib.BinaryenFeatureRelaxedSIMD(),
    "multivalue": _lib.BinaryenFeatureMultivalue(),
    "reference-types": _lib.BinaryenFeatureReferenceTypes(),
    "threads": _lib.BinaryenFeatureAtomics(),
    "exception-handling": _lib.BinaryenFeatureExceptionHandling(),
    "tail-call": _lib.BinaryenFeatureTailCall(),
    "memory64": _lib.BinaryenFeatureMemory64(),
    "multimemory": _lib.BinaryenFeatureMultiMemory(),
    "extended-const": _lib.BinaryenFeatureExtendedConst(),
    "gc": _lib.BinaryenFeatureGC(),
    "strings": _lib.BinaryenFeatureStrings(),
}
FEATURES_ALL = _lib.BinaryenFeatureAll()


_SIGN_EXT_OPS = frozenset(getattr(_lib, f"Binaryen{o}")() for o in (
    "ExtendS8Int32", "ExtendS16Int32", "ExtendS8Int64", "ExtendS16Int64", "ExtendS32Int64"))
_SAT_TRUNC_OPS = frozenset(getattr(_lib, f"Binaryen{o}")() for o in (
    "TruncSatSFloat32ToInt32", "TruncSatSFloat32ToInt64", "TruncSatSFloat64ToInt32",
    "TruncSatSFloat64ToInt64", "TruncSatUFloat32ToInt32", "TruncSatUFloat32ToInt64",
    "TruncSatUFloat64ToInt32", "TruncSatUFloat64ToInt64"))


# A v128 value has to come from somewhere: a v128 local, constant or load, a
# SIMD-kind expression, or one of these (unary, so only the op tells).
_SPLAT_OPS = frozenset(getattr(_lib, f"Binaryen{o}")() for o in (
    "SplatVecI8x16", "SplatVecI16x8", "SplatVecI32x4", "SplatVecI64x2", "SplatVecF32x4", "SplatVecF64x2"))


def feature_mask(names) -> int:
    mask = _lib.BinaryenFeatureMVP()
    for n in names:
        mask |= FEATURES[n]
    return mask


# ---------------------------------------------------------------------------
# Expression kinds

class Kind:
    """Expression ids, named. Values come from the library at import time."""


for _name in ("Nop Block If Loop Break Switch Call CallIndirect LocalGet LocalSet "
              "GlobalGet GlobalSet Load Store AtomicRMW AtomicCmpxchg AtomicWait "
              "AtomicNotify AtomicFence SIMDExtract SIMDReplace SIMDShuffle SIMDTernary "
              "SIMDShift SIMDLoad SIMDLoadStoreLane MemoryInit DataDrop MemoryCopy "
              "MemoryFill Const Unary Binary Select Drop Return MemorySize MemoryGrow "
              "Unreachable Pop RefNull RefIsNull RefFunc RefEq RefAs TableGet TableSet "
              "TableSize TableGrow Try Throw Rethrow TupleMake TupleExtract CallRef").split():
    setattr(Kind, _name, getattr(_lib, f"Binaryen{_name}Id")())

KIND_NAMES = {v: k for k, v in vars(Kind).items() if not k.startswith("_")}


def _single(*getters):
    return tuple(getattr(_lib, g) for g in getters)


# Children in evaluation order, for every kind we understand. Variadic kinds
# (block, call...) are listed in _VARIADIC with their count/at getters and
# the single children evaluated *after* the list (call_indirect's target).
_SINGLE: dict[int, tuple] = {
    Kind.Nop: (), Kind.LocalGet: (), Kind.GlobalGet: (), Kind.Const: (),
    Kind.Unreachable: (), Kind.MemorySize: (), Kind.AtomicFence: (), Kind.DataDrop: (),
    Kind.Pop: (), Kind.RefNull: (), Kind.RefFunc: (), Kind.TableSize: (), Kind.Rethrow: (),
    Kind.If: _single("BinaryenIfGetCondition", "BinaryenIfGetIfTrue", "BinaryenIfGetIfFalse"),
    Kind.Loop: _single("BinaryenLoopGetBody"),
    Kind.Break: _single("BinaryenBreakGetValue", "BinaryenBreakGetCondition"),
    Kind.Switch: _single("BinaryenSwitchGetValue", "BinaryenSwitchGetCondition"),
    Kind.LocalSet: _single("BinaryenLocalSetGetValue"),
    Kind.GlobalSet: _single("BinaryenGlobalSetGetValue"),
    Kind.Load: _single("BinaryenLoadGetPtr"),
    Kind.Store: _single("BinaryenStoreGetPtr", "BinaryenStoreGetValue"),
    Kind.AtomicRMW: _single("BinaryenAtomicRMWGetPtr", "BinaryenAtomicRMWGetValue"),
    Kind.AtomicCmpxchg: _single("BinaryenAtomicCmpxchgGetPtr", "BinaryenAtomicCmpxchgGetExpected",
                                "BinaryenAtomicCmpxchgGetReplacement"),
    Kind.AtomicWait: _single("BinaryenAtomicWaitGetPtr", "BinaryenAtomicWaitGetExpected",
                             "BinaryenAtomicWaitGetTimeout"),
    Kind.AtomicNotify: _single("BinaryenAtomicNotifyGetPtr", "BinaryenAtomicNotifyGetNotifyCount"),
    Kind.SIMDExtract: _single("BinaryenSIMDExtractGetVec"),
    Kind.SIMDReplace: _single("BinaryenSIMDReplaceGetVec", "BinaryenSIMDReplaceGetValue"),
    Kind.SIMDShuffle: _single("BinaryenSIMDShuffleGetLeft", "BinaryenSIMDShuffleGetRight"),
    Kind.SIMDTernary: _single("BinaryenSIMDTernaryGetA", "BinaryenSIMDTernaryGetB", "BinaryenSIMDTernaryGetC"),
    Kind.SIMDShift: _single("BinaryenSIMDShiftGetVec", "BinaryenSIMDShiftGetShift"),
    Kind.SIMDLoad: _single("BinaryenSIMDLoadGetPtr"),
    Kind.SIMDLoadStoreLane: _single("BinaryenSIMDLoadStoreLaneGetPtr", "BinaryenSIMDLoadStoreLaneGetVec"),
    Kind.MemoryInit: _single("BinaryenMemoryInitGetDest", "BinaryenMemoryInitGetOffset", "BinaryenMemoryInitGetSize"),
    Kind.MemoryCopy: _single("BinaryenMemoryCopyGetDest", "BinaryenMemoryCopyGetSource", "BinaryenMemoryCopyGetSize"),
    Kind.MemoryFill: _single("BinaryenMemoryFillGetDest", "BinaryenMemoryFillGetValue", "BinaryenMemoryFillGetSize"),
    Kind.Unary: _single("BinaryenUnaryGetValue"),
    Kind.Binary: _single("BinaryenBinaryGetLeft", "BinaryenBinaryGetRight"),
    Kind.Select: _single("BinaryenSelectGetIfTrue", "BinaryenSelectGetIfFalse", "BinaryenSelectGetCondition"),
    Kind.Drop: _single("BinaryenDropGetValue"),
    Kind.Return: _single("BinaryenReturnGetValue"),
    Kind.MemoryGrow: _single("BinaryenMemoryGrowGetDelta"),
    Kind.RefIsNull: _single("BinaryenRefIsNullGetValue"),
    Kind.RefAs: _single("BinaryenRefAsGetValue"),
    Kind.RefEq: _single("BinaryenRefEqGetLeft", "BinaryenRefEqGetRight"),
    Kind.TableGet: _single("BinaryenTableGetGetIndex"),
    Kind.TableSet: _single("BinaryenTableSetGetIndex", "BinaryenTableSetGetValue"),
    Kind.TableGrow: _single("BinaryenTableGrowGetValue", "BinaryenTableGrowGetDelta"),
    Kind.TupleExtract: _single("BinaryenTupleExtractGetTuple"),
}
_VARIADIC: dict[int, tuple] = {
    Kind.Block: (_lib.BinaryenBlockGetNumChildren, _lib.BinaryenBlockGetChildAt, ()),
    Kind.Call: (_lib.BinaryenCallGetNumOperands, _lib.BinaryenCallGetOperandAt, ()),
    Kind.CallIndirect: (_lib.BinaryenCallIndirectGetNumOperands, _lib.BinaryenCallIndirectGetOperandAt,
                        _single("BinaryenCallIndirectGetTarget")),
    Kind.CallRef: (_lib.BinaryenCallRefGetNumOperands, _lib.BinaryenCallRefGetOperandAt,
                   _single("BinaryenCallRefGetTarget")),
    Kind.Throw: (_lib.BinaryenThrowGetNumOperands, _lib.BinaryenThrowGetOperandAt, ()),
    Kind.TupleMake: (_lib.BinaryenTupleMakeGetNumOperands, _lib.BinaryenTupleMakeGetOperandAt, ()),
}


def _setter_table():
    from asyncpy._cdef import CHILD_SETTERS
    table = {}
    for entry in CHILD_SETTERS:
        kind, names = entry.split(":")
        table[getattr(Kind, kind)] = tuple(
            (getattr(_lib, f"Binaryen{kind}Get{c}"), getattr(_lib, f"Binaryen{kind}Set{c}"))
            for c in names.split(","))
    return table


_SETTERS = _setter_table()
_INDEXED_SETTERS = {
    Kind.Block: _lib.BinaryenBlockSetChildAt, Kind.Call: _lib.BinaryenCallSetOperandAt,
    Kind.CallIndirect: _lib.BinaryenCallIndirectSetOperandAt, Kind.CallRef: _lib.BinaryenCallRefSetOperandAt,
    Kind.Throw: _lib.BinaryenThrowSetOperandAt, Kind.TupleMake: _lib.BinaryenTupleMakeSetOperandAt,
}


def set_children(e, new_kids) -> None:
    """Replace the children of `e` (same order and count as `children(e)`)
    in place, then recompute its type. Keeping the node keeps its opcode,
    immediates and debug location exactly."""
    k = _lib.BinaryenExpressionGetId(e)
    slots = []
    var = _VARIADIC.get(k)
    if var is not None:
        count = var[0](e)
        at = _INDEXED_SETTERS[k]
        slots.extend((lambda e, c, i=i: at(e, i, c)) for i in range(count))
    for get, set_ in _SETTERS.get(k, ()):
        if get(e) != NULL:
            slots.append(set_)
    if len(slots) != len(new_kids):
        raise UnsupportedExpression(f"cannot rewrite {KIND_NAMES.get(k, k)}")
    for set_, c in zip(slots, new_kids):
        set_(e, c)
    _lib.BinaryenExpressionFinalize(e)


def _try_children(e):
    out = [_lib.BinaryenTryGetBody(e)]
    for i in range(_lib.BinaryenTryGetNumCatchBodies(e)):
        out.append(_lib.BinaryenTryGetCatchBodyAt(e, i))
    return out


class UnsupportedExpression(Exception):
    """An expression kind outside what asyncpy understands (GC, strings...)."""


def children(e) -> list:
    """Children of `e` in evaluation order (absent optional children left out)."""
    k = _lib.BinaryenExpressionGetId(e)
    single = _SINGLE.get(k)
    if single is not None:
        out = [g(e) for g in single]
        return [c for c in out if c != NULL]
    var = _VARIADIC.get(k)
    if var is not None:
        count, at, after = var
        out = [at(e, i) for i in range(count(e))]
        out.extend(g(e) for g in after)
        return out
    if k == Kind.Try:
        return _try_children(e)
    raise UnsupportedExpression(KIND_NAMES.get(k, f"expression kind {k}"))


def cstr(p) -> str | None:
    return None if p == NULL else _ffi.string(p).decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# Function facts, for the call-graph analysis

@dataclass
class BodyFacts:
    """What the call-graph analysis needs from one function body."""
    calls: list[str] = field(default_factory=list)          # direct, in order, may repeat
    return_calls: list[str] = field(default_factory=list)   # return_call targets
    indirect: list[tuple[str, tuple[int, int], bool]] = field(default_factory=list)  # (table, sig, is_return)
    call_refs: list[tuple[tuple[int, int] | None, bool]] = field(default_factory=list)
    ref_funcs: list[str] = field(default_factory=list)
    table_writes: list[str] = field(default_factory=list)
    has_try: bool = False
    node_count: int = 0
    kinds: set[int] = field(default_factory=set)     # expression kinds present
    unary_ops: set[int] = field(default_factory=set)
    v128: bool = False                                # a v128 constant or load


def scan_body(body) -> BodyFacts:
    """One pass over an expression tree collecting call-graph facts. It
    runs on every node of the module, so everything it tests per node is a
    local variable, and leaves (half the nodes) leave early."""
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
    kinds, unary_ops = facts.kinds, facts.unary_ops
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
                sig = (_lib.BinaryenCallIndirectGetParams(e), _lib.BinaryenCallIndirectGetResults(e))
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
    return facts


# ---------------------------------------------------------------------------
# Modules

@dataclass(frozen=True)
class FunctionInfo:
    name: str
    params: tuple[int, ...]
    results: tuple[int, ...]
    import_module: str | None
    import_base: str | None

    @property
    def imported(self) -> bool:
        return self.import_module is not None

    @property
    def signature(self) -> tuple[int, int]:
        return (make_type(self.params), make_type(self.results))


@dataclass(frozen=True)
class TableInfo:
    name: str
    imported: bool


@dataclass(frozen=True)
class SegmentInfo:
    table: str | None          # None for passive segments
    functions: tuple[str, ...]


@dataclass(frozen=True)
class ExportInfo:
    name: str
    kind: str                  # "function" | "table" | "memory" | "global" | "tag"
    value: str


_EXPORT_KINDS = {
    _lib.BinaryenExternalFunction(): "function",
    _lib.BinaryenExternalTable(): "table",
    _lib.BinaryenExternalMemory(): "memory",
    _lib.BinaryenExternalGlobal(): "global",
    _lib.BinaryenExternalTag(): "tag",
}


class BinaryenError(Exception):
    pass


class Module:
    """A Binaryen module we own; dispose() (or `with`) frees it."""

    memory_flags: list[int] | None = None   # per memory, from the binary (see loader.memory_flags)

    def __init__(self, ref):
        if ref == NULL:
            raise BinaryenError("Binaryen could not read the module")
        self.ref = ref

    # -- life cycle
    @classmethod
    def read(cls, data: bytes, features: int | None = None) -> "Module":
        from asyncpy.loader import memory_flags

        buf = _ffi.from_buffer("char[]", data)
        with quiet():  # the reader warns on stderr about name subsections it skips
            m = cls(_lib.BinaryenModuleRead(buf, len(data)))
        m.memory_flags = memory_flags(data)
        if features is not None:
            m.features = features
        return m

    @classmethod
    def parse_text(cls, text: str) -> "Module":
        _pool_may_start()
        return cls(_lib.BinaryenModuleParse(text.encode()))

    def dispose(self) -> None:
        if self.ref is not None:
            _lib.BinaryenModuleDispose(self.ref)
            self.ref = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.dispose()

    # -- whole-module operations
    @property
    def features(self) -> int:
        return _lib.BinaryenModuleGetFeatures(self.ref)

    @features.setter
    def features(self, mask: int) -> None:
        _lib.BinaryenModuleSetFeatures(self.ref, mask)

    def validate(self) -> bool:
        _pool_may_start()
        with quiet():
            return bool(_lib.BinaryenModuleValidate(self.ref))

    def write(self, *, names: bool = True) -> bytes:
        """The module as a binary; `names` keeps the name section (Binaryen
        writes it only in its debug-info mode)."""
        _pool_may_start()
        _lib.BinaryenSetDebugInfo(names)
        res = _lib.BinaryenModuleAllocateAndWrite(self.ref, NULL)
        try:
            return bytes(_ffi.buffer(res.binary, res.binaryBytes))
        finally:
            _lib.free(res.binary)
            if res.sourceMap != NULL:
                _lib.free(res.sourceMap)

    def text(self) -> str:
        _pool_may_start()
        p = _lib.BinaryenModuleAllocateAndWriteText(self.ref)
        try:
            return _ffi.string(p).decode("utf-8", "replace")
        finally:
            _lib.free(p)

    def run_passes(self, passes, *, optimize: int = 2, shrink: int = 0,
                   args: dict[str, str] | None = None, debug_info: bool = False) -> None:
        """Run named Binaryen passes. Pass arguments are process-global in
        libbinaryen, so they are set for this call only and cleared after."""
        _pool_may_start()
        _lib.BinaryenSetOptimizeLevel(optimize)
        _lib.BinaryenSetShrinkLevel(shrink)
        _lib.BinaryenSetDebugInfo(debug_info)
        _lib.BinaryenClearPassArguments()
        try:
            for k, v in (args or {}).items():
                _lib.BinaryenSetPassArgument(k.encode(), v.encode())
            names = [_ffi.new("char[]", p.encode()) for p in passes]
            arr = _ffi.new("const char*[]", names)
            _lib.BinaryenModuleRunPasses(self.ref, arr, len(names))
        finally:
            _lib.BinaryenClearPassArguments()

    def optimize(self, level: int, shrink: int) -> None:
        """Binaryen's default pipeline at -O<level> (shrink 1 = -Os, 2 = -Oz)."""
        _pool_may_start()
        _lib.BinaryenSetOptimizeLevel(level)
        _lib.BinaryenSetShrinkLevel(shrink)
        _lib.BinaryenSetDebugInfo(True)
        _lib.BinaryenClearPassArguments()
        _lib.BinaryenModuleOptimize(self.ref)

    def run_named_passes(self, passes, args: dict[str, str], options: "PassOptions") -> None:
        """Run passes by name, in order, with wasm-opt's global pass options
        and pass arguments (both process-global in libbinaryen: set for this
        call, arguments cleared after)."""
        _pool_may_start()
        options.apply()
        _lib.BinaryenClearPassArguments()
        try:
            for k, v in args.items():
                _lib.BinaryenSetPassArgument(k.encode(), v.encode())
            names = [_ffi.new("char[]", p.encode()) for p in passes]
            arr = _ffi.new("const char*[]", names)
            _lib.BinaryenModuleRunPasses(self.ref, arr, len(names))
        finally:
            _lib.BinaryenClearPassArguments()

    def run_default_pipeline(self, args: dict[str, str] | None = None) -> None:
        """Binaryen's default pipeline at the levels already set
        (PassOptions.apply), with these pass arguments."""
        _pool_may_start()
        _lib.BinaryenClearPassArguments()
        try:
            for k, v in (args or {}).items():
                _lib.BinaryenSetPassArgument(k.encode(), v.encode())
            _lib.BinaryenModuleOptimize(self.ref)
        finally:
            _lib.BinaryenClearPassArguments()

    def optimize_functions(self, names, options: "PassOptions") -> None:
        """Binaryen's default function pipeline on some functions (what its
        asyncify pass runs on the functions it instrumented)."""
        _pool_may_start()
        options.apply()
        for name in names:
            f = _lib.BinaryenGetFunction(self.ref, name.encode())
            if f != NULL:
                _lib.BinaryenFunctionOptimize(f, self.ref)

    def write_with_map(self, *, names: bool, source_map_url: str | None) -> tuple[bytes, str | None]:
        """The binary and, when `source_map_url` is given, the source map
        libbinaryen writes beside it (with a sourceMappingURL section)."""
        _pool_may_start()
        _lib.BinaryenSetDebugInfo(names)
        url = _ffi.new("char[]", source_map_url.encode()) if source_map_url is not None else NULL
        res = _lib.BinaryenModuleAllocateAndWrite(self.ref, url)
        try:
            smap = _ffi.string(res.sourceMap).decode() if res.sourceMap != NULL else None
            return bytes(_ffi.buffer(res.binary, res.binaryBytes)), smap
        finally:
            _lib.free(res.binary)
            if res.sourceMap != NULL:
                _lib.free(res.sourceMap)

    def run_function_passes(self, func_name: str, passes, *, optimize: int = 2, shrink: int = 0) -> None:
        _pool_may_start()
        _lib.BinaryenSetOptimizeLevel(optimize)
        _lib.BinaryenSetShrinkLevel(shrink)
        names = [_ffi.new("char[]", p.encode()) for p in passes]
        arr = _ffi.new("const char*[]", names)
        f = _lib.BinaryenGetFunction(self.ref, func_name.encode())
        _lib.BinaryenFunctionRunPasses(f, self.ref, arr, len(names))

    # -- contents
    def functions(self) -> list[FunctionInfo]:
        out = []
        for i in range(_lib.BinaryenGetNumFunctions(self.ref)):
            f = _lib.BinaryenGetFunctionByIndex(self.ref, i)
            mod = cstr(_lib.BinaryenFunctionImportGetModule(f))
            base = cstr(_lib.BinaryenFunctionImportGetBase(f))
            imported = bool(mod) or bool(base)
            out.append(FunctionInfo(
                name=cstr(_lib.BinaryenFunctionGetName(f)),
                params=expand_type(_lib.BinaryenFunctionGetParams(f)),
                results=expand_type(_lib.BinaryenFunctionGetResults(f)),
                import_module=mod if imported else None,
                import_base=base if imported else None,
            ))
        return out

    def function_ref(self, name: str):
        f = _lib.BinaryenGetFunction(self.ref, name.encode())
        if f == NULL:
            raise KeyError(name)
        return f

    def scan_function(self, name: str) -> BodyFacts:
        return scan_body(_lib.BinaryenFunctionGetBody(self.function_ref(name)))

    def scan_functions(self, names: list[str]) -> list[BodyFacts]:
        return [self.scan_function(n) for n in names]

    def functions_touching_global(self, global_name: str) -> list[str]:
        """Defined functions that read or write the named global."""
        get, gget, gset = _lib.BinaryenExpressionGetId, Kind.GlobalGet, Kind.GlobalSet
        out = []
        for info in self.functions():
            if info.imported:
                continue
            stack = [_lib.BinaryenFunctionGetBody(self.function_ref(info.name))]
            while stack:
                e = stack.pop()
                k = get(e)
                if k == gget:
                    name = _lib.BinaryenGlobalGetGetName(e)
                elif k == gset:
                    name = _lib.BinaryenGlobalSetGetName(e)
                else:
                    stack.extend(children(e))
                    continue
                if _ffi.string(name).decode() == global_name:
                    out.append(info.name)
                    break
                stack.extend(children(e))
        return out

    def global_init_ref_funcs(self) -> list[str]:
        """Functions whose reference escapes through a global's initializer."""
        out = []
        for i in range(_lib.BinaryenGetNumGlobals(self.ref)):
            g = _lib.BinaryenGetGlobalByIndex(self.ref, i)
            init = _lib.BinaryenGlobalGetInitExpr(g)
            if init != NULL:
                out.extend(scan_body(init).ref_funcs)
        return out

    def tables(self) -> list[TableInfo]:
        out = []
        for i in range(_lib.BinaryenGetNumTables(self.ref)):
            t = _lib.BinaryenGetTableByIndex(self.ref, i)
            out.append(TableInfo(name=cstr(_lib.BinaryenTableGetName(t)),
                                 imported=bool(cstr(_lib.BinaryenTableImportGetModule(t)))))
        return out

    def element_segments(self) -> list[SegmentInfo]:
        out = []
        for i in range(_lib.BinaryenGetNumElementSegments(self.ref)):
            s = _lib.BinaryenGetElementSegmentByIndex(self.ref, i)
            passive = bool(_lib.BinaryenElementSegmentIsPassive(s))
            funcs = []
            for j in range(_lib.BinaryenElementSegmentGetLength(s)):
                name = cstr(_lib.BinaryenElementSegmentGetData(s, j))
                if name:
                    funcs.append(name)
            out.append(SegmentInfo(table=None if passive else cstr(_lib.BinaryenElementSegmentGetTable(s)),
                                   functions=tuple(funcs)))
        return out

    def exports(self) -> list[ExportInfo]:
        out = []
        for i in range(_lib.BinaryenGetNumExports(self.ref)):
            e = _lib.BinaryenGetExportByIndex(self.ref, i)
            out.append(ExportInfo(name=cstr(_lib.BinaryenExportGetName(e)),
                                  kind=_EXPORT_KINDS.get(_lib.BinaryenExportGetKind(e), "other"),
                                  value=cstr(_lib.BinaryenExportGetValue(e))))
        return out


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


# ---------------------------------------------------------------------------
# Whole-function trees, for the transform

class Node:
    """One expression of a function body, read into Python once.

    `kids` are in evaluation order. `index` is the local of a local.get/set,
    `name` the label of a block/loop, the target of a break, or the callee
    of a call; `names` the targets of a br_table. The transform annotates
    `lo`/`hi` (the pause sites in this subtree) and `site` in place.
    Defaults live on the class: most nodes only ever set `ref` and `kind`.
    """
    kids = ()
    index = -1
    name = None
    names = None
    tee = False
    site = False
    lo = 0
    hi = -1

    def __init__(self, ref, kind):
        self.ref = ref
        self.kind = kind

    @property
    def type(self) -> int:
        return _lib.BinaryenExpressionGetType(self.ref)


def read_tree(func_ref, order: list | None = None) -> Node:
    """Read a function body into `Node`s (iteratively: bodies nest deeply).
    With `order`, every node is also appended to it, parents before their
    children and later siblings before earlier ones: reversed, that is the
    evaluation order (post-order), so a caller can annotate the tree bottom
    up in one loop instead of walking it again.

    This runs on every node of every instrumented function (millions on a
    big Go program), so it is written for speed: the child getters are
    looked up once per kind, and leaves, the commonest nodes, take the
    shortest path."""
    body = _lib.BinaryenFunctionGetBody(func_ref)
    get_id = _lib.BinaryenExpressionGetId
    string = _ffi.string
    single_tab, var_tab = _SINGLE, _VARIADIC
    K = Kind
    local_get, local_set, block, loop, brk, switch, call = (
        K.LocalGet, K.LocalSet, K.Block, K.Loop, K.Break, K.Switch, K.Call)
    local_get_index = _lib.BinaryenLocalGetGetIndex
    null = NULL
    root = Node(body, get_id(body))
    stack = [root]
    pop, push = stack.pop, stack.append
    record = order.append if order is not None else (lambda n: None)
    while stack:
        n = pop()
        record(n)
        e, k = n.ref, n.kind
        single = single_tab.get(k)
        if single is not None:
            if not single:
                if k == local_get:
                    n.index = local_get_index(e)
                continue
            kids = []
            for g in single:
                c = g(e)
                if c != null:
                    child = Node(c, get_id(c))
                    kids.append(child)
                    push(child)
            n.kids = kids
            if k == local_set:
                n.index = _lib.BinaryenLocalSetGetIndex(e)
                n.tee = bool(_lib.BinaryenLocalSetIsTee(e))
            elif k == loop:
                p = _lib.BinaryenLoopGetName(e)
                n.name = None if p == null else string(p).decode()
            elif k == brk:
                n.name = string(_lib.BinaryenBreakGetName(e)).decode()
            elif k == switch:
                n.names = [string(_lib.BinaryenSwitchGetNameAt(e, i)).decode()
                           for i in range(_lib.BinaryenSwitchGetNumNames(e))]
                n.name = string(_lib.BinaryenSwitchGetDefaultName(e)).decode()
            continue
        var = var_tab.get(k)
        if var is not None:
            count, at, after = var
            kids = [Node(c, get_id(c)) for c in [at(e, i) for i in range(count(e))]]
            for g in after:
                c = g(e)
                kids.append(Node(c, get_id(c)))
            n.kids = kids
            stack.extend(kids)
            if k == block:
                p = _lib.BinaryenBlockGetName(e)
                n.name = None if p == null else string(p).decode()
            elif k == call:
                n.name = string(_lib.BinaryenCallGetTarget(e)).decode()
            continue
        if k == K.Try:
            kids = [Node(c, get_id(c)) for c in _try_children(e)]
            n.kids = kids
            stack.extend(kids)
            continue
        raise UnsupportedExpression(KIND_NAMES.get(k, f"expression kind {k}"))
    return root


def side_effects(module: "Module", ref) -> int:
    return _lib.BinaryenExpressionGetSideEffects(ref, module.ref)


EFFECT_READS_LOCAL = _lib.BinaryenSideEffectReadsLocal()
EFFECT_READS_GLOBAL = _lib.BinaryenSideEffectReadsGlobal()
EFFECT_WRITES_GLOBAL = _lib.BinaryenSideEffectWritesGlobal()
EFFECT_CALLS = _lib.BinaryenSideEffectCalls()


class Builder:
    """Makes expressions in one module. Thin: names and Python values in,
    expression refs out."""

    def __init__(self, module: "Module"):
        self.m = module.ref
        # C strings must outlive the call that takes them. The same few
        # names (labels, globals, helpers) recur in every function, so each
        # is made once: a big module needs hundreds of thousands.
        self._names: dict[str, object] = {}

    def _s(self, s: str | None):
        if s is None:
            return NULL
        b = self._names.get(s)
        if b is None:
            b = self._names[s] = _ffi.new("char[]", s.encode())
        return b

    def block(self, name, kids, type_=AUTO):
        arr = _ffi.new("BinaryenExpressionRef[]", kids)
        return _lib.BinaryenBlock(self.m, self._s(name), arr, len(kids), type_)

    def if_(self, cond, then, else_=NULL):
        return _lib.BinaryenIf(self.m, cond, then, else_)

    def loop(self, name, body):
        return _lib.BinaryenLoop(self.m, self._s(name), body)

    def br(self, name, cond=NULL, value=NULL):
        return _lib.BinaryenBreak(self.m, self._s(name), cond, value)

    def switch(self, names, default, condition, value=NULL):
        arr = _ffi.new("const char*[]", [self._s(n) for n in names])
        return _lib.BinaryenSwitch(self.m, arr, len(names), self._s(default), condition, value)

    def call(self, target, operands, result_type):
        arr = _ffi.new("BinaryenExpressionRef[]", operands)
        return _lib.BinaryenCall(self.m, self._s(target), arr, len(operands), result_type)

    def local_get(self, index, type_):
        return _lib.BinaryenLocalGet(self.m, index, type_)

    def local_set(self, index, value):
        return _lib.BinaryenLocalSet(self.m, index, value)

    def global_get(self, name, type_):
        return _lib.BinaryenGlobalGet(self.m, self._s(name), type_)

    def global_set(self, name, value):
        return _lib.BinaryenGlobalSet(self.m, self._s(name), value)

    def load(self, type_, ptr, offset=0, memory=None):
        size = VALUE_SIZE[type_]
        return _lib.BinaryenLoad(self.m, size, False, offset, min(size, 8) if type_ != V128 else 16,
                                 type_, ptr, self._s(memory))

    def store(self, type_, ptr, value, offset=0, memory=None):
        size = VALUE_SIZE[type_]
        return _lib.BinaryenStore(self.m, size, offset, min(size, 8) if type_ != V128 else 16,
                                  ptr, value, type_, self._s(memory))

    def const(self, type_: int, raw: bytes):
        """A constant of `type_` whose little-endian bytes are `raw`."""
        lit = _ffi.new("struct BinaryenLiteral*")
        lit.type = type_
        _ffi.memmove(lit.bytes, raw, len(raw))
        return _lib.BinaryenConst(self.m, lit[0])

    def i32(self, v):
        return self.const(I32, (v & 0xFFFFFFFF).to_bytes(4, "little"))

    def i64(self, v):
        return self.const(I64, (v & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))

    def zero(self, type_):
        """The zero value of a value type (tuples by component; refs are null)."""
        size = VALUE_SIZE.get(type_)
        if size is not None:
            return self.const(type_, bytes(size))
        parts = expand_type(type_)
        if len(parts) > 1:
            return self.tuple_make([self.zero(p) for p in parts])
        return _lib.BinaryenRefNull(self.m, type_)

    def tuple_make(self, items):
        arr = _ffi.new("BinaryenExpressionRef[]", items)
        return _lib.BinaryenTupleMake(self.m, arr, len(items))

    def tuple_extract(self, value, index):
        return _lib.BinaryenTupleExtract(self.m, value, index)

    def unary(self, op, value):
        return _lib.BinaryenUnary(self.m, op, value)

    def binary(self, op, left, right):
        return _lib.BinaryenBinary(self.m, op, left, right)

    def select(self, cond, if_true, if_false, type_):
        return _lib.BinaryenSelect(self.m, cond, if_true, if_false, type_)

    def drop(self, value):
        return _lib.BinaryenDrop(self.m, value)

    def return_(self, value=NULL):
        return _lib.BinaryenReturn(self.m, value)

    def nop(self):
        return _lib.BinaryenNop(self.m)

    def unreachable(self):
        return _lib.BinaryenUnreachable(self.m)


class Op:
    """Operators the transform builds."""
    add32 = _lib.BinaryenAddInt32()
    sub32 = _lib.BinaryenSubInt32()
    add64 = _lib.BinaryenAddInt64()
    sub64 = _lib.BinaryenSubInt64()
    eq32 = _lib.BinaryenEqInt32()
    ne32 = _lib.BinaryenNeInt32()
    eqz32 = _lib.BinaryenEqZInt32()
    le_u32 = _lib.BinaryenLeUInt32()
    gt_u32 = _lib.BinaryenGtUInt32()
    gt_u64 = _lib.BinaryenGtUInt64()
    extend_u32 = _lib.BinaryenExtendUInt32()


def function_locals(func_ref) -> tuple[list[int], list[int]]:
    """(param types, var types) of a function."""
    params = list(expand_type(_lib.BinaryenFunctionGetParams(func_ref)))
    vars_ = [_lib.BinaryenFunctionGetVar(func_ref, i) for i in range(_lib.BinaryenFunctionGetNumVars(func_ref))]
    return params, vars_


def local_names(func_ref) -> dict[int, str]:
    out = {}
    for i in range(_lib.BinaryenFunctionGetNumLocals(func_ref)):
        if _lib.BinaryenFunctionHasLocalName(func_ref, i):
            out[i] = _ffi.string(_lib.BinaryenFunctionGetLocalName(func_ref, i)).decode()
    return out


def replace_function(module: "Module", name: str, var_types: list[int], body, names: dict[int, str]) -> None:
    """Give function `name` a new body and locals. Binaryen 116 has no C call
    to add a local, so the function is removed and added again under the same
    name (expressions belong to the module, not the function, so the body
    survives). Exports, tables and calls refer to it by name."""
    f = module.function_ref(name)
    params = _lib.BinaryenFunctionGetParams(f)
    results = _lib.BinaryenFunctionGetResults(f)
    _lib.BinaryenRemoveFunction(module.ref, name.encode())
    arr = _ffi.new("BinaryenType[]", var_types)
    nf = _lib.BinaryenAddFunction(module.ref, name.encode(), params, results, arr, len(var_types), body)
    for i, n in names.items():
        _lib.BinaryenFunctionSetLocalName(nf, i, n.encode())


def function_results(module: "Module", name: str) -> int:
    return _lib.BinaryenFunctionGetResults(module.function_ref(name))


def add_global(module: "Module", name: str, type_: int, mutable: bool, init) -> None:
    _lib.BinaryenAddGlobal(module.ref, name.encode(), type_, mutable, init)


def add_global_import(module: "Module", name: str, mod: str, base: str, type_: int, mutable: bool) -> None:
    _lib.BinaryenAddGlobalImport(module.ref, name.encode(), mod.encode(), base.encode(), type_, mutable)


def has_global(module: "Module", name: str) -> bool:
    return _lib.BinaryenGetGlobal(module.ref, name.encode()) != NULL


def add_function(module: "Module", name: str, params, results, var_types, body) -> None:
    arr = _ffi.new("BinaryenType[]", list(var_types))
    _lib.BinaryenAddFunction(module.ref, name.encode(), make_type(params), make_type(results),
                             arr, len(var_types), body)


def add_function_export(module: "Module", internal: str, external: str) -> None:
    _lib.BinaryenAddFunctionExport(module.ref, internal.encode(), external.encode())


def add_global_export(module: "Module", internal: str, external: str) -> None:
    _lib.BinaryenAddGlobalExport(module.ref, internal.encode(), external.encode())


def remove_function(module: "Module", name: str) -> None:
    _lib.BinaryenRemoveFunction(module.ref, name.encode())


def has_memory(module: "Module") -> bool:
    return bool(_lib.BinaryenHasMemory(module.ref))


def memory_count(module: "Module") -> int:
    if module.memory_flags is not None:
        return len(module.memory_flags)
    return 1 if _lib.BinaryenHasMemory(module.ref) else 0


def memory_is_64(module: "Module", name: str | None = None) -> bool:
    """With name=None, the module's only memory (Binaryen resolves a null
    name only when there is exactly one: callers check memory_count)."""
    if name is None and memory_count(module) != 1:
        raise ValueError("memory_is_64 needs a name when a module has several memories")
    return bool(_lib.BinaryenMemoryIs64(module.ref, NULL if name is None else name.encode()))


def detect_features(module: Module, bodies: list[BodyFacts]) -> set[str]:
    """The features a module uses, from its code, types and sections, plus
    any it declares in a target_features section. Binaryen's writer encodes
    some constructs differently when a feature is on, and wasmtime rejects
    modules written with every feature enabled, so the output declares
    exactly these (and mutable-globals, which `--export-globals` needs)."""
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
    for i in range(_lib.BinaryenGetNumElementSegments(module.ref)):
        if _lib.BinaryenElementSegmentIsPassive(_lib.BinaryenGetElementSegmentByIndex(module.ref, i)):
            found.update(("bulk-memory", "reference-types"))
    flags = module.memory_flags
    if flags is None and _lib.BinaryenHasMemory(module.ref):
        flags = [(4 if _lib.BinaryenMemoryIs64(module.ref, NULL) else 0)
                 | (2 if _lib.BinaryenMemoryIsShared(module.ref, NULL) else 0)]
    for f in flags or ():
        if f & 4:
            found.add("memory64")
        if f & 2:
            found.add("threads")
    if flags and len(flags) > 1:
        found.add("multimemory")
    for info in module.functions():
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


def with_added_memory(module: Module, name: str, pages: int, export: str, init: bytes) -> Module:
    """A copy of `module` with one more memory `name` (defined, exported,
    initialised with `init` at address 0), placed after the existing ones so
    that no memory index changes. Code may already refer to `name`.

    Binaryen 116's C API can only *replace* memories (BinaryenSetMemory), so
    the copy goes through Binaryen's own printer and parser. A placeholder
    import of `name` is added first: with two memories the printer names
    the memory of every load and store, which it omits when there is one."""
    _lib.BinaryenAddMemoryImport(module.ref, name.encode(), b"asyncpy-placeholder", name.encode(), 0)
    text = module.text()
    placeholder = re.search(r'\n \(import "asyncpy-placeholder" [^\n]*\n', text)
    text = text[:placeholder.start() + 1] + text[placeholder.end():]
    escaped = "".join(f"\\{b:02x}" for b in init)
    decl = (f' (memory ${name} {pages} {pages})\n'
            f' (data ${name}_init (memory ${name}) (i32.const 0) "{escaped}")\n'
            f' (export "{export}" (memory ${name}))\n')
    last = None
    for m in re.finditer(r'\n \((?:memory|import "[^"]*" "[^"]*" \(memory) [^\n]*\n', text):
        last = m
    cut = last.end() if last else text.index("\n", text.index("(module")) + 1
    copy = Module.parse_text(text[:cut] + decl + text[cut:])
    copy.features = module.features | FEATURES["multimemory"]
    return copy


# ---------------------------------------------------------------------------
# Linking: copying functions and globals from one module into another
# (asyncpy.link). Binaryen 116 cannot merge modules; it can copy an
# expression into another module's arena, after which the names it refers
# to (callees, globals, tables, memories) are rewritten for its new home.

_LINK_NAMES: list = []  # C strings handed to Binaryen setters: kept alive


def _keep(s: str):
    b = _ffi.new("char[]", s.encode())
    _LINK_NAMES.append(b)
    return b


@dataclass(frozen=True)
class GlobalInfo:
    name: str
    type: int
    mutable: bool
    import_module: str | None
    import_base: str | None

    @property
    def imported(self) -> bool:
        return self.import_module is not None


def module_globals(module: Module) -> list[GlobalInfo]:
    out = []
    for i in range(_lib.BinaryenGetNumGlobals(module.ref)):
        g = _lib.BinaryenGetGlobalByIndex(module.ref, i)
        mod = cstr(_lib.BinaryenGlobalImportGetModule(g))
        out.append(GlobalInfo(cstr(_lib.BinaryenGlobalGetName(g)), _lib.BinaryenGlobalGetType(g),
                              bool(_lib.BinaryenGlobalIsMutable(g)), mod or None,
                              cstr(_lib.BinaryenGlobalImportGetBase(g)) if mod else None))
    return out


def copy_expression(expr, dst: Module, functions: dict[str, str], globals_: dict[str, str],
                    table: str | None):
    """Copy `expr` (of another module) into `dst`: callees, ref.func and
    globals renamed through the maps (names not in them stay), every
    call_indirect moved to `table`, and memory accesses rebuilt on `dst`'s
    default memory (the C API cannot rename a memory; wasm32 only).
    Returns the new root."""
    root = _lib.BinaryenExpressionCopy(expr, dst.ref)
    return _relink(root, dst, functions, globals_, table)


def _relink(e, dst: Module, functions, globals_, table):
    K = Kind
    kids = children(e)
    if kids:
        new = [_relink(c, dst, functions, globals_, table) for c in kids]
        if any(a != b for a, b in zip(new, kids)):
            set_children(e, new)
    k = _lib.BinaryenExpressionGetId(e)
    if k == K.Call:
        t = functions.get(cstr(_lib.BinaryenCallGetTarget(e)))
        if t is not None:
            _lib.BinaryenCallSetTarget(e, _keep(t))
    elif k == K.RefFunc:
        t = functions.get(cstr(_lib.BinaryenRefFuncGetFunc(e)))
        if t is not None:
            _lib.BinaryenRefFuncSetFunc(e, _keep(t))
    elif k == K.GlobalGet or k == K.GlobalSet:
        getter = _lib.BinaryenGlobalGetGetName if k == K.GlobalGet else _lib.BinaryenGlobalSetGetName
        t = globals_.get(cstr(getter(e)))
        if t is not None:
            (_lib.BinaryenGlobalGetSetName if k == K.GlobalGet else _lib.BinaryenGlobalSetSetName)(e, _keep(t))
    elif k == K.CallIndirect and table is not None:
        _lib.BinaryenCallIndirectSetTable(e, _keep(table))
    elif k == K.Load:
        if _lib.BinaryenLoadIsAtomic(e):
            raise UnsupportedExpression("atomic load in linked code")
        return _lib.BinaryenLoad(dst.ref, _lib.BinaryenLoadGetBytes(e), _lib.BinaryenLoadIsSigned(e),
                                 _lib.BinaryenLoadGetOffset(e), _lib.BinaryenLoadGetAlign(e),
                                 _lib.BinaryenExpressionGetType(e), _lib.BinaryenLoadGetPtr(e), NULL)
    elif k == K.Store:
        if _lib.BinaryenStoreIsAtomic(e):
            raise UnsupportedExpression("atomic store in linked code")
        return _lib.BinaryenStore(dst.ref, _lib.BinaryenStoreGetBytes(e), _lib.BinaryenStoreGetOffset(e),
                                  _lib.BinaryenStoreGetAlign(e), _lib.BinaryenStoreGetPtr(e),
                                  _lib.BinaryenStoreGetValue(e), _lib.BinaryenStoreGetValueType(e), NULL)
    elif k == K.MemorySize:
        return _lib.BinaryenMemorySize(dst.ref, NULL, False)
    elif k == K.MemoryGrow:
        return _lib.BinaryenMemoryGrow(dst.ref, _lib.BinaryenMemoryGrowGetDelta(e), NULL, False)
    elif k in (K.MemoryFill, K.MemoryCopy, K.MemoryInit, K.DataDrop, K.SIMDLoad, K.SIMDLoadStoreLane,
               K.AtomicRMW, K.AtomicCmpxchg, K.AtomicWait, K.AtomicNotify):
        raise UnsupportedExpression(f"{KIND_NAMES[k]} in linked code")
    return e


def copy_function(src: Module, name: str, dst: Module, new_name: str, functions: dict[str, str],
                  globals_: dict[str, str], table: str | None) -> None:
    """Add to `dst` a copy of `src`'s defined function `name`, as `new_name`."""
    f = src.function_ref(name)
    params, vars_ = function_locals(f)
    body = copy_expression(_lib.BinaryenFunctionGetBody(f), dst, functions, globals_, table)
    arr = _ffi.new("BinaryenType[]", vars_)
    nf = _lib.BinaryenAddFunction(dst.ref, _keep(new_name), _lib.BinaryenFunctionGetParams(f),
                                  _lib.BinaryenFunctionGetResults(f), arr, len(vars_), body)
    for i, n in local_names(f).items():
        _lib.BinaryenFunctionSetLocalName(nf, i, _keep(n))


def global_init(module: Module, name: str):
    return _lib.BinaryenGlobalGetInitExpr(_lib.BinaryenGetGlobal(module.ref, name.encode()))


def add_function_import(module: Module, internal: str, mod: str, base: str, params, results) -> None:
    _lib.BinaryenAddFunctionImport(module.ref, _keep(internal), _keep(mod), _keep(base),
                                   make_type(params), make_type(results))


def remove_export(module: Module, external: str) -> None:
    _lib.BinaryenRemoveExport(module.ref, external.encode())


def add_table(module: Module, name: str, initial: int) -> None:
    _lib.BinaryenAddTable(module.ref, _keep(name), initial, initial, _lib.BinaryenTypeFuncref())


def append_to_table(module: Module, table: str, funcs: list[str]) -> int:
    """Place `funcs` in `table` after its current initial size (growing the
    size and, if needed, the maximum) with a new active segment; returns the
    index of the first."""
    t = _lib.BinaryenGetTable(module.ref, table.encode())
    base = _lib.BinaryenTableGetInitial(t)
    if not funcs:
        return base
    size = base + len(funcs)
    _lib.BinaryenTableSetInitial(t, size)
    if _lib.BinaryenTableHasMax(t) and _lib.BinaryenTableGetMax(t) < size:
        _lib.BinaryenTableSetMax(t, size)
    names = [_keep(f) for f in funcs]
    arr = _ffi.new("const char*[]", names)
    b = Builder(module)
    _lib.BinaryenAddActiveElementSegment(module.ref, _keep(table), _keep(f"asyncpy.rt.elem.{base}"),
                                         arr, len(names), b.i32(base))
    return base


def add_table_export(module: Module, internal: str, external: str) -> None:
    _lib.BinaryenAddTableExport(module.ref, _keep(internal), _keep(external))


# ---------------------------------------------------------------------------
# Small questions about one expression, so that callers need no cffi

def expression_type(ref) -> int:
    return _lib.BinaryenExpressionGetType(ref)


def is_return_call(ref) -> bool:
    """For a call, call_indirect or call_ref: is it a tail call?"""
    k = _lib.BinaryenExpressionGetId(ref)
    f = {Kind.Call: _lib.BinaryenCallIsReturn, Kind.CallIndirect: _lib.BinaryenCallIndirectIsReturn,
         Kind.CallRef: _lib.BinaryenCallRefIsReturn}[k]
    return bool(f(ref))


def break_has_condition(ref) -> bool:
    return _lib.BinaryenBreakGetCondition(ref) != NULL


def call_indirect_site(ref) -> tuple[str | None, tuple[int, int]]:
    """(table, (params, results)) of a call_indirect."""
    sig = (_lib.BinaryenCallIndirectGetParams(ref), _lib.BinaryenCallIndirectGetResults(ref))
    return cstr(_lib.BinaryenCallIndirectGetTable(ref)), sig


def const_i32(ref) -> int | None:
    """The value of an i32.const, else None."""
    if _lib.BinaryenExpressionGetId(ref) != Kind.Const or _lib.BinaryenExpressionGetType(ref) != I32:
        return None
    return _lib.BinaryenConstGetValueI32(ref)


# ---------------------------------------------------------------------------
# wasm-opt's global pass options and pass names

@dataclass
class PassOptions:
    """The options wasm-opt keeps for all passes of a run (PassOptions in
    Binaryen); libbinaryen holds them in process globals."""
    optimize: int = 0
    shrink: int = 0
    low_memory_unused: bool = False
    zero_filled_memory: bool = False
    fast_math: bool = False
    debug_info: bool = False

    def apply(self) -> None:
        _lib.BinaryenSetOptimizeLevel(self.optimize)
        _lib.BinaryenSetShrinkLevel(self.shrink)
        _lib.BinaryenSetLowMemoryUnused(self.low_memory_unused)
        _lib.BinaryenSetZeroFilledMemory(self.zero_filled_memory)
        _lib.BinaryenSetFastMath(self.fast_math)
        _lib.BinaryenSetDebugInfo(self.debug_info)


_KNOWN_PASSES: set[str] = set()


def unknown_passes(names) -> list[str]:
    """The names libbinaryen has no pass for. The C API has no query for
    the registry (PassRegistry is C++ only) and an unknown name makes
    BinaryenModuleRunPasses call Fatal(), so each name is tried on an empty
    module in a forked child, which reports every name it survived; a
    death with "Could not find pass" marks the name it died on as unknown
    (any other death, a pass that needs more than an empty module, means
    the name exists)."""
    todo = [n for n in dict.fromkeys(names) if n not in _KNOWN_PASSES]
    unknown: list[str] = []
    while todo:
        rd, wr = os.pipe()
        erd, ewr = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                os.close(rd)
                os.close(erd)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(ewr, 2)
                for n in todo:
                    m = _lib.BinaryenModuleCreate()
                    c = _ffi.new("char[]", n.encode())
                    arr = _ffi.new("const char*[]", [c])
                    _lib.BinaryenModuleRunPasses(m, arr, 1)
                    _lib.BinaryenModuleDispose(m)
                    os.write(wr, n.encode() + b"\n")
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(wr)
        os.close(ewr)
        acked = _read_all(rd).decode().split("\n")[:-1]
        err = _read_all(erd).decode("utf-8", "replace")
        os.waitpid(pid, 0)
        _KNOWN_PASSES.update(acked)
        todo = todo[len(acked):]
        if not todo:
            break
        failed = todo.pop(0)
        if "Could not find pass" in err or "unrecognized pass" in err.lower():
            unknown.append(failed)
        else:
            _KNOWN_PASSES.add(failed)
    return unknown


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks)


# ---------------------------------------------------------------------------
# Handing functions between processes (asyncpy.parallel; issue 12)
#
# A forked child shares the parent's module copy-on-write, so it can
# instrument some functions while the parent does the others; it hands its
# functions back as a binary the parent reads, and their bodies are copied
# into the parent's module. One hazard: a child cannot use anything that
# waits for Binaryen's thread pool (the writer does) if the parent had
# started that pool, since fork copies only the calling thread; it would
# wait forever. So every call that may start the pool is noted here, and
# fork_safe() says whether a child may still write.

_pool_started = False


def _pool_may_start() -> None:
    global _pool_started
    _pool_started = True


def fork_safe() -> bool:
    """True while this process has not started Binaryen's thread pool."""
    return not _pool_started


def functions_binary(module: Module, keep: list[str]) -> bytes:
    """The module as a binary (names kept) in which only the defined
    functions `keep` have their bodies; the others become `unreachable`, so
    the binary is smaller and quicker to read. Changes `module`: meant for a
    forked child's copy, which is thrown away."""
    keep_set = set(keep)
    m = module.ref
    for i in range(_lib.BinaryenGetNumFunctions(m)):
        f = _lib.BinaryenGetFunctionByIndex(m, i)
        if _lib.BinaryenFunctionImportGetModule(f) != NULL or _lib.BinaryenFunctionImportGetBase(f) != NULL:
            continue
        if _ffi.string(_lib.BinaryenFunctionGetName(f)).decode() not in keep_set:
            _lib.BinaryenFunctionSetBody(f, _lib.BinaryenUnreachable(m))
    return module.write(names=True)


def adopt_functions(module: Module, data: bytes, names: list[str]) -> None:
    """Give the functions `names` of `module` the bodies, locals and local
    names they have in `data` (from functions_binary on a copy of `module`:
    the same functions, globals, tables and memories by name). Bodies are
    copied into `module`'s arena by Binaryen, in C++."""
    src = Module.read(data, features=module.features)
    try:
        for name in names:
            f = src.function_ref(name)
            _, vars_ = function_locals(f)
            body = _lib.BinaryenExpressionCopy(_lib.BinaryenFunctionGetBody(f), module.ref)
            replace_function(module, name, vars_, body, local_names(f))
    finally:
        src.dispose()
