"""Binaryen expressions as Python sees them.

`Kind` names the expression ids; `read_tree` reads a function body into a
tree of `Node`s in one walk (children in evaluation order); `children` and
`set_children` are the generic accessors; the small functions at the end
answer per-expression questions (call targets, signatures, constants)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from asyncpy.binaryen.library import NULL, _ffi, _lib, cstr
from asyncpy.binaryen.types import (
    AUTO,
    I32,
    NONE,
    UNREACHABLE,
    Signature,
    expand_type,
    signature,
    signature_of_heap_type,
)
from asyncpy.errors import UnsupportedError

if TYPE_CHECKING:
    from asyncpy.binaryen.module import Module


def call_ref_signature(expr) -> Signature | None:
    target = _lib.BinaryenCallRefGetTarget(expr)
    return signature_of_heap_type(_lib.BinaryenTypeGetHeapType(_lib.BinaryenExpressionGetType(target)))


class Kind:
    """Expression ids, named. The values are the library's, read at import
    time (Binaryen numbers its ids itself). Plain typed int constants, not an
    IntEnum: the transform compares kinds per node, and an enum member's
    attribute access costs ~4x a class attribute's on Python 3.11."""
    Nop: Final[int] = _lib.BinaryenNopId()
    Block: Final[int] = _lib.BinaryenBlockId()
    If: Final[int] = _lib.BinaryenIfId()
    Loop: Final[int] = _lib.BinaryenLoopId()
    Break: Final[int] = _lib.BinaryenBreakId()
    Switch: Final[int] = _lib.BinaryenSwitchId()
    Call: Final[int] = _lib.BinaryenCallId()
    CallIndirect: Final[int] = _lib.BinaryenCallIndirectId()
    LocalGet: Final[int] = _lib.BinaryenLocalGetId()
    LocalSet: Final[int] = _lib.BinaryenLocalSetId()
    GlobalGet: Final[int] = _lib.BinaryenGlobalGetId()
    GlobalSet: Final[int] = _lib.BinaryenGlobalSetId()
    Load: Final[int] = _lib.BinaryenLoadId()
    Store: Final[int] = _lib.BinaryenStoreId()
    AtomicRMW: Final[int] = _lib.BinaryenAtomicRMWId()
    AtomicCmpxchg: Final[int] = _lib.BinaryenAtomicCmpxchgId()
    AtomicWait: Final[int] = _lib.BinaryenAtomicWaitId()
    AtomicNotify: Final[int] = _lib.BinaryenAtomicNotifyId()
    AtomicFence: Final[int] = _lib.BinaryenAtomicFenceId()
    SIMDExtract: Final[int] = _lib.BinaryenSIMDExtractId()
    SIMDReplace: Final[int] = _lib.BinaryenSIMDReplaceId()
    SIMDShuffle: Final[int] = _lib.BinaryenSIMDShuffleId()
    SIMDTernary: Final[int] = _lib.BinaryenSIMDTernaryId()
    SIMDShift: Final[int] = _lib.BinaryenSIMDShiftId()
    SIMDLoad: Final[int] = _lib.BinaryenSIMDLoadId()
    SIMDLoadStoreLane: Final[int] = _lib.BinaryenSIMDLoadStoreLaneId()
    MemoryInit: Final[int] = _lib.BinaryenMemoryInitId()
    DataDrop: Final[int] = _lib.BinaryenDataDropId()
    MemoryCopy: Final[int] = _lib.BinaryenMemoryCopyId()
    MemoryFill: Final[int] = _lib.BinaryenMemoryFillId()
    Const: Final[int] = _lib.BinaryenConstId()
    Unary: Final[int] = _lib.BinaryenUnaryId()
    Binary: Final[int] = _lib.BinaryenBinaryId()
    Select: Final[int] = _lib.BinaryenSelectId()
    Drop: Final[int] = _lib.BinaryenDropId()
    Return: Final[int] = _lib.BinaryenReturnId()
    MemorySize: Final[int] = _lib.BinaryenMemorySizeId()
    MemoryGrow: Final[int] = _lib.BinaryenMemoryGrowId()
    Unreachable: Final[int] = _lib.BinaryenUnreachableId()
    Pop: Final[int] = _lib.BinaryenPopId()
    RefNull: Final[int] = _lib.BinaryenRefNullId()
    RefIsNull: Final[int] = _lib.BinaryenRefIsNullId()
    RefFunc: Final[int] = _lib.BinaryenRefFuncId()
    RefEq: Final[int] = _lib.BinaryenRefEqId()
    RefAs: Final[int] = _lib.BinaryenRefAsId()
    TableGet: Final[int] = _lib.BinaryenTableGetId()
    TableSet: Final[int] = _lib.BinaryenTableSetId()
    TableSize: Final[int] = _lib.BinaryenTableSizeId()
    TableGrow: Final[int] = _lib.BinaryenTableGrowId()
    Try: Final[int] = _lib.BinaryenTryId()
    Throw: Final[int] = _lib.BinaryenThrowId()
    Rethrow: Final[int] = _lib.BinaryenRethrowId()
    TupleMake: Final[int] = _lib.BinaryenTupleMakeId()
    TupleExtract: Final[int] = _lib.BinaryenTupleExtractId()
    CallRef: Final[int] = _lib.BinaryenCallRefId()


KIND_NAMES: dict[int, str] = {v: k for k, v in vars(Kind).items() if not k.startswith("_")}


def _shape_tables() -> tuple[dict[int, tuple], dict[int, tuple]]:
    """Children in evaluation order, for every kind we understand, from the
    one shape table in _cdef: _SINGLE maps a kind to its single-child
    getters; _VARIADIC (block, call...) to its count/at getters and the
    single children evaluated *after* the list (call_indirect's target)."""
    from asyncpy.binaryen._cdef import CHILD_SETTERS, LEAF_KINDS, VARIADIC_KINDS
    single: dict[int, tuple] = {getattr(Kind, k): () for k in LEAF_KINDS}
    named = {}
    for entry in CHILD_SETTERS:
        kind, kids = entry.split(":")
        named[kind] = tuple(getattr(_lib, f"Binaryen{kind}Get{c}") for c in kids.split(","))
    variadic: dict[int, tuple] = {}
    for entry in VARIADIC_KINDS:
        kind, spec = entry.split(":")
        count, at = spec.split(",")
        variadic[getattr(Kind, kind)] = (getattr(_lib, f"Binaryen{kind}GetNum{count}"),
                                         getattr(_lib, f"Binaryen{kind}Get{at}"), named.pop(kind, ()))
    single.update((getattr(Kind, k), g) for k, g in named.items())
    return single, variadic


_SINGLE, _VARIADIC = _shape_tables()


def _setter_table():
    from asyncpy.binaryen._cdef import CHILD_SETTERS
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
    var = _VARIADIC.get(k)
    i = 0
    if var is not None:
        count = var[0](e)
        if count > len(new_kids):
            raise UnsupportedExpression(f"cannot rewrite {KIND_NAMES.get(k, k)}")
        at = _INDEXED_SETTERS[k]
        for i in range(count):
            at(e, i, new_kids[i])
        i = count
    for get, set_ in _SETTERS.get(k, ()):
        if get(e) != NULL:
            if i >= len(new_kids):
                raise UnsupportedExpression(f"cannot rewrite {KIND_NAMES.get(k, k)}")
            set_(e, new_kids[i])
            i += 1
    if i != len(new_kids):
        raise UnsupportedExpression(f"cannot rewrite {KIND_NAMES.get(k, k)}")
    _lib.BinaryenExpressionFinalize(e)


def refill_block(block, old: Sequence, new: Sequence, type_: int) -> None:
    """Give `block`, whose children are `old`, the children `new` and the
    type `type_`, exactly as `Builder.block(name, new, type_)` would build
    it, but in place: a rewritten spine keeps most of its blocks, and a new
    node for each would cost memory (about 80 bytes each, hundreds of
    thousands on a big Go program) and a call per child. Only the positions
    that changed are written. `type_` is AUTO (computed) or the block's own
    type."""
    n_old, n_new = len(old), len(new)
    changed = False
    for i in range(min(n_old, n_new)):
        if new[i] != old[i]:
            _lib.BinaryenBlockSetChildAt(block, i, new[i])
            changed = True
    for i in range(n_old, n_new):
        _lib.BinaryenBlockAppendChild(block, new[i])
        changed = True
    for i in range(n_old - 1, n_new - 1, -1):
        _lib.BinaryenBlockRemoveChildAt(block, i)
        changed = True
    if type_ == AUTO:
        _lib.BinaryenExpressionFinalize(block)
    elif type_ == NONE and changed and any(
            _lib.BinaryenExpressionGetType(c) == UNREACHABLE for c in new):
        # What the builder's finalize(none) does: a block of type none with
        # an unreachable child and no branch to it is unreachable. With the
        # type given, finalize() computes exactly that (no branch carries a
        # value to a block of type none), only after a walk for branches.
        _lib.BinaryenExpressionFinalize(block)
    else:
        _lib.BinaryenExpressionSetType(block, type_)


def _try_children(e):
    out = [_lib.BinaryenTryGetBody(e)]
    for i in range(_lib.BinaryenTryGetNumCatchBodies(e)):
        out.append(_lib.BinaryenTryGetCatchBodyAt(e, i))
    return out


class UnsupportedExpression(UnsupportedError):
    """An expression kind outside what asyncpy understands (GC, strings...).
    `what` names it; the message is the line the user sees."""

    def __init__(self, what: str) -> None:
        super().__init__(what)      # args stay (what,): the exception pickles back from a worker
        self.what = what

    def __str__(self) -> str:
        return (f"unsupported expression kind: {self.what} (asyncpy handles core wasm with SIMD, "
                "bulk memory, reference types and multi-value)")


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


class Node:
    """One expression of a function body, read into Python once.

    `kids` are in evaluation order. `index` is the local of a local.get/set,
    `name` the label of a block/loop, the target of a break, or the callee
    of a call; `names` the targets of a br_table. The transform annotates
    `lo`/`hi` (the pause sites in this subtree) and `site` in place.
    Defaults live on the class: most nodes only ever set `ref` and `kind`.
    """
    kids: Sequence[Node] = ()
    index: int = -1
    name: str | None = None
    names: list[str] | None = None
    tee: bool = False
    site: bool = False
    lo: int = 0
    hi: int = -1
    rec: int = -1       # record number from the native walker (asyncpy.binaryen.native)

    def __init__(self, ref: Any, kind: int) -> None:
        self.ref = ref      # the BinaryenExpressionRef (see the note in asyncpy.transform)
        self.kind = kind

    @property
    def type(self) -> int:
        return _lib.BinaryenExpressionGetType(self.ref)


def bump_i32_const(func_ref) -> bool:
    """Add one to the first i32.const of a function's body (depth first):
    the smallest edit of a program, for the rebuild benchmark. False when
    the body has none."""
    stack = [_lib.BinaryenFunctionGetBody(func_ref)]
    const, i32 = _lib.BinaryenConstId(), _lib.BinaryenTypeInt32()
    while stack:
        e = stack.pop()
        if _lib.BinaryenExpressionGetId(e) == const and _lib.BinaryenExpressionGetType(e) == i32:
            _lib.BinaryenConstSetValueI32(e, _lib.BinaryenConstGetValueI32(e) + 1)
            return True
        stack.extend(reversed(children(e)))
    return False


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


def side_effects(module: Module, ref) -> int:
    return _lib.BinaryenExpressionGetSideEffects(ref, module.ref)


EFFECT_READS_LOCAL = _lib.BinaryenSideEffectReadsLocal()


EFFECT_READS_GLOBAL = _lib.BinaryenSideEffectReadsGlobal()


EFFECT_WRITES_GLOBAL = _lib.BinaryenSideEffectWritesGlobal()


EFFECT_CALLS = _lib.BinaryenSideEffectCalls()


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
    vars_ = [_lib.BinaryenFunctionGetVar(func_ref, i)
             for i in range(_lib.BinaryenFunctionGetNumVars(func_ref))]
    return params, vars_


def local_names(func_ref) -> dict[int, str]:
    out = {}
    for i in range(_lib.BinaryenFunctionGetNumLocals(func_ref)):
        if _lib.BinaryenFunctionHasLocalName(func_ref, i):
            out[i] = _ffi.string(_lib.BinaryenFunctionGetLocalName(func_ref, i)).decode()
    return out


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


def call_indirect_site(ref) -> tuple[str | None, Signature]:
    """(table, signature) of a call_indirect."""
    sig = signature(_lib.BinaryenCallIndirectGetParams(ref), _lib.BinaryenCallIndirectGetResults(ref))
    return cstr(_lib.BinaryenCallIndirectGetTable(ref)), sig


def const_i32(ref) -> int | None:
    """The value of an i32.const, else None."""
    if _lib.BinaryenExpressionGetId(ref) != Kind.Const or _lib.BinaryenExpressionGetType(ref) != I32:
        return None
    return _lib.BinaryenConstGetValueI32(ref)
