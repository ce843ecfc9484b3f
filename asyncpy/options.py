"""What the user chose, for every step: the analysis and transform options,
the list syntax (Binaryen's: bracket-aware commas, @files, escaped names,
wildcards) and the -O levels with wasm-opt's meaning."""

from __future__ import annotations

import re
from dataclasses import dataclass

from asyncpy.abi import DEFAULT_TASK_BLOCK
from asyncpy.errors import AsyncpyError


@dataclass(frozen=True)
class AnalysisOptions:
    imports: tuple[str, ...] | None = None     # None: every import may pause
    ignore_imports: bool = False
    ignore_indirect: bool = False
    remove_list: tuple[str, ...] = ()
    add_list: tuple[str, ...] = ()
    propagate_add_list: bool = False
    only_list: tuple[str, ...] = ()
    narrow_indirect: bool = True

    def __post_init__(self):
        if self.only_list and (self.remove_list or self.add_list):
            raise AsyncpyError("--only-list cannot be combined with --remove-list or --add-list")


_OPEN, _CLOSE = "(<[{", ")>]}"


def parse_list(value: str, *, brackets: bool = True, shown: str | None = None) -> tuple[str, ...]:
    """One list argument, split the way Binaryen's asyncify pass splits it:

    * trailing white space (and NULs) is dropped;
    * if a newline is left, the entries are the lines (a response file,
      one name per line, where a name may hold commas);
    * otherwise they are split on commas, and with `brackets` (the function
      lists, not the import list) pieces are joined again while a
      `(`/`<`/`[`/`{` is open, so that `foo(int, double)` stays one entry
      (String::handleBracketingOperators); unbalanced brackets are an error.

    Entries are stripped of surrounding white space and empty ones dropped
    (Binaryen keeps a leading space, which can only make an entry match
    nothing). The text is the list itself: a command line reads `@file`
    arguments first (asyncpy.cli.lists); `shown` is the argument as given,
    for the error message."""
    text = value.rstrip(" \t\n\r\f\v\0")
    if "\n" in text:
        parts, brackets = text.split("\n"), False
    else:
        parts = text.split(",") if text else []
    if brackets:
        joined, current, depth = [], None, 0
        for part in parts:
            if not part:
                continue
            depth += sum(c in _OPEN for c in part) - sum(c in _CLOSE for c in part)
            current = part if current is None else current + "," + part
            if depth == 0:
                joined.append(current)
                current = None
        if depth != 0:
            given = shown if shown is not None else value
            raise AsyncpyError(f"cannot parse the list {given!r}: unbalanced brackets "
                               "(Binaryen: \"Asyncify: failed to parse lists\")")
        parts = joined
    return tuple(p.strip() for p in parts if p.strip())


_ID_PUNCT = frozenset("!#$%&'*+-./:<=>?@^_`|~")
# A name made only of those characters is stored as it is: the common case,
# tested at C speed (the analysis asks for every function of every list).
_PLAIN_ID = re.compile(r"[A-Za-z0-9!#$%&'*+\-./:<=>?@^_`|~]*")


def escape_name(name: str) -> str:
    """A name the way Binaryen's binary reader stores it: every byte that is
    not a WAT id character becomes `\\xx` (WasmBinaryReader::escape), so a
    C++ name `baz()` is `baz\\28\\29` inside Binaryen."""
    if _PLAIN_ID.fullmatch(name):
        return name
    raw = name.encode("utf-8", "surrogateescape")
    if all(chr(b).isascii() and (chr(b).isalnum() or chr(b) in _ID_PUNCT) for b in raw):
        return name
    return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in _ID_PUNCT)
                   else f"\\{b:02x}" for b in raw)


def wildcard(pattern: str) -> re.Pattern:
    """`*` matches any run of characters (Binaryen's wildcardMatch)."""
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.S)


class ListMatcher:
    """One function list (Binaryen's PatternMatcher): an entry matches a
    function whether it is typed raw (`baz()`) or escaped (`baz\\28\\29`),
    and the function's name may be held in either form too."""

    def __init__(self, entries):
        self.entries = tuple(entries)
        self._forms = [(e, {e, escape_name(e)}) for e in self.entries]
        self._rx = [(e, [wildcard(f) for f in forms]) for e, forms in self._forms if "*" in e]
        self._exact: dict[str, str] = {}
        for e, forms in self._forms:
            if "*" not in e:
                for f in forms:
                    self._exact.setdefault(f, e)

    def entry_for(self, name: str) -> str | None:
        """The entry that matches `name`, or None."""
        for n in (name, escape_name(name)):
            if n in self._exact:
                return self._exact[n]
        for e, rxs in self._rx:
            if any(rx.match(name) for rx in rxs):
                return e
        return None

    def __call__(self, name: str) -> bool:
        return self.entry_for(name) is not None

    def __bool__(self) -> bool:
        return bool(self.entries)


def matches_any(name: str, patterns) -> bool:
    return ListMatcher(patterns)(name)


@dataclass(frozen=True)
class TransformOptions:
    analysis: AnalysisOptions = AnalysisOptions()
    check_bounds: bool = False      # trap before an unwind writes past `end`
    relocatable: bool = False       # import the two globals from env
    export_globals: bool = False
    asserts: bool = False           # trap in uninstrumented code that sees the state change
    memory: str | None = None       # export name of the memory for the buffer (multi-memory)
    data_memory: str = "default"    # "separate": the struct and buffer in a memory of their own
    data_pages: int = 4             # size of that memory, in 64 KiB pages
    # Where a rewind reloads locals: "prologue" (one frame layout, one shared
    # save) or "statement" (each statement restores and saves its own locals
    # on its rewind/unwind edges; faster unoptimised code but much larger:
    # kept for `python -m bench --ablation`).
    restore: str = "prologue"
    # Cost measurement only (`python -m bench --ablation`): parts of the
    # instrumentation left out; such output cannot pause correctly.
    # "noguards": rewind tests are constant false; "nosave"; "norestore".
    ablate: frozenset[str] = frozenset()
    # "loops": every instrumented function with a pause site inside a loop
    # gets a second, fully instrumented copy that only a rewind enters; the
    # function itself keeps just the checks after its calls and the saves
    # (no rewind dispatch, no restore): faster when nothing pauses, at the
    # cost of those functions' size twice (docs/profile-guided.md). "top":
    # only the one with the most pause sites inside loops.
    rewind_copy: str = "none"
    # Only these functions (list syntax, e.g. a profile) may get rewind
    # copies; implies "loops" when rewind_copy is "none". The analysis stays as it is: every function
    # that can pause is still instrumented.
    rewind_copy_list: tuple[str, ...] = ()
    # `asyncpy profile`: every instrumented function calls the import
    # asyncpy_profile.unwind(id) as it saves its frame; id indexes
    # the analysis's `instrument` list.
    trace_unwind: bool = False

    def __post_init__(self):
        if self.rewind_copy not in ("none", "loops", "top"):
            raise AsyncpyError(f"rewind_copy must be 'none', 'loops' or 'top', not {self.rewind_copy!r}")


# -O levels as (optimize, shrink), with wasm-opt's meaning (-O is -Os).
OPT_LEVELS = {"O0": None, "O": (2, 1), "O1": (1, 0), "O2": (2, 0), "O3": (3, 0), "O4": (4, 0),
              "Os": (2, 1), "Oz": (2, 2)}


@dataclass(frozen=True)
class LinkOptions:
    """How the bundled task runtime is linked in (asyncpy.link)."""
    wrap: tuple[str, ...] | None = None     # exports to wrap; None: none
    wrap_all: bool = False                  # every function export (but NOT_WRAPPED)
    block_size: int = DEFAULT_TASK_BLOCK         # bytes per task (header, buffer, shadow stack)
    stack_pointer: str | None = None        # global name; None: find it
    allocator: str | None = None            # function/export name, "grow"; None: find it

    @property
    def wraps(self) -> bool:
        return self.wrap_all or bool(self.wrap)
