"""Pause sites: which calls in an instrumented function can pause (the
predicate), and their numbering in evaluation order (`number_sites`).

A direct call pauses when its target is in the analysis's pausing set (or is
an `asyncify.*` runtime import that unwinds or finishes a rewind); an
indirect call pauses when the analysis found a pausing target for it."""

from __future__ import annotations

from collections.abc import Callable

from asyncpy import binaryen as B
from asyncpy.analysis import Analysis, IndirectSite
from asyncpy.binaryen import Kind as K
from asyncpy.binaryen import Node
from asyncpy.errors import UnsupportedError


def _site_predicate(analysis: Analysis):
    reasons = analysis.reasons
    facts = analysis.facts
    opts = analysis.options
    by_sig: dict = {}
    for f in facts.functions.values():
        by_sig.setdefault(f.signature, []).append(f.name)
    from asyncpy.analysis import indirect_targets

    cache: dict = {}

    def indirect_pauses(site: IndirectSite) -> bool:
        if opts.ignore_indirect:
            return False
        if not opts.narrow_indirect:
            return True
        key = (site.table, site.signature)
        if key not in cache:
            cache[key] = any(t in reasons for t in indirect_targets(site, facts, by_sig))
        return cache[key]

    def is_site(n: Node) -> bool:
        k = n.kind
        if k == K.Call:
            return n.name in reasons
        if k == K.CallIndirect:
            table, sig = B.call_indirect_site(n.ref)
            return indirect_pauses(IndirectSite(table, sig))
        if k == K.CallRef:
            return indirect_pauses(IndirectSite(None, B.call_ref_signature(n.ref)))
        return False

    return is_site


def number_sites(order: list[Node], is_site: Callable[[Node], bool], func: str) -> int:
    """`order` is every node of the tree as `B.read_tree` lists it:
    reversed, each node comes after its children, in evaluation order,
    so one loop annotates the tree bottom up (no second walk; bodies nest
    thousands deep). A site is marked on its node (`n.site`), so later
    passes test an attribute (`marked_site`) instead of asking the predicate
    again. Returns the number of sites."""
    calls = (K.Call, K.CallIndirect, K.CallRef)
    nsites = 0
    for n in reversed(order):
        kids = n.kids
        lo, hi = 0, -1
        for c in kids:
            if c.hi >= c.lo:
                if hi < lo:
                    lo = c.lo
                hi = c.hi
        if n.kind in calls and is_site(n):
            n.site = True
            nsites += 1
            if hi < lo:
                lo = nsites
            hi = nsites
            if B.is_return_call(n.ref):
                raise refusal("tail-call", func)
        if hi >= lo:
            n.lo, n.hi = lo, hi
            if n.kind == K.Try:
                raise refusal("try", func)
    return nsites


def refusal(what: str, func: str) -> UnsupportedError:
    """The error for a site where the scheme cannot go: `what` is
    "tail-call" (a return_call that pauses) or "try" (a pause inside
    try/catch). The native walker reports the same two cases."""
    if what == "tail-call":
        return UnsupportedError(f"function {func}: a tail call (return_call) that may "
                                "pause; tail calls on a pause path are not supported")
    return UnsupportedError(f"function {func}: a pause can happen inside "
                            "try/catch; exceptions on a pause path are not supported")


def marked_site(n: Node) -> bool:
    """The site predicate once `number_sites` has marked the tree."""
    return n.site
