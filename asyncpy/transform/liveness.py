"""Which locals a subtree reads or writes, as bit masks.

The instrumenter's liveness (what a frame must save) is built from these
masks over the structured body, with a fixpoint around loops."""

from __future__ import annotations

from asyncpy.binaryen import Node


def local_mask(n: Node, kind: int) -> int:
    """Bitmask of the locals that `kind` nodes (local.get: reads, local.set:
    writes) in the subtree of `n` touch."""
    mask, stack = 0, [n]
    while stack:
        x = stack.pop()
        if x.kind == kind:
            mask |= 1 << x.index
        stack.extend(x.kids)
    return mask
