"""Moving code between modules, for the linker: copy a function or an
expression into another module while renaming the functions, globals and
table it refers to, and the table and import edits that come with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncpy.binaryen.builder import Builder
from asyncpy.binaryen.ir import (
    KIND_NAMES,
    Kind,
    UnsupportedExpression,
    children,
    function_locals,
    local_names,
    set_children,
)
from asyncpy.binaryen.library import NULL, _ffi, _lib, cstr, name_of
from asyncpy.binaryen.types import make_type

if TYPE_CHECKING:
    from asyncpy.binaryen.module import Module


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
        out.append(GlobalInfo(name_of(_lib.BinaryenGlobalGetName(g)), _lib.BinaryenGlobalGetType(g),
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
        if any(a != b for a, b in zip(new, kids, strict=False)):
            set_children(e, new)
    k = _lib.BinaryenExpressionGetId(e)
    if k == K.Call:
        t = functions.get(cstr(_lib.BinaryenCallGetTarget(e)))
        if t is not None:
            _lib.BinaryenCallSetTarget(e, t.encode())
    elif k == K.RefFunc:
        t = functions.get(cstr(_lib.BinaryenRefFuncGetFunc(e)))
        if t is not None:
            _lib.BinaryenRefFuncSetFunc(e, t.encode())
    elif k == K.GlobalGet or k == K.GlobalSet:
        getter = _lib.BinaryenGlobalGetGetName if k == K.GlobalGet else _lib.BinaryenGlobalSetGetName
        t = globals_.get(cstr(getter(e)))
        if t is not None:
            set_name = _lib.BinaryenGlobalGetSetName if k == K.GlobalGet else _lib.BinaryenGlobalSetSetName
            set_name(e, t.encode())
    elif k == K.CallIndirect and table is not None:
        _lib.BinaryenCallIndirectSetTable(e, table.encode())
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
    body = copy_expression(_lib.BinaryenFunctionGetBody(f), dst, functions, globals_, table)
    _add_like(f, dst, new_name, body)


def duplicate_function(module: Module, name: str, new_name: str) -> None:
    """Add to `module` a copy of its defined function `name`, as `new_name`
    (same module: nothing to relink, so every expression kind is copied)."""
    f = module.function_ref(name)
    _add_like(f, module, new_name, _lib.BinaryenExpressionCopy(_lib.BinaryenFunctionGetBody(f), module.ref))


def _add_like(f, dst: Module, new_name: str, body) -> None:
    """Add to `dst` a function `new_name` with `body` and the signature,
    locals and local names of the function `f`."""
    _params, vars_ = function_locals(f)
    arr = _ffi.new("BinaryenType[]", vars_)
    nf = _lib.BinaryenAddFunction(dst.ref, new_name.encode(), _lib.BinaryenFunctionGetParams(f),
                                  _lib.BinaryenFunctionGetResults(f), arr, len(vars_), body)
    for i, n in local_names(f).items():
        _lib.BinaryenFunctionSetLocalName(nf, i, n.encode())


def global_init(module: Module, name: str):
    return _lib.BinaryenGlobalGetInitExpr(_lib.BinaryenGetGlobal(module.ref, name.encode()))


def add_function_import(module: Module, internal: str, mod: str, base: str, params, results) -> None:
    _lib.BinaryenAddFunctionImport(module.ref, internal.encode(), mod.encode(), base.encode(),
                                   make_type(params), make_type(results))


def remove_export(module: Module, external: str) -> None:
    _lib.BinaryenRemoveExport(module.ref, external.encode())


def add_table(module: Module, name: str, initial: int) -> None:
    _lib.BinaryenAddTable(module.ref, name.encode(), initial, initial, _lib.BinaryenTypeFuncref())


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
    names = [_ffi.new("char[]", f.encode()) for f in funcs]    # live through the call below
    arr = _ffi.new("const char*[]", names)
    b = Builder(module)
    _lib.BinaryenAddActiveElementSegment(module.ref, table.encode(), f"asyncpy.rt.elem.{base}".encode(),
                                         arr, len(names), b.i32(base))
    return base


def add_table_export(module: Module, internal: str, external: str) -> None:
    _lib.BinaryenAddTableExport(module.ref, internal.encode(), external.encode())
