"""Make untrusted bytes safe for libbinaryen before it reads them.

libbinaryen calls Fatal() (killing the process) on some inputs a
validating engine accepts: DWARF it cannot parse, name-section entries that
collide with its own reserved names, odd target_features entries. So
custom sections are stripped or cleaned here, in pure Python, and names the
text format cannot carry are detected before a step that needs them."""

from __future__ import annotations

import re

from asyncpy.errors import InputError
from asyncpy.wasm.binary import _custom_name, _Reader, custom_section, interface_names, sections, uleb


def strip_custom_sections(data: bytes) -> bytes:
    """Drop every custom section but `name` and `target_features`, and
    rebuild those two from the parts that are well-formed and safe."""
    out = [data[:8]]
    for sid, start, end, payload in sections(data):
        if sid == 0:
            try:
                cname, body = _custom_name(data, payload, end)
            except InputError:
                continue
            if cname == b"name":
                cleaned = clean_name_section(bytes(data[body:end]))
            elif cname == b"target_features":
                cleaned = clean_target_features(bytes(data[body:end]))
            else:
                continue
            if cleaned is not None:
                out.append(custom_section(cname, cleaned))
            continue
        out.append(data[start:end])
    return b"".join(out)


_NAME_MAPS = {0: "module", 1: "function", 4: "type", 5: "table", 6: "memory", 7: "global",
              8: "elem", 9: "data", 11: "tag"}


_INDIRECT_MAPS = {2: "local", 3: "label", 10: "field"}


RESERVED_NAMES = {
    1: {"asyncify_start_unwind", "asyncify_stop_unwind", "asyncify_start_rewind",
        "asyncify_stop_rewind", "asyncify_get_state"},
    7: {"__asyncify_state", "__asyncify_data"},
    6: {"asyncify_memory"},
    9: {"asyncify_memory_init"},
}


# Printable ASCII only: Binaryen 116's printer and parser disagree on
# control characters and on some multi-byte UTF-8 (its text round trip
# aborts on a function named "\u65e5\u672c").
_SAFE_NAME = re.compile(rb"\A[\x20-\x7e]{1,1024}\Z")


# The module's own name is printed without escaping (`(module $a b` for
# "a b"), so it must be a plain WAT identifier.
_IDCHARS = re.compile(rb"\A[0-9A-Za-z!#$%&'*+\-./:<=>?@^_`|~]+\Z")


def safe_name(raw: bytes, reserved=frozenset()) -> bool:
    """Can Binaryen carry this name through every step without aborting?"""
    return bool(_SAFE_NAME.match(raw)) and not raw.isdigit() and raw.decode() not in reserved


def _clean_map(r: _Reader, reserved=frozenset(), dedupe: bool = True) -> bytes:
    """A name map (vec of index, name, increasing indices), keeping the safe
    names; with `dedupe`, each name once. (Binaryen makes duplicate function
    names unique itself, as `name.1`, `name.2`..., and Go emits some: those
    are kept, so that names match what Binaryen's own pass sees.)"""
    kept, seen, last = [], set(), -1
    for _ in range(r.u32()):
        index, raw = r.u32(), r.name()
        if index <= last:
            raise InputError("name map out of order")
        last = index
        if safe_name(raw, reserved) and (raw not in seen or not dedupe):
            seen.add(raw)
            kept.append(uleb(index) + uleb(len(raw)) + raw)
    return uleb(len(kept)) + b"".join(kept)


def clean_name_section(body: bytes) -> bytes | None:
    """The name section's payload with unsafe names left out; None if it is
    malformed (then the whole section is dropped)."""
    try:
        r = _Reader(body)
        out, last = [], -1
        while r.pos < r.end:
            sid = r.bytes(1)[0]
            size = r.u32()
            sub = _Reader(body, r.pos, r.pos + size)
            r.bytes(size)
            if sid <= last:
                raise InputError("name subsections out of order")
            last = sid
            if sid == 0:
                raw = sub.name()
                if sub.pos != sub.end:
                    raise InputError("trailing bytes")
                if not safe_name(raw) or not _IDCHARS.match(raw):
                    continue
                cleaned = uleb(len(raw)) + raw
            elif sid in _NAME_MAPS:
                cleaned = _clean_map(sub, RESERVED_NAMES.get(sid, frozenset()), dedupe=sid != 1)
            elif sid in _INDIRECT_MAPS:
                groups, prev = [], -1
                for _ in range(sub.u32()):
                    outer = sub.u32()
                    if outer <= prev:
                        raise InputError("indirect name map out of order")
                    prev = outer
                    groups.append(uleb(outer) + _clean_map(sub))
                cleaned = uleb(len(groups)) + b"".join(groups)
            else:
                continue            # a subsection Binaryen 116 does not know
            if sub.pos != sub.end:
                raise InputError("trailing bytes in a name subsection")
            out.append(bytes([sid]) + uleb(len(cleaned)) + cleaned)
        return b"".join(out)
    except (InputError, IndexError):
        return None


_FEATURE_NAME = re.compile(rb"\A[a-z0-9][a-z0-9_-]{0,63}\Z")


def clean_target_features(body: bytes) -> bytes | None:
    """The target_features payload, if it is well-formed (a vec of a prefix
    byte '+', '-' or '=' and a feature name); else None."""
    try:
        r = _Reader(body)
        for _ in range(r.u32()):
            if r.bytes(1) not in (b"+", b"-", b"="):
                return None
            if not _FEATURE_NAME.match(r.name()):
                return None
        return body if r.pos == r.end else None
    except InputError:
        return None


def check_interface_names(data: bytes, path: str) -> None:
    names = interface_names(data)
    if names is None:
        return
    imports, exports = names
    for what, name in [("import", f"{m}.{f}") for m, f in imports if "\0" in m + f] + \
                      [("export", e) for e in exports if "\0" in e]:
        raise InputError(f"{path}: {what} name {name!r} contains a NUL byte, which Binaryen 116 "
                         "cannot represent (the output would name something else)")


def text_unsafe_name(data: bytes) -> str | None:
    """The first import or export name that Binaryen 116's text round trip
    (used by `--data-memory separate`) cannot carry: its printer writes
    quotes and backslashes unescaped and an empty import name as nothing,
    and the parser then calls Fatal(). None if every name is safe."""
    names = interface_names(data)
    if names is None:
        return None
    imports, exports = names
    for name in [m for m, _ in imports] + [f for _, f in imports] + exports:
        if not name or any(c in name for c in '"\\\0'):
            return name
    return None
