"""The asyncify driving protocol, host side, once (docs/DESIGN.md section 3).

Every host of an instrumented module does the same few things: call the
five control exports, and read and write the data struct ``{current, end}``
(two pointers, i32 or i64 on memory64) whose buffer of saved frames follows
it. `Asyncify` wraps one wasmtime instance's exports and store for that;
the product host (`asyncpy.host.instance`), the transform tests' host
(`tests/pausehost.py`) and the benchmark host (`bench/host.py`) all drive
through it, so the ABI is spelled in one place.

It holds the control functions already looked up, so a control call costs
one Python call more than calling the export directly (the benchmark times
round trips through it).
"""

from __future__ import annotations

from collections.abc import Container, Mapping

import wasmtime

from asyncpy.abi import (
    END_OFFSET_32,
    END_OFFSET_64,
    GET_STATE,
    NORMAL,
    SEPARATE_MEMORY,
    START_REWIND,
    START_UNWIND,
    STOP_REWIND,
    STOP_UNWIND,
    STRUCT_SIZE_32,
    STRUCT_SIZE_64,
)


def is_instrumented(exports: Container[str]) -> bool:
    """Whether exports (an instance's, or a set of names) include the asyncify control functions."""
    return GET_STATE in exports


def data_memory(exports: Mapping[str, object], default: wasmtime.Memory | None) -> wasmtime.Memory | None:
    """The memory of the data struct: ``asyncify_memory`` when the module was
    transformed with ``--data-memory separate``, else `default` (the guest's)."""
    mem = exports.get(SEPARATE_MEMORY)
    return mem if isinstance(mem, wasmtime.Memory) else default


class Asyncify:
    """The control calls and the data struct of one instrumented instance.

    `memory` is the memory the data struct lives in (see `data_memory`);
    its index type gives the pointer width."""

    def __init__(self, store: wasmtime.Store, exports: Mapping[str, object], memory: wasmtime.Memory):
        self.store = store
        self.memory = memory
        self.memory64 = memory.type(store).is_64
        self.ptr_size = 8 if self.memory64 else 4
        self.end_offset = END_OFFSET_64 if self.memory64 else END_OFFSET_32
        self.struct_size = STRUCT_SIZE_64 if self.memory64 else STRUCT_SIZE_32

        def func(name: str) -> wasmtime.Func:
            f = exports[name]
            assert isinstance(f, wasmtime.Func), f"{name} is not a function"
            return f
        self._get_state = func(GET_STATE)
        self._start_unwind = func(START_UNWIND)
        self._stop_unwind = func(STOP_UNWIND)
        self._start_rewind = func(START_REWIND)
        self._stop_rewind = func(STOP_REWIND)

    # -- the five control calls
    def state(self) -> int:
        """NORMAL, UNWINDING or REWINDING (asyncpy.abi)."""
        s = self._get_state(self.store)
        assert isinstance(s, int)
        return s

    def start_unwind(self, ptr: int) -> None:
        self._start_unwind(self.store, ptr)

    def stop_unwind(self) -> None:
        """Traps if the saved frames overran the buffer (current > end)."""
        self._stop_unwind(self.store)

    def start_rewind(self, ptr: int) -> None:
        self._start_rewind(self.store, ptr)

    def stop_rewind(self) -> None:
        self._stop_rewind(self.store)

    def is_normal(self) -> bool:
        return self.state() == NORMAL

    # -- the data struct
    def read_ptr(self, addr: int) -> int:
        return int.from_bytes(self.memory.read(self.store, addr, addr + self.ptr_size), "little")

    def write_ptr(self, addr: int, value: int) -> None:
        self.memory.write(self.store, value.to_bytes(self.ptr_size, "little"), addr)

    def write_struct(self, addr: int, start: int, end: int) -> None:
        """The struct at `addr`: an empty buffer [start, end)."""
        self.memory.write(self.store, start.to_bytes(self.ptr_size, "little")
                          + end.to_bytes(self.ptr_size, "little"), addr)

    def read_struct(self, addr: int) -> tuple[int, int]:
        """(current, end) of the struct at `addr`."""
        raw = self.memory.read(self.store, addr, addr + self.struct_size)
        return (int.from_bytes(raw[:self.ptr_size], "little"),
                int.from_bytes(raw[self.ptr_size:], "little"))

    def current(self, addr: int) -> int:
        """The struct's `current`: where the next saved frame goes."""
        return self.read_ptr(addr)

    def end(self, addr: int) -> int:
        return self.read_ptr(addr + self.end_offset)


__all__ = ["Asyncify", "data_memory", "is_instrumented"]
