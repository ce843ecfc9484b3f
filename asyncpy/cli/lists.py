"""List arguments as the command lines take them: a value that starts with
`@` is a response file (Binaryen's read_possible_response_file) whose
contents are the list. Reading files is the command line's job, so it
lives here; asyncpy.options.parse_list only splits text."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from asyncpy.errors import AsyncpyError
from asyncpy.options import parse_list


def read_list_value(value: str) -> str:
    """The list text of one argument: `@path` is that file's contents."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(errors="surrogateescape")
        except OSError as e:
            raise AsyncpyError(f"cannot read list file {path}: {e.strerror or e}") from None
    return value


def list_arg(value: str, *, brackets: bool = True) -> tuple[str, ...]:
    """One list argument (text or @file), split as Binaryen splits it."""
    return parse_list(read_list_value(value), brackets=brackets, shown=value)


def split_list(values: Iterable[str], *, brackets: bool = True) -> tuple[str, ...]:
    """Several list arguments (a repeated option) as one list."""
    out: list[str] = []
    for value in values:
        out.extend(list_arg(value, brackets=brackets))
    return tuple(out)
