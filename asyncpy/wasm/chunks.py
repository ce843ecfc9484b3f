"""A big module goes through Binaryen in chunks of its functions.

Binaryen's IR of a module is about 25 times its code: CUE's 29 MB of code
becomes 680 MB, and the instrumentation and the writer add 250 MB more.
Memory then grows with the module. But instrumenting one function needs
only that function and the module's interface (types, imports, globals,
tables, memories, the other functions' signatures), and the analysis only
each function's facts. So a module whose code is big is cut in chunks,
contiguous runs of its functions of about CHUNK_BYTES of code each. Every
chunk is the whole module with the other chunks' bodies stubbed out:

    input:    code: f0 f1 f2 f3 f4 f5                (every body)
    chunk 0:  code: f0 f1 f2 .  .  .                 (".": unreachable)
    chunk 1:  code: .  .  .  f3 f4 f5

Binaryen reads one chunk at a time (pipeline.transform_loaded): facts from
each, the analysis from all the facts, then each chunk is instrumented,
only in its own functions, and written. `merge` puts the outputs together:
each function's body comes from the chunk that owns it.

    out 0:    code: f0' f1' f2' .   .   .   h1 h2    (h: added helpers)
    out 1:    code: .   .   .   f3' f4' f5' h1 h2
    merged:   code: f0' f1' f2' f3' f4' f5' h1 h2

What makes that sound: a stub keeps its function's index and signature,
the module-level additions (globals, helpers) are the same in every chunk,
and the code section is the only part of the output that depends on the
bodies, so the outputs must agree on everything else. `merge` checks that
they do, byte for byte, except for two places, and returns None otherwise
(the caller then transforms the module in one piece):

* the code section, which it assembles;
* the local names (subsection 2 of the name section), which a stub loses
  (it has no locals): each function's entry comes from its owner.

Binaryen numbers types by how often they are used, so two chunks can number
them differently; that too shows as a difference and means one piece.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from asyncpy.wasm.binary import (
    CODE_SECTION,
    _custom_name,
    _leb,
    _Reader,
    custom_section,
    function_counts,
    section,
    sections,
    uleb,
)
from asyncpy.wasm.hollow import Hollowed, hollow

LOCAL_NAMES = 2

# Binaryen's IR takes about 25 bytes per byte of code: a 16 MiB chunk is
# about 400 MB of IR. Below two chunks' worth a module goes in one piece.
CHUNK_BYTES = 16 << 20

# No locals, unreachable, end: valid whatever the signature.
STUB = b"\x03\x00\x00\x0b"


def chunk_bytes(default: int = CHUNK_BYTES) -> int:
    """`default`, or $ASYNCPY_CHUNK_BYTES (tests cut small modules)."""
    try:
        return max(1, int(os.environ["ASYNCPY_CHUNK_BYTES"]))
    except (KeyError, ValueError):
        return default


@dataclass(frozen=True)
class Code:
    """A module's code section: where it is and where each body is (each
    entry with its size prefix), in defined-function order."""
    start: int
    end: int
    bodies: list[tuple[int, int]]


def code_section(data: bytes) -> Code | None:
    for sid, start, end, payload in sections(data):
        if sid == CODE_SECTION:
            return Code(start, end, _bodies(data, payload))
    return None


def plan(code: Code, limit: int) -> list[range]:
    """Contiguous runs of defined functions of at most about `limit` bytes
    of code each; one run for a module that does not need cutting."""
    total = sum(e - s for s, e in code.bodies)
    count = -(-total // limit)
    if count < 2:
        return [range(len(code.bodies))]
    share = total / count
    runs: list[range] = []
    first = acc = 0
    for i, (s, e) in enumerate(code.bodies):
        acc += e - s
        if acc >= share * (len(runs) + 1) and len(runs) < count - 1:
            runs.append(range(first, i + 1))
            first = i + 1
    runs.append(range(first, len(code.bodies)))
    return [r for r in runs if len(r)]


@dataclass(frozen=True)
class Cut:
    """How a plain transform cuts a module: what Binaryen reads (the input
    with its data segments emptied, where that gains: asyncpy.wasm.hollow),
    what puts them back, its code section, and the runs of functions."""
    base: bytes
    hollowed: Hollowed | None
    code: Code
    runs: list[range]


_NOT_YET = object()


def cut(data: bytes, limit: int, split=_NOT_YET) -> Cut | None:
    """`data` cut in runs of about `limit` bytes of code; None when it has
    too little code to cut. `split`: hollow(data), when the caller has it
    already (else it is computed here, only for a module that is cut)."""
    code = code_section(data)
    if code is None or len(plan(code, limit)) < 2:
        return None
    if split is _NOT_YET:
        split = hollow(data)
    if split is None:
        return Cut(data, None, code, plan(code, limit))
    base, hollowed = split
    code = code_section(base)     # the same bodies, at their places in `base`
    assert code is not None
    return Cut(base, hollowed, code, plan(code, limit))


def types_may_renumber(facts, owners: list[list[str]]) -> bool:
    """Whether Binaryen may number the types differently in two chunks,
    predicted from the analysis's facts (`merge` is the judge; this only
    spares the work of chunks that would not merge). Binaryen 116 orders
    types by how often the module uses them: every function's signature
    (the same in every chunk) and every call_indirect's (only in the
    bodies a chunk has). Go programs merge (a few signatures, one of them
    nearly everyone's); C programs with many signatures and function
    pointers often do not."""
    from collections import Counter

    uses = Counter(f.signature for f in facts.functions.values())
    chunk_uses = []
    for names in owners:
        counted: Counter = Counter()
        for name in names:
            counted.update(site.signature for site in facts.functions[name].indirect
                           if site.signature is not None)
        chunk_uses.append(counted)
    # Ties keep one order, the same for every chunk (a stable sort).
    universe = list(dict.fromkeys([*uses, *(t for c in chunk_uses for t in c)]))

    def order(extra: Counter) -> list:
        return sorted(universe, key=lambda t: -(uses[t] + extra[t]))

    whole = order(sum(chunk_uses, Counter()))
    return any(order(c) != whole for c in chunk_uses)


def stubbed(data: bytes, code: Code, keep: range) -> bytes:
    """`data` with every body outside `keep` replaced by STUB."""
    view = memoryview(data)
    n = len(code.bodies)
    body = b"".join((uleb(n),
                     STUB * keep.start,
                     view[code.bodies[keep.start][0]:code.bodies[keep.stop - 1][1]] if len(keep) else b"",
                     STUB * (n - keep.stop)))
    return b"".join((view[:code.start], bytes((CODE_SECTION,)), uleb(len(body)), body, view[code.end:]))


def pieces(data: bytes):
    """A big module as Binaryen reads it in a plain transform, one chunk at
    a time (`cut`); a module that is not cut, whole, as it is. The loader's
    probe (load._probe_binaryen_read) reads these, so that proving Binaryen
    survives the module never holds more of it than a chunk: segment bytes
    are opaque to Binaryen's reader, and every body is read in one chunk."""
    c = cut(data, chunk_bytes())
    if c is None:
        yield data
        return
    for run in c.runs:
        yield stubbed(c.base, c.code, run)


def merge(outputs: list[bytes]) -> bytes | None:
    """One module from Binaryen's outputs of the chunks; None when they
    differ anywhere else than in the bodies and local names (see the
    module docstring)."""
    if len(outputs) == 1:
        return outputs[0]
    layouts = [list(sections(o)) for o in outputs]
    if len({tuple(sid for sid, *_ in x) for x in layouts}) != 1:
        return None
    first = outputs[0]
    owner: list[int] = []       # for each function (imports first): the chunk with its body
    parts: list[bytes | memoryview] = [memoryview(first)[:8]]
    for j, (sid, _, end, payload) in enumerate(layouts[0]):
        own = [memoryview(o)[x[j][1]:x[j][2]] for o, x in zip(outputs, layouts, strict=True)]
        merged: bytes | memoryview | None
        if sid == CODE_SECTION:
            merged = _merge_code(outputs, [x[j] for x in layouts], owner)
            owner[:0] = [0] * function_counts(first)[1]
        elif all(o == own[0] for o in own[1:]):
            merged = own[0]
        elif sid == 0 and _custom_name(first, payload, end)[0] == b"name":
            merged = _merge_names(outputs, [x[j] for x in layouts], owner)
        else:
            merged = None
        if merged is None:
            return None
        parts.append(merged)
    return b"".join(parts)


def _merge_code(outputs, places, owner: list[int]) -> bytes | None:
    """The code section, each body from the chunk where it is not a stub;
    `owner` gets that chunk (0 where every chunk has the same body)."""
    codes = [_bodies(o, payload) for o, (_, _, _, payload) in zip(outputs, places, strict=True)]
    count = len(codes[0])
    if any(len(c) != count for c in codes):
        return None
    views = [memoryview(o) for o in outputs]
    pieces: list[bytes | memoryview] = [uleb(count)]
    for i in range(count):
        chosen, body = 0, views[0][codes[0][i][0]:codes[0][i][1]]
        for c in range(1, len(outputs)):
            other = views[c][codes[c][i][0]:codes[c][i][1]]
            if other == body:
                continue
            if body == STUB:
                chosen, body = c, other
            elif other != STUB:
                return None             # two chunks changed the same function
        owner.append(chosen)
        pieces.append(body)
    return section(CODE_SECTION, b"".join(pieces))


def _bodies(data: bytes, payload: int) -> list[tuple[int, int]]:
    """Where each entry (size prefix included) of the code section whose
    payload starts at `payload` is."""
    count, pos = _leb(data, payload)
    bodies = []
    for _ in range(count):
        size, body = _leb(data, pos)
        bodies.append((pos, body + size))
        pos = body + size
    return bodies


def _merge_names(outputs, places, owner: list[int]) -> bytes | None:
    """The name section, with each function's local names from the chunk
    its body came from; every other subsection must be the same in every
    chunk."""
    subs = []
    for o, (_, _, end, payload) in zip(outputs, places, strict=True):
        _, pos = _custom_name(o, payload, end)
        subs.append(_subsections(o, pos, end))
    if len({tuple(k for k, _ in s) for s in subs}) != 1:
        return None
    out: list[bytes | memoryview] = []
    for k, (sid, _) in enumerate(subs[0]):
        own = [s[k][1] for s in subs]
        if sid == LOCAL_NAMES:
            entries = [_local_entries(o) for o in own]
            chosen = []
            for index in sorted(set().union(*entries)):
                c = owner[index] if index < len(owner) else 0
                entry = entries[c].get(index)
                if entry is not None:
                    chosen.append(entry)
            out.append(section(sid, b"".join([uleb(len(chosen)), *chosen])))
        elif any(o != own[0] for o in own[1:]):
            return None
        else:
            out.append(section(sid, bytes(own[0])))
    return custom_section(b"name", b"".join(out))


def _subsections(data: bytes, pos: int, end: int) -> list[tuple[int, memoryview]]:
    out = []
    view = memoryview(data)
    while pos < end:
        sid = data[pos]
        size, p = _leb(data, pos + 1)
        out.append((sid, view[p:p + size]))
        pos = p + size
    return out


def _local_entries(sub: memoryview) -> dict[int, memoryview]:
    """Function index -> its entry (index and name map) in a local-names
    subsection."""
    data = bytes(sub)
    r = _Reader(data)
    out = {}
    for _ in range(r.u32()):
        start = r.pos
        index = r.u32()
        for _ in range(r.u32()):
            r.u32()
            r.name()
        out[index] = sub[start:r.pos]
    return out



# How often merge found the outputs different (for tests and reports).
stats = {"fallbacks": 0}
