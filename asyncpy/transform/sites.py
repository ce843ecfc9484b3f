"""The pause-site predicate: which calls in an instrumented function can pause.

A direct call pauses when its target is in the analysis's pausing set (or is
an `asyncify.*` runtime import that unwinds or finishes a rewind); an
indirect call pauses when the analysis found a pausing target for it."""

from __future__ import annotations

from asyncpy import binaryen as B
from asyncpy.analysis import Analysis, IndirectSite
from asyncpy.binaryen import Kind as K
from asyncpy.binaryen import Node


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
