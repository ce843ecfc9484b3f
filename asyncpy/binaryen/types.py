"""Value types and features: Binaryen's type handles, their sizes and names,
tuple types, and the feature bits a module is read and written with."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from asyncpy.binaryen.library import _ffi, _lib

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


@dataclass(frozen=True)
class Signature:
    """A function type as plain data: the names of its parameter and result
    types. Reference types are named precisely (nullability and heap type),
    so that two signatures are equal exactly when Binaryen's are; `name`,
    what reports print, calls every reference type `ref`."""
    params: tuple[str, ...]
    results: tuple[str, ...]

    @property
    def name(self) -> str:
        def show(ts: tuple[str, ...]) -> str:
            return ", ".join("ref" if t.startswith("ref") else t for t in ts)
        return f"({show(self.params)}) -> ({show(self.results)})"


def _value_type_key(t: int) -> str:
    name = _BASIC_NAMES.get(t)
    if name is not None:
        return name
    # A reference type: Binaryen's heap types are canonical (one handle per
    # type, stable in a forked worker too), so the handle names it exactly.
    null = "null " if _lib.BinaryenTypeIsNullable(t) else ""
    return f"ref {null}{_lib.BinaryenTypeGetHeapType(t):#x}"


@cache
def signature(params: int, results: int) -> Signature:
    """The `Signature` of a (params, results) pair of Binaryen types."""
    return Signature(tuple(_value_type_key(t) for t in expand_type(params)),
                     tuple(_value_type_key(t) for t in expand_type(results)))


def signature_of_heap_type(ht: int) -> Signature | None:
    if not _lib.BinaryenHeapTypeIsSignature(ht):
        return None
    return signature(_lib.BinaryenSignatureTypeGetParams(ht), _lib.BinaryenSignatureTypeGetResults(ht))


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
