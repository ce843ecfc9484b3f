"""What the analysis reads from a module, as plain data: per function its
direct calls, indirect call sites and escaping references; per module its
tables, element segments, exports and imports. Collected once (on two cores
for big modules), then the analysis itself is pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncpy.parallel import map_split

if TYPE_CHECKING:
    from asyncpy.binaryen.types import Signature


@dataclass(frozen=True)
class IndirectSite:
    table: str | None            # None for call_ref
    signature: Signature | None
    is_return: bool = False


@dataclass(frozen=True)
class FunctionFacts:
    name: str
    signature: Signature
    import_module: str | None = None
    import_base: str | None = None
    calls: tuple[str, ...] = ()          # unique direct callees, in order
    return_calls: tuple[str, ...] = ()
    indirect: tuple[IndirectSite, ...] = ()
    has_try: bool = False

    @property
    def imported(self) -> bool:
        return self.import_module is not None

    @property
    def import_name(self) -> str:
        return f"{self.import_module}.{self.import_base}"


@dataclass(frozen=True)
class ModuleFacts:
    functions: dict[str, FunctionFacts]
    table_contents: dict[str, frozenset[str]]     # closed view: active segments
    open_tables: frozenset[str]
    escaping: frozenset[str]                        # in a segment, ref.func'd, or exported
    features: frozenset[str] = frozenset()          # wasm features the module uses


def collect_facts(module, only: range | None = None) -> ModuleFacts:
    """Read the facts from a `binaryen.Module`; with `only`, the bodies of
    those defined functions only (by index among the defined: a chunk,
    asyncpy.wasm.chunks), the others taken for stubs, which call nothing."""
    from asyncpy import binaryen as b

    functions: dict[str, FunctionFacts] = {}
    ref_funcs: set[str] = set(module.global_init_ref_funcs())
    written: set[str] = set()
    bodies = []

    infos = module.functions()
    # The one walk over every expression of the module: in C when the
    # native walker is built (a fork would cost more than it saves), else
    # on two cores for big modules (asyncpy.parallel).
    defined = [info.name for info in infos if not info.imported]
    if only is not None:
        defined = defined[only.start:only.stop]
    scan = module.scan_functions
    scanned = dict(zip(defined, scan(defined) if b.native.available() else map_split(scan, defined),
                       strict=True))
    for info in infos:
        sig = info.signature
        if info.imported:
            functions[info.name] = FunctionFacts(info.name, sig, info.import_module, info.import_base)
            continue
        body = scanned.get(info.name)
        if body is None:
            functions[info.name] = FunctionFacts(info.name, sig)
            continue
        bodies.append(body)
        sites = tuple(IndirectSite(t, s, r) for t, s, r in body.indirect) + \
            tuple(IndirectSite(None, s, r) for s, r in body.call_refs)
        ref_funcs.update(body.ref_funcs)
        written.update(body.table_writes)
        functions[info.name] = FunctionFacts(
            info.name, sig, calls=tuple(dict.fromkeys(body.calls)),
            return_calls=tuple(dict.fromkeys(body.return_calls)),
            indirect=sites, has_try=body.has_try)

    contents: dict[str, set[str]] = {t.name: set() for t in module.tables()}
    in_segments: set[str] = set()
    for seg in module.element_segments():
        in_segments.update(seg.functions)
        if seg.table is not None:
            contents.setdefault(seg.table, set()).update(seg.functions)
    exports = module.exports()
    open_tables = {t.name for t in module.tables() if t.imported}
    open_tables |= {e.value for e in exports if e.kind == "table"}
    open_tables |= written
    exported_funcs = {e.value for e in exports if e.kind == "function"}
    return ModuleFacts(
        functions=functions,
        table_contents={k: frozenset(v) for k, v in contents.items()},
        open_tables=frozenset(open_tables),
        escaping=frozenset(in_segments | ref_funcs | exported_funcs),
        features=frozenset(b.detect_features(module, bodies, infos)),
    )


def merge_facts(parts: list[ModuleFacts], owners: list[list[str]]) -> ModuleFacts:
    """The facts of a module read in chunks (asyncpy.wasm.chunks): chunk c
    has the bodies of the functions owners[c], and stubs (`unreachable`)
    for the other defined functions. A function's facts come from its
    owner; a stub contributes nothing to the module-level facts that
    bodies add to (functions taken by ref.func, tables written, features),
    so those are unions; the rest is the same in every chunk."""
    owner = {name: c for c, names in enumerate(owners) for name in names}
    functions = {name: parts[owner.get(name, 0)].functions[name] for name in parts[0].functions}
    return ModuleFacts(
        functions=functions,
        table_contents=parts[0].table_contents,
        open_tables=frozenset().union(*(p.open_tables for p in parts)),
        escaping=frozenset().union(*(p.escaping for p in parts)),
        features=frozenset().union(*(p.features for p in parts)),
    )
