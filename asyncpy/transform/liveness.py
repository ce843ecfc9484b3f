"""Which locals a subtree reads or writes, as bit masks.

The instrumenter's liveness (what a frame must save) is built from these
masks over the structured body, with a fixpoint around loops."""

from __future__ import annotations

from collections.abc import Callable

from asyncpy import binaryen as B
from asyncpy.binaryen import Kind as K
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


def read_write_masks(n: Node) -> tuple[int, int]:
    """(local_mask(n, LocalGet), local_mask(n, LocalSet)) in one walk."""
    reads, writes, stack = 0, 0, [n]
    get, set_ = K.LocalGet, K.LocalSet
    while stack:
        x = stack.pop()
        if x.kind == get:
            reads |= 1 << x.index
        elif x.kind == set_:
            writes |= 1 << x.index
        stack.extend(x.kids)
    return reads, writes


def live_across_sites(root: Node, size: int,
                      is_site: Callable[[Node], bool]) -> tuple[dict[int, int], dict[int, int]]:
    """Which locals may be read after each site returns, before being
    written: a backward dataflow over the structured body.
    A loop's label (its head) is iterated to a fixpoint from empty; if a
    function's loops need more than a budget of node visits (deep
    nests), the remaining loops start from a safe upper bound instead
    (everything read in the loop, live after it, or at an enclosing
    label), which needs one pass and stays sound.

    Returns (site index -> locals live after that site, id(pausing child of
    a block) -> locals live before it)."""
    labels: dict[str, int] = {}
    site_live: dict[int, int] = {}   # site index -> locals live after it
    live_in: dict[int, int] = {}     # id(pausing child of a block) -> locals live before it
    budget = [40 * size + 1000]

    def loop(n: Node, after: int) -> int:
        name, body = n.name, n.kids[0]
        if not name:
            return live(body, after)
        saved = labels.get(name)
        head = 0
        for _ in range(8):
            if budget[0] <= 0:
                break
            labels[name] = head
            new = live(body, after)
            if new == head:
                break
            head = new
        else:
            budget[0] = 0
        if budget[0] <= 0:  # no fixpoint within budget: one sound pass
            labels[name] = after | local_mask(n, K.LocalGet) | _outer_labels(labels)
            head = live(body, after)
        if saved is None:
            del labels[name]
        else:
            labels[name] = saved
        return head

    def live(n: Node, after: int) -> int:
        budget[0] -= 1
        k = n.kind
        if k == K.LocalGet:
            return after | (1 << n.index)
        if k == K.LocalSet:
            return live(n.kids[0], after & ~(1 << n.index))
        if k == K.Loop:
            return loop(n, after)
        if k == K.Block:
            name = n.name
            saved = labels.get(name) if name else None
            if name:
                labels[name] = after
            cur = after
            for c in reversed(n.kids):
                cur = live(c, cur)
                if c.hi >= c.lo:
                    live_in[id(c)] = live_in.get(id(c), 0) | cur
            if name:
                if saved is None:
                    del labels[name]
                else:
                    labels[name] = saved
            return cur
        if k == K.If:
            arms = live(n.kids[1], after)
            arms |= live(n.kids[2], after) if len(n.kids) > 2 else after
            return live(n.kids[0], arms)
        if k == K.Break:
            target = labels.get(n.name or "", 0)     # a br always has its label
            cur = target | after if B.break_has_condition(n.ref) else target
        elif k == K.Switch:
            cur = 0
            for t in (*(n.names or ()), n.name or ""):
                cur |= labels.get(t, 0)
        elif k == K.Return or k == K.Unreachable:
            cur = 0
        elif k == K.Try:
            # Any point of the body may jump to a catch: keep it simple and safe.
            return after | local_mask(n, K.LocalGet)
        else:
            cur = after
        if n.hi >= n.lo and is_site(n):
            site_live[n.hi] = site_live.get(n.hi, 0) | after
        for c in reversed(n.kids):
            cur = live(c, cur)
        return cur

    live(root, 0)
    return site_live, live_in

def _outer_labels(labels: dict[str, int]) -> int:
    mask = 0
    for v in labels.values():
        mask |= v
    return mask
