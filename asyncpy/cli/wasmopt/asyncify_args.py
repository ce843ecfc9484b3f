"""Binaryen's asyncify pass arguments mapped onto asyncpy's options.

Every argument Binaryen's pass reads is understood; an `asyncify-*`
argument it does not know is an error, as a typo would otherwise silently
change which functions are instrumented. The lists are split by the same
code as `asyncpy analyze/transform` (asyncpy.analysis.parse_list), which
follows Binaryen's rules.

Differences, on purpose or forced, are documented where they happen:

* `asyncify-memory@NAME` names an *exported* memory, as in Binaryen; and as
  in Binaryen it only matters when the module has more than one memory.
* `asyncify-in-secondary-memory` maps to `--data-memory separate`, with
  `asyncify-secondary-memory-size@N` pages (Binaryen's default 1). Binaryen
  adds that memory unexported and leaves the data struct to the program;
  asyncpy exports it (as `asyncify_memory`) and puts a ready struct at
  address 0, so a host can also use it. The pointer passed to
  asyncify_start_unwind/rewind is an address in that memory in both.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncpy.cli.lists import list_arg
from asyncpy.errors import AsyncpyError
from asyncpy.options import AnalysisOptions

_FLAGS = ("asyncify-ignore-imports", "asyncify-ignore-indirect", "asyncify-asserts", "asyncify-verbose",
          "asyncify-propagate-addlist", "asyncify-relocatable", "asyncify-import-globals",
          "asyncify-export-globals", "asyncify-in-secondary-memory")
_VALUES = ("asyncify-imports", "asyncify-removelist", "asyncify-blacklist", "asyncify-addlist",
           "asyncify-onlylist", "asyncify-whitelist", "asyncify-memory", "asyncify-secondary-memory-size")
KNOWN = _FLAGS + _VALUES


@dataclass(frozen=True)
class AsyncifyArgs:
    analysis: AnalysisOptions
    asserts: bool = False
    verbose: bool = False
    relocatable: bool = False
    export_globals: bool = False
    memory: str | None = None           # asyncify-memory: used only with several memories
    secondary_memory: bool = False
    secondary_pages: int = 1


def check_names(args: dict[str, str]) -> None:
    for key in args:
        if key.startswith("asyncify-") and key not in KNOWN:
            raise AsyncpyError(f"unsupported asyncify pass argument {key} (known: {', '.join(KNOWN)})")


def _list(args: dict[str, str], key: str, old: str | None = None) -> tuple[str, ...]:
    value = args.get(key, "")
    if not value and old:               # the old name, used only when the new one is empty
        value = args.get(old, "")
    return list_arg(value) if value else ()


def from_pass_args(args: dict[str, str]) -> AsyncifyArgs:
    check_names(args)
    # No list, or an empty one (even from an empty response file): every
    # import may pause, as in Binaryen.
    imports = list_arg(args.get("asyncify-imports", ""), brackets=False) or None
    size = args.get("asyncify-secondary-memory-size", "1")
    if not size.isdigit() or int(size) < 1 or int(size) > 65536:
        raise AsyncpyError(f"asyncify-secondary-memory-size@{size}: expected a number of pages (1-65536)")
    only = _list(args, "asyncify-onlylist", "asyncify-whitelist")
    remove = _list(args, "asyncify-removelist", "asyncify-blacklist")
    add = _list(args, "asyncify-addlist")
    if only and (remove or add):
        raise AsyncpyError("It makes no sense to use both an asyncify only-list together with another list.")
    analysis = AnalysisOptions(
        imports=imports,
        ignore_imports="asyncify-ignore-imports" in args,
        ignore_indirect="asyncify-ignore-indirect" in args,
        remove_list=remove, add_list=add, only_list=only,
        propagate_add_list="asyncify-propagate-addlist" in args)
    return AsyncifyArgs(
        analysis=analysis,
        asserts="asyncify-asserts" in args,
        verbose="asyncify-verbose" in args,
        relocatable="asyncify-relocatable" in args or "asyncify-import-globals" in args,
        export_globals="asyncify-export-globals" in args,
        memory=args.get("asyncify-memory") or None,
        secondary_memory="asyncify-in-secondary-memory" in args,
        secondary_pages=int(size))
