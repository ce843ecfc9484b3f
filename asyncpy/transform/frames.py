"""Frames in the asyncify buffer (docs/DESIGN.md section 3).

A frame is an i32 site index followed by the saved locals at their natural
sizes. Two helpers shared by every instrumented function push and pop the
raw bytes, moving `current` in the data struct and trapping when it passes
`end` (before the write with --check-bounds). Reference-typed locals cannot
be saved to linear memory: `_saveable` names the function instead."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from asyncpy import binaryen as B
from asyncpy.abi import DATA, POP_FRAME, PUSH_FRAME, REWIND_INDEX, TRACE_FUNCTION
from asyncpy.binaryen import Op
from asyncpy.errors import UnsupportedError


@dataclass(frozen=True)
class Layout:
    ptr: int                        # B.I32 or B.I64
    memory: str | None              # None: the module's only memory

    @property
    def end_offset(self) -> int:
        return 8 if self.ptr == B.I64 else 4


def _saveable(t: int, func: str, local: int) -> tuple[int, ...]:
    parts = B.expand_type(t)
    for p in parts:
        if p not in B.VALUE_SIZE:
            raise UnsupportedError(f"function {func}: local {local} of reference type "
                                   f"{B.type_name(t)} is live across a pause; references cannot be "
                                   "saved to linear memory")
    return parts


def _add_frame_helpers(module: B.Module, b: B.Builder, layout: Layout, check_bounds: bool) -> None:
    """Frames are pushed and popped by two small shared functions instead of
    inline code in every instrumented function: they run only while
    unwinding or rewinding, and each call site is a few bytes.

    push(size): returns current, then current += size (with --check-bounds,
    traps first if that would pass end). pop(size): current -= size,
    returns it."""
    pt, mem = layout.ptr, layout.memory
    ext = (lambda e: b.unary(Op.extend_u32, e)) if pt == B.I64 else (lambda e: e)
    add, sub = (Op.add64, Op.sub64) if pt == B.I64 else (Op.add32, Op.sub32)
    data = lambda: b.global_get(DATA, pt)
    size = lambda: ext(b.local_get(0, B.I32))
    cur = 1  # local: the frame pointer
    push = [b.local_set(cur, b.load(pt, data(), memory=mem))]
    if check_bounds:
        end = b.load(pt, data(), offset=layout.end_offset, memory=mem)
        over = b.binary(Op.gt_u64 if pt == B.I64 else Op.gt_u32,
                        b.binary(add, b.local_get(cur, pt), size()), end)
        push.append(b.if_(over, b.unreachable()))
    push += [b.store(pt, data(), b.binary(add, b.local_get(cur, pt), size()), memory=mem),
             b.local_get(cur, pt)]
    B.add_function(module, PUSH_FRAME, [B.I32], [pt], [pt], b.block(None, push, pt))
    pop = [b.local_set(cur, b.binary(sub, b.load(pt, data(), memory=mem), size())),
           b.store(pt, data(), b.local_get(cur, pt), memory=mem),
           b.local_get(cur, pt)]
    B.add_function(module, POP_FRAME, [B.I32], [pt], [pt], b.block(None, pop, pt))
    # The site index of the frame being rewound: the prologue has popped it,
    # so it starts at `current`.
    B.add_function(module, REWIND_INDEX, [], [B.I32], [],
                   b.load(B.I32, b.load(pt, data(), memory=mem), memory=mem))


Field = tuple[int, int, int, int]   # (local, component, component type, offset in the frame)


def _bits(mask: int) -> Iterator[int]:
    """The set bits of `mask`, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def frame_fields(mask: int, local_types: list[int], func: str) -> list[Field]:
    """Where each saved value of the locals in `mask` goes: packed after
    the i32 site index, a tuple local by component."""
    out, offset = [], 4
    for i in _bits(mask):
        for j, part in enumerate(_saveable(local_types[i], func, i)):
            out.append((i, j, part, offset))
            offset += B.VALUE_SIZE[part]
    return out


def restore_frame(b: B.Builder, layout: Layout, fields: list[Field], ptr_local: Callable[[], int],
                  ablate: frozenset[str], pop: int | None = None):
    """Loads the frame: with `pop` (its size), pops it first (the
    prologue); otherwise it is the one the prologue popped, at `current`
    until the callee pops its own. `ptr_local` gives the function's frame
    pointer local (made on first use)."""
    pt = layout.ptr
    if pop is not None:
        out = [b.local_set(ptr_local(), b.call(POP_FRAME, [b.i32(pop)], pt))]
    elif not fields or "norestore" in ablate:
        return b.nop()
    else:
        out = [b.local_set(ptr_local(), b.load(pt, b.global_get(DATA, pt), memory=layout.memory))]
    if "norestore" in ablate:
        return b.block(None, out, B.NONE)
    by_local: dict[int, list] = {}
    for i, _j, part, off in fields:
        by_local.setdefault(i, []).append(b.load(part, b.local_get(ptr_local(), pt), offset=off,
                                                 memory=layout.memory))
    for i, loads in by_local.items():
        value = loads[0] if len(loads) == 1 else b.tuple_make(loads)
        out.append(b.local_set(i, value))
    return b.block(None, out, B.NONE)


def save_frame(b: B.Builder, layout: Layout, fields: list[Field], frame: int, unwind_at: int,
               ptr_local: Callable[[], int], local_types: list[int], trace_id: int | None,
               ablate: frozenset[str]):
    """Pushes a frame of `frame` bytes: the site index (in local
    `unwind_at`), then the fields; with a `trace_id`, tells the profiler
    first."""
    if "nosave" in ablate:
        return b.nop()
    pt = layout.ptr
    p = ptr_local()
    out = [] if trace_id is None else [b.call(TRACE_FUNCTION, [b.i32(trace_id)], B.NONE)]
    out += [b.local_set(p, b.call(PUSH_FRAME, [b.i32(frame)], pt)),
            b.store(B.I32, b.local_get(p, pt), b.local_get(unwind_at, B.I32), memory=layout.memory)]
    for i, j, part, off in fields:
        t = local_types[i]
        value = b.local_get(i, t)
        if part != t:
            value = b.tuple_extract(value, j)
        out.append(b.store(part, b.local_get(p, pt), value, offset=off, memory=layout.memory))
    return b.block(None, out, B.NONE)
