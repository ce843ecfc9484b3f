"""Which functions can pause, and why.

A function must be instrumented when a call it makes can unwind the stack:
a call to an import that may pause, to the in-wasm asyncify runtime, to a
function that can pause, or an indirect call that can reach one. This is a
reachability question on the reversed call graph, answered by one
multi-source breadth-first search:

* seeds are the pausing imports (the `--imports` patterns, default: every
  import) and the asyncify runtime imports `start_unwind` / `stop_rewind`;
* an edge runs from a callee to each caller, through direct calls and,
  when narrowing is on, from every function an indirect call site can reach
  to the function holding the site;
* a function that calls `asyncify.stop_unwind` / `start_rewind` is the
  bottom of the stack: it is never instrumented and the search stops there;
  one that calls `start_unwind` / `stop_rewind` can pause but is not itself
  instrumented (it *is* the pause), its callers are.

Because the search is breadth-first from all seeds at once, the node a
function was discovered from is the next hop on a *shortest* path to a
seed; following those hops gives the reason we print for every decision.

Indirect calls are narrowed rather than assumed (Binaryen instruments every
function holding one; its issue #2218). A `call_indirect` of signature S on
table T can reach the functions of signature S placed in T by active element
segments. A table that the host can see or that code writes (imported,
exported, `table.set`, `table.grow`) is open: it can hold any function of
signature S whose reference escapes (in a segment, `ref.func`, exported) and
any import of signature S. A `call_ref` can reach escaping functions of its
signature. `narrow_indirect=False` restores Binaryen's rule (every indirect
call may pause), which is how the tests compare the two.

The lists (remove, add, only) follow Binaryen's asyncify pass arguments of
the same names. Everything here is a pure function of `ModuleFacts` and
`AnalysisOptions`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncpy.abi import ASYNCIFY, BOTTOM_MOST, TOP_MOST
from asyncpy.errors import AsyncpyError
from asyncpy.options import AnalysisOptions, ListMatcher, escape_name, matches_any, wildcard

if TYPE_CHECKING:
    from asyncpy.analysis.facts import IndirectSite, ModuleFacts
    from asyncpy.binaryen.types import Signature


# ---------------------------------------------------------------------------
# Result

@dataclass(frozen=True)
class Reason:
    """Why one function (or import) can pause.

    kind: "import" (an import matched), "runtime" (an asyncify runtime
    import), "call" (calls `via`), "indirect" (an indirect call can reach
    `via`), "indirect-unknown" (an indirect call, narrowing off), "add-list",
    "only-list".
    """
    kind: str
    via: str | None = None
    detail: str = ""


@dataclass
class Analysis:
    facts: ModuleFacts
    options: AnalysisOptions
    reasons: dict[str, Reason]              # every function or import that can pause
    instrument: list[str]                   # defined functions to instrument, module order
    top_most: set[str]
    bottom_most: set[str]
    warnings: list[str]

    @property
    def defined_count(self) -> int:
        return sum(1 for f in self.facts.functions.values() if not f.imported)

    def due_to_indirect(self) -> list[str]:
        """Instrumented functions whose shortest path starts with an indirect call."""
        return [f for f in self.instrument if self.reasons[f].kind.startswith("indirect")]

    def path(self, name: str) -> list[tuple[str, Reason]]:
        """The chain of reasons from `name` to what makes it pause."""
        chain: list[tuple[str, Reason]] = []
        seen = set()
        while name in self.reasons and name not in seen:
            seen.add(name)
            r = self.reasons[name]
            chain.append((name, r))
            if r.via is None:
                break
            name = r.via
        return chain

    def explain(self, name: str) -> str:
        fn = self.facts.functions.get(name)
        if fn is None:
            return f"{name}: no such function"
        if name not in self.reasons:
            why = "it cannot reach any pausing import"
            if name in self.bottom_most:
                why = "it calls asyncify.stop_unwind/start_rewind (bottom of the stack)"
            elif matches_any(name, self.options.remove_list):
                why = "it is on the remove-list"
            elif self.options.only_list:
                why = "it is not on the only-list"
            return f"{name} does not pause: {why}"
        parts = []
        for fname, r in self.path(name):
            if r.kind == "import":
                parts.append(f"{fname} is import {self.facts.functions[fname].import_name}"
                             f" ({r.detail})")
            elif r.kind == "runtime":
                parts.append(f"{fname} is the asyncify runtime import "
                             f"{self.facts.functions[fname].import_name}")
            elif r.kind == "call":
                parts.append(f"{fname} calls {r.via}")
            elif r.kind == "indirect":
                parts.append(f"{fname} has an indirect call ({r.detail}) that can reach {r.via}")
            elif r.kind == "indirect-unknown":
                parts.append(f"{fname} has an indirect call ({r.detail}) and indirect calls are "
                             "assumed to pause (narrowing off)")
            else:
                parts.append(f"{fname} is on the {r.kind}")
        head = name + (" pauses" if name in self.instrument else " can pause")
        if name in self.top_most:
            head += (" (it calls asyncify.start_unwind/stop_rewind, so it is not instrumented; "
                     "its callers are)")
        return head + ":\n  " + "\n  ".join(parts)


# ---------------------------------------------------------------------------
# The analysis

def _site_label(site: IndirectSite, facts: ModuleFacts) -> str:
    sig = site.signature.name if site.signature else "unknown type"
    return f"call_indirect {sig} on table {site.table}" if site.table is not None else f"call_ref {sig}"


def indirect_targets(site: IndirectSite, facts: ModuleFacts, by_sig: dict) -> list[str]:
    """Functions an indirect call site can reach."""
    same_sig = by_sig.get(site.signature, ()) if site.signature is not None else list(facts.functions)
    if site.table is None:  # call_ref: anything whose reference escapes
        return [f for f in same_sig if f in facts.escaping]
    if site.table in facts.open_tables:
        return [f for f in same_sig if f in facts.escaping or facts.functions[f].imported]
    contents = facts.table_contents.get(site.table, frozenset())
    return [f for f in same_sig if f in contents]


_LIST_LABELS = (("remove", "remove_list"), ("add", "add_list"), ("only", "only_list"))


def _check_lists(facts: ModuleFacts, options: AnalysisOptions, warnings: list[str]) -> None:
    """Binaryen's checks and warnings for the function lists, in its words
    (builds grep for them): a plain name that names no function, a pattern
    that matches none, an import named in a list (an error), and a
    function on both the add-list and the remove-list (an error)."""
    names = list(facts.functions)
    for label, attr in _LIST_LABELS:
        for p in getattr(options, attr):
            m = ListMatcher([p])
            hits = [n for n in names if m(n)]
            if "*" in p:
                if not hits:
                    warnings.append(f"Asyncify {label}list contained a non-matching pattern: "
                                    f"{p} ({escape_name(p)})")
                continue
            if not hits:
                warnings.append(f"Asyncify {label}list contained a non-existing function name: "
                                f"{p} ({escape_name(p)})")
            elif any(facts.functions[n].imported for n in hits):
                raise AsyncpyError(f"Asyncify {label}list contained an imported function name "
                                   f"(use the import list for imports): {p}")
    if options.add_list and options.remove_list:
        add, remove = ListMatcher(options.add_list), ListMatcher(options.remove_list)
        for n in names:
            if add(n) and remove(n):
                raise AsyncpyError(f"{n} is found in the add-list and in the remove-list")
    if options.imports is not None:
        import_names = [f.import_name for f in facts.functions.values() if f.imported]
        for p in options.imports:
            if not any(wildcard(p).match(n) for n in import_names):
                warnings.append(f"--imports pattern '{p}' matches no import")


def analyze(facts: ModuleFacts, options: AnalysisOptions = AnalysisOptions()) -> Analysis:
    warnings: list[str] = []
    _check_lists(facts, options, warnings)
    funcs = facts.functions
    import_rx = [wildcard(p) for p in options.imports] if options.imports is not None else None

    # Runtime roles from the asyncify.* imports a function calls.
    runtime = {n: f.import_base for n, f in funcs.items() if f.import_module == ASYNCIFY}
    top_most, bottom_most = set(), set()
    for f in funcs.values():
        for callee in f.calls + f.return_calls:
            role = runtime.get(callee)
            if role in TOP_MOST:
                top_most.add(f.name)
            elif role in BOTTOM_MOST:
                bottom_most.add(f.name)
    in_remove, in_add, in_only = (ListMatcher(options.remove_list), ListMatcher(options.add_list),
                                  ListMatcher(options.only_list))
    removed = {n for n, f in funcs.items() if not f.imported and in_remove(n)}
    blocked = bottom_most | removed

    # Reversed edges: callee -> [(caller, Reason-of-caller)].
    by_sig: dict[Signature, list[str]] = {}
    for f in funcs.values():
        by_sig.setdefault(f.signature, []).append(f.name)
    callers: dict = {}   # callee or virtual node -> [(caller, Reason or site label)]
    seeds: list[tuple[str, Reason]] = []
    targets_of: dict = {}
    for f in funcs.values():
        if f.imported:
            if f.import_module == ASYNCIFY:
                if f.import_base in TOP_MOST:
                    seeds.append((f.name, Reason("runtime")))
            elif not options.ignore_imports:
                if import_rx is None:
                    seeds.append((f.name, Reason("import", detail="every import may pause")))
                else:
                    hit = next((p for p, rx in zip(options.imports or (), import_rx, strict=True)
                                if rx.match(f.import_name)), None)
                    if hit is not None:
                        seeds.append((f.name, Reason("import", detail=f"matches '{hit}'")))
            continue
        for callee in f.calls + f.return_calls:
            callers.setdefault(callee, []).append((f.name, Reason("call", callee)))
        if options.ignore_indirect:
            continue
        for site in f.indirect:
            label = _site_label(site, facts)
            if not options.narrow_indirect:
                seeds.append((f.name, Reason("indirect-unknown", detail=label)))
                continue
            # One virtual node per target set: edges targets -> node -> holders,
            # not targets x holders (Go puts ~5,000 functions of one type in
            # one table, reached by hundreds of call sites).
            key = ("indirect", site.table, site.signature)
            if key not in targets_of:
                targets_of[key] = indirect_targets(site, facts, by_sig)
                for target in targets_of[key]:
                    callers.setdefault(target, []).append((key, None))
            callers.setdefault(key, []).append((f.name, label))

    if options.propagate_add_list:
        for n, f in funcs.items():
            if not f.imported and in_add(n) and n not in removed:
                seeds.append((n, Reason("add-list")))

    # Multi-source BFS over reversed edges; the first reason found is the
    # one on a shortest path.
    reasons: dict[str, Reason] = {}
    queue: deque[str | tuple] = deque()     # functions, and indirect targets (tuple keys)
    for name, reason in seeds:
        # The add-list wins over the runtime and remove-list rules, as in
        # Binaryen (it is applied after them); they still stop propagation.
        if name not in reasons and (name not in blocked or reason.kind == "add-list"):
            reasons[name] = reason
            queue.append(name)
    # Edges into a virtual node weigh nothing (0-1 BFS: it goes to the front),
    # so path lengths still count functions.
    via_target: dict[tuple, str] = {}
    while queue:
        node = queue.popleft()
        for caller, info in callers.get(node, ()):
            if isinstance(caller, tuple):
                if caller not in via_target:
                    assert isinstance(node, str)    # only functions call into a virtual node
                    via_target[caller] = node
                    queue.appendleft(caller)
                continue
            if caller not in reasons and caller not in blocked:
                reasons[caller] = Reason("indirect", via_target[node], info) \
                    if isinstance(node, tuple) else info
                queue.append(caller)

    if options.add_list and not options.propagate_add_list:
        for n, f in funcs.items():
            if not f.imported and n not in reasons and in_add(n):
                reasons[n] = Reason("add-list")
    if options.only_list:
        reasons = {n: r for n, r in reasons.items() if funcs[n].imported}
        for n, f in funcs.items():
            if not f.imported and in_only(n):
                reasons[n] = Reason("only-list")

    instrument = [n for n, f in funcs.items()
                  if not f.imported and n in reasons and n not in top_most]
    return Analysis(facts=facts, options=options, reasons=reasons, instrument=instrument,
                    top_most=top_most, bottom_most=bottom_most, warnings=warnings)
