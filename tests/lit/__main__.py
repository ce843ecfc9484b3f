"""python -m tests.lit [--update] [FILE...]: check (or regenerate) the lit files."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from tests.lit import files, parse, transform_text, update


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lit", description=__doc__)
    ap.add_argument("--update", action="store_true", help="rewrite the OUTPUT sections from the current code")
    ap.add_argument("files", nargs="*", type=Path, help="lit files (default: all of tests/lit/*.wat)")
    a = ap.parse_args(argv)
    paths = [p.resolve() for p in a.files] or files()
    if a.update:
        changed = update(paths)
        for p in changed:
            print(f"updated {p.name}")
        print(f"{len(paths)} lit files, {len(changed)} changed")
        return 0
    bad = 0
    for p in paths:
        lit = parse(p)
        got = transform_text(lit)
        if got != lit.expected:
            bad += 1
            sys.stdout.writelines(difflib.unified_diff((lit.expected or "").splitlines(keepends=True),
                                                       got.splitlines(keepends=True),
                                                       f"{p.name} (expected)", f"{p.name} (now)"))
    print(f"{len(paths)} lit files, {bad} differ" + (" (python -m tests.lit --update)" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
