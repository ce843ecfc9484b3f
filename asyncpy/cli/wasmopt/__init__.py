"""`asyncpy-wasm-opt`: a drop-in `wasm-opt` whose `--asyncify` is asyncpy.

Give it to a build as its wasm-opt (Emscripten runs `wasm-opt` from PATH;
TinyGo takes `WASMOPT=asyncpy-wasm-opt`). It runs the whole command line
in order through libbinaryen 116, as wasm-opt would, and replaces only the
`--asyncify` pass by asyncpy's transform at its position.

  passes        --NAME for every Binaryen pass (--post-emscripten, --strip-debug,
                --print-function-map, ...); an unknown name is an error before any work
  -O, -O0..-O4, -Os, -Oz
                run Binaryen's default pipeline there; also set the global levels
                (as in wasm-opt, every other pass of the run sees the last level given)
  --optimize-level N, --shrink-level N, --low-memory-unused, --zero-filled-memory,
  --fast-math   global pass options, as in wasm-opt
  --ignore-implicit-traps, --traps-never-happen
                accepted, not applied (libbinaryen 116's C API cannot set them;
                a warning says so; the output is correct, only less optimised)
  --pass-arg=KEY@VALUE (also -pa KEY@VALUE)
                pass arguments; every asyncify-* argument of Binaryen's pass is
                understood (imports, ignore-imports, ignore-indirect, asserts, verbose,
                removelist/blacklist, addlist, propagate-addlist, onlylist/whitelist,
                relocatable/import-globals, export-globals, memory,
                in-secondary-memory, secondary-memory-size); lists split like Binaryen's
                (commas, but not inside (), <>, [], {}; @FILE: one name per line);
                names match raw (`foo(int, double)`) or escaped (`foo\\28int...`)
  feature flags --enable-X, --disable-X, --mvp-features, --all-features, --detect-features:
                the input's target_features, plus enabled, minus disabled
  -g            keep the name section (without it, no names are written, as in wasm-opt)
  -S            write text; -o FILE; --output-source-map FILE [--output-source-map-url URL]
  --version     prints `wasm-opt version 116 (asyncpy-wasm-opt ...)`

Custom sections: dylink.0 stays first; producers and others are kept
unless a strip pass removes them. DWARF is dropped (with a warning unless
--strip-dwarf/--strip-debug asked for it): libbinaryen cannot update it.
--input-source-map is refused: libbinaryen 116's C API cannot read one.
Without -o nothing is written (passes that print, e.g.
--print-function-map, still print).

Errors are one line, `asyncpy-wasm-opt: error: ...`, exit status 1.
"""

from __future__ import annotations

import sys

USAGE = "usage: asyncpy-wasm-opt [wasm-opt flags and passes]... INPUT [-o OUTPUT]"
# The Binaryen release whose passes run here (icpp-binaryen's libbinaryen).
BINARYEN_VERSION = 116


def version_line() -> str:
    from asyncpy import __version__

    # Emscripten reads the third word as the Binaryen version.
    return f"wasm-opt version {BINARYEN_VERSION} (asyncpy-wasm-opt {__version__})"


def run(argv: list[str]) -> int:
    from asyncpy.cli.wasmopt.cmdline import parse
    from asyncpy.cli.wasmopt.execute import execute
    from asyncpy.wasm.output import output_target, write_output

    plan = parse(argv)
    if plan.help:
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0
    if plan.version:
        print(version_line())
        return 0
    for path in (plan.output, plan.output_source_map):
        if path is not None:
            # Before the work. The output may be the input: builds run
            # `wasm-opt x.wasm -o x.wasm`; the input is read whole first and
            # the file replaced atomically.
            output_target(path)
    outcome = execute(plan)
    for w in outcome.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if plan.output is None:
        if not plan.quiet:
            print("warning: no output file specified, not emitting output", file=sys.stderr)
    else:
        data = outcome.text.encode() if outcome.text is not None else outcome.wasm
        assert data is not None
        write_output(plan.output, data)
        if plan.output_source_map is not None and outcome.source_map is not None:
            write_output(plan.output_source_map, outcome.source_map.encode())
    return 0


def main(argv: list[str] | None = None) -> None:
    from asyncpy.errors import one_line_errors

    argv = sys.argv[1:] if argv is None else argv
    with one_line_errors("asyncpy-wasm-opt"):
        code = run(argv)
        sys.stdout.flush()
        sys.exit(code)
