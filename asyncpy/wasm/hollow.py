"""Data segments' bytes go around Binaryen, not through it.

The transform never reads or changes the bytes of a data segment, but
Binaryen would hold every one in its IR, then write them into its growing
output buffer and into the copy of that buffer it hands back: for CUE's
17 MB of data, about 50 MB of the transform's peak memory. So a plain
transform (pipeline.transform_loaded, when nothing adds or moves data)
gives Binaryen the module with every segment's bytes emptied, and puts the
input's data section back into Binaryen's output.

    input:   ... code | data: 3 segments, 17 MB            | name ...
    Binaryen ... code | data: 3 segments, 0 bytes each     | name ...
    output:  ... code'| data: the input's section, as it was | name ...

What makes that sound: a segment keeps its flags, memory and offset
expression, so segments keep their indices, and `memory.init`, `data.drop`
and the analysis see the same module; only the bytes are missing while
Binaryen has it. Binaryen writes the segments it read, in order (`restore`
checks their count), and the spliced output is validated in wasmtime like
every output.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncpy.errors import AsyncpyError
from asyncpy.wasm.binary import DATA_SECTION, _leb, data_section, sections, uleb


@dataclass(frozen=True)
class Hollowed:
    """What `restore` puts back (the hollowed module itself is not kept:
    once Binaryen has read it, it is garbage)."""
    section: memoryview     # the input's data section, header included
    count: int              # its segments


def hollow(data: bytes) -> tuple[bytes, Hollowed] | None:
    """The input with empty data segments, and what to put back; None when
    there is nothing to gain or a segment has a shape this reader does not
    know (Binaryen then reads the module as it is)."""
    section = data_section(data)
    if section is None:
        return None
    view = memoryview(data)
    heads: list[bytes | memoryview] = [uleb(len(section.segments))]
    for seg in section.segments:
        heads.append(view[seg.start:seg.head_end])     # flags, memory, offset
        heads.append(b"\0")                             # no bytes
    body = b"".join(heads)
    if len(body) >= section.end - section.payload:
        return None
    module = b"".join((view[:section.start], bytes((DATA_SECTION,)), uleb(len(body)), body,
                       view[section.end:]))
    return module, Hollowed(view[section.start:section.end], len(section.segments))


def restore(wasm: bytes, hollowed: Hollowed) -> bytes:
    """Binaryen's output of a hollowed module, with the input's data
    section back in place of the empty one."""
    for sid, start, end, payload in sections(wasm):
        if sid == DATA_SECTION:
            count, _ = _leb(wasm, payload)
            if count != hollowed.count:
                raise AsyncpyError(f"internal error: Binaryen wrote {count} data segments for the "
                                   f"{hollowed.count} it read (please report it with the input)")
            view = memoryview(wasm)
            return b"".join((view[:start], hollowed.section, view[end:]))
    raise AsyncpyError("internal error: Binaryen wrote no data section for a module with one "
                       "(please report it with the input)")
