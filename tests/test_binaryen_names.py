"""asyncpy hands Binaryen short-lived C strings for names (the linker's
renames, the builder's labels): that is only safe because Binaryen 116
interns every name it is given. This pins that fact: scribble over every
buffer after use, and the module must still print the original names."""

from asyncpy.binaryen.builder import Builder
from asyncpy.binaryen.library import NULL, _ffi, _lib
from asyncpy.binaryen.module import Module


def test_binaryen_copies_names_it_is_given():
    mod = Module(_lib.BinaryenModuleCreate())
    try:
        m, none = mod.ref, _lib.BinaryenTypeNone()
        bufs = {s: _ffi.new("char[]", s.encode())
                for s in ("callee_fn", "caller_fn", "other_tgt", "my_label", "my_global", "exp_name")}
        zero = Builder(mod).i32(0)
        _lib.BinaryenAddGlobal(m, bufs["my_global"], _lib.BinaryenTypeInt32(), True, zero)
        for f in ("callee_fn", "other_tgt"):
            _lib.BinaryenAddFunction(m, bufs[f], none, none, NULL, 0, _lib.BinaryenNop(m))
        call = _lib.BinaryenCall(m, bufs["callee_fn"], NULL, 0, none)
        _lib.BinaryenCallSetTarget(call, bufs["other_tgt"])        # the linker's rename path
        br = _lib.BinaryenBreak(m, bufs["my_label"], NULL, NULL)
        kids = _ffi.new("BinaryenExpressionRef[]", [call, br])
        body = _lib.BinaryenBlock(m, bufs["my_label"], kids, 2, none)
        _lib.BinaryenAddFunction(m, bufs["caller_fn"], none, none, NULL, 0, body)
        _lib.BinaryenAddFunctionExport(m, bufs["caller_fn"], bufs["exp_name"])
        for b in bufs.values():
            _ffi.memmove(b, b"Z" * (len(b) - 1), len(b) - 1)
        assert mod.validate()
        text = mod.text()
        for name in ("$callee_fn", "$caller_fn", "(call $other_tgt)", "$my_label", "$my_global",
                     '"exp_name"'):
            assert name in text
        assert "ZZZ" not in text
    finally:
        mod.dispose()
