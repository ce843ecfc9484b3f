"""Transform options that change the module's interface: --relocatable,
--export-globals and --memory (the buffer in a chosen memory of several)."""

import wasmtime

from asyncpy.abi import DATA, STATE
from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.pipeline import transform_loaded
from asyncpy.wasm import load_bytes
from asyncpy.wasm.engine import engine as asyncpy_engine

PROGRAM = """
(module
  (import "env" "sleep" (func $sleep (param i32) (result i32)))
  (memory $main (export "memory") 1)
  (memory $scratch (export "scratch") 1)
  (func $work (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31))
                                 (call $sleep (local.get $i))))
        (i32.store (i32.mul (local.get $i) (i32.const 4)) (local.get $acc))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "main") (result i32) (call $work (i32.const 6))))
"""


def transform(text=PROGRAM, **kw) -> bytes:
    opts = TransformOptions(analysis=AnalysisOptions(imports=("env.sleep",)), **kw)
    return transform_loaded(load_bytes(bytes(wasmtime.wat2wasm(text)), isolate=False), opts).wasm


def drive(wasm: bytes, *, pause: bool, struct_memory: str = "memory", extra=None):
    """Run main, pausing (if asked) in every sleep call; returns (result, main
    memory's first 64 bytes, the store and instance)."""
    engine = asyncpy_engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    state = {"pending": None, "calls": 0}
    box = {}
    ptr = 4096

    def sleep(x):
        ex = box["i"].exports(store)
        if "asyncify_get_state" in ex and ex["asyncify_get_state"](store) == 2:
            ex["asyncify_stop_rewind"](store)
            return state.pop("pending")
        state["calls"] += 1
        if pause:
            state["pending"] = x * 3 + 1
            struct = (ptr + 8).to_bytes(4, "little") + (ptr + 1024).to_bytes(4, "little")
            ex[struct_memory].write(store, struct, ptr)
            ex["asyncify_start_unwind"](store, ptr)
            return 0
        return x * 3 + 1

    i32 = wasmtime.ValType.i32()
    linker.define_func("env", "sleep", wasmtime.FuncType([i32], [i32]), sleep)
    for (mod, name), item in (extra or {}).items():
        linker.define(store, mod, name, item(store))
    inst = box["i"] = linker.instantiate(store, wasmtime.Module(engine, wasm))
    ex = inst.exports(store)
    result = ex["main"](store)
    while "asyncify_get_state" in ex and ex["asyncify_get_state"](store) == 1:
        ex["asyncify_stop_unwind"](store)
        ex["asyncify_start_rewind"](store, ptr)
        result = ex["main"](store)
    return result, bytes(ex["memory"].read(store, 0, 64)), store, inst


def baseline():
    return drive(wasmtime.wat2wasm(PROGRAM.replace('(memory $scratch (export "scratch") 1)', '')),
                 pause=False)[:2]


def test_relocatable_imports_the_globals_from_env():
    wasm = transform(relocatable=True, memory="memory")
    module = wasmtime.Module(asyncpy_engine(), wasm)
    imported = {(i.module, i.name): i.type for i in module.imports}
    for name in (STATE, DATA):
        t = imported[("env", name)]
        assert isinstance(t, wasmtime.GlobalType) and t.mutable
    mut_i32 = lambda store: wasmtime.Global(store, wasmtime.GlobalType(wasmtime.ValType.i32(), True),
                                            wasmtime.Val.i32(0))
    globals_ = {("env", STATE): mut_i32, ("env", DATA): mut_i32}
    assert drive(wasm, pause=True, extra=globals_)[:2] == baseline()


def test_export_globals_shows_the_state_to_the_host():
    wasm = transform(export_globals=True, memory="memory")
    result, mem, store, inst = drive(wasm, pause=True)
    assert (result, mem) == baseline()
    ex = inst.exports(store)
    assert ex[STATE].value(store) == 0      # back to normal after the run
    assert ex[DATA].value(store) == 4096    # the struct the host gave last


def test_memory_option_puts_the_buffer_in_the_chosen_memory():
    wasm = transform(memory="scratch")
    result, mem, store, inst = drive(wasm, pause=True, struct_memory="scratch")
    assert (result, mem) == baseline()
    # The frames went to "scratch": the main memory holds only the program's stores.
    ex = inst.exports(store)
    assert bytes(ex["memory"].read(store, 4096, 4096 + 64)) == bytes(64)
    assert bytes(ex["scratch"].read(store, 4096 + 8, 4096 + 24)) != bytes(16)


def test_memory_option_names_an_exported_memory():
    import pytest

    from asyncpy.errors import AsyncpyError

    with pytest.raises(AsyncpyError, match="no memory is exported under that name"):
        transform(memory="nope")


def test_several_memories_need_a_choice():
    import pytest

    from asyncpy.errors import AsyncpyError

    # Binaryen 116 resolves an unnamed memory only when there is one; with
    # two, asyncpy asks instead of guessing (this used to crash the process).
    with pytest.raises(AsyncpyError, match="has 2 memories: choose"):
        transform()
