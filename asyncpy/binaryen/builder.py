"""Building expressions: a thin, typed wrapper over Binaryen's C builder
functions, interning each name as a C string once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncpy.binaryen.library import NULL, _ffi, _lib
from asyncpy.binaryen.types import AUTO, I32, I64, V128, VALUE_SIZE, expand_type

if TYPE_CHECKING:
    from asyncpy.binaryen.module import Module


# The array types, parsed once: a string type costs a lookup per call.
_EXPRS = _ffi.typeof("BinaryenExpressionRef[]")
_NAMES = _ffi.typeof("const char*[]")


def _opt(expr):
    """An optional child: None (absent) is C's NULL, which stays in here."""
    return NULL if expr is None else expr


class Builder:
    """Makes expressions in one module. Thin: names and Python values in,
    expression refs out."""

    def __init__(self, module: Module):
        self.m = module.ref
        # Binaryen interns every name it is given (wasm::Name copies into a
        # global pool; checked on Binaryen 116), so a C string need only live
        # through the call. The cache is for speed: the same few names
        # (labels, globals, helpers) recur in every function.
        self._names: dict[str, object] = {}
        # Constants recur (site indices, zeros, frame offsets): one literal
        # struct per distinct (type, bytes), passed by value.
        self._literals: dict[tuple[int, bytes], Any] = {}

    def _s(self, s: str | None):
        if s is None:
            return NULL
        b = self._names.get(s)
        if b is None:
            b = self._names[s] = _ffi.new("char[]", s.encode())
        return b

    def block(self, name, kids, type_=AUTO):
        arr = _ffi.new(_EXPRS, kids)
        return _lib.BinaryenBlock(self.m, self._s(name), arr, len(kids), type_)

    def if_(self, cond, then, else_=None):
        return _lib.BinaryenIf(self.m, cond, then, _opt(else_))

    def loop(self, name, body):
        return _lib.BinaryenLoop(self.m, self._s(name), body)

    def br(self, name, cond=None, value=None):
        return _lib.BinaryenBreak(self.m, self._s(name), _opt(cond), _opt(value))

    def switch(self, names, default, condition, value=None):
        arr = _ffi.new(_NAMES, [self._s(n) for n in names])
        return _lib.BinaryenSwitch(self.m, arr, len(names), self._s(default), condition, _opt(value))

    def call(self, target, operands, result_type):
        arr = _ffi.new(_EXPRS, operands)
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
        lit = self._literals.get((type_, raw))
        if lit is None:
            lit = _ffi.new("struct BinaryenLiteral*")
            lit.type = type_
            _ffi.memmove(lit.bytes, raw, len(raw))
            self._literals[(type_, raw)] = lit
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
        arr = _ffi.new(_EXPRS, items)
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

    def return_(self, value=None):
        return _lib.BinaryenReturn(self.m, _opt(value))

    def nop(self):
        return _lib.BinaryenNop(self.m)

    def unreachable(self):
        return _lib.BinaryenUnreachable(self.m)
