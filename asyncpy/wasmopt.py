"""`asyncpy-wasm-opt`: a stand-in for `wasm-opt` in builds that run
`wasm-opt --asyncify`, so that a toolchain can be pointed at asyncpy
without changing its scripts. TinyGo, for example, runs

    $WASMOPT --asyncify -Oz -g in.wasm --output out.wasm

so `WASMOPT=asyncpy-wasm-opt tinygo build ...` makes TinyGo use asyncpy.

Understood: the input file, `-o`/`--output`, `--asyncify`, `-O`, `-O0`..`-O4`,
`-Os`, `-Oz`, `-g`/`--debuginfo`, `-S`/`--emit-text`, the asyncify pass
arguments (`--pass-arg=asyncify-imports@env.sleep`, also as two words), and
feature flags (`--enable-*`, `--disable-*`, `--all-features`, `-all`,
`--detect-features`), which are accepted and ignored because asyncpy takes
the features from the input. Anything else is an error naming the flag:
silently ignoring a pass a build asked for would produce a different
program.
"""

from __future__ import annotations

import sys

from asyncpy.analysis import AnalysisOptions, split_list
from asyncpy.errors import AsyncpyError, one_line_errors

USAGE = "usage: asyncpy-wasm-opt [--asyncify] [-O|-O0..-O4|-Os|-Oz] [-g] [--pass-arg=KEY@VALUE]... INPUT -o OUTPUT"

_LIST_ARGS = {"asyncify-removelist": "remove_list", "asyncify-addlist": "add_list",
              "asyncify-onlylist": "only_list", "asyncify-blacklist": "remove_list",
              "asyncify-whitelist": "only_list"}
_FLAG_ARGS = {"asyncify-ignore-imports": "ignore_imports", "asyncify-ignore-indirect": "ignore_indirect",
              "asyncify-propagate-addlist": "propagate_add_list"}
_IGNORED_FEATURE_FLAGS = ("--enable-", "--disable-")


def parse(argv: list[str]) -> dict:
    from asyncpy.pipeline import OPT_LEVELS

    out = {"input": None, "output": None, "asyncify": False, "optimize": None, "text": False,
           "pass_args": {}}
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1

        def value() -> str:
            nonlocal i
            if i >= len(argv):
                raise AsyncpyError(f"{a} needs a value")
            i += 1
            return argv[i - 1]

        if a in ("-o", "--output"):
            out["output"] = value()
        elif a.startswith("--output="):
            out["output"] = a.split("=", 1)[1]
        elif a == "--asyncify":
            out["asyncify"] = True
        elif a.startswith("-O") and a[1:] in OPT_LEVELS:
            out["optimize"] = OPT_LEVELS[a[1:]]
        elif a in ("-g", "--debuginfo", "-q", "--quiet", "--detect-features", "--all-features", "-all",
                   "--mvp-features", "-mvp") or a.startswith(_IGNORED_FEATURE_FLAGS):
            pass
        elif a in ("-S", "--emit-text"):
            out["text"] = True
        elif a == "--pass-arg" or a == "-pa" or a.startswith("--pass-arg="):
            spec = value() if "=" not in a else a.split("=", 1)[1]
            key, _, val = spec.partition("@")
            out["pass_args"][key] = val
        elif a.startswith("-") and a != "-":
            raise AsyncpyError(f"unsupported wasm-opt flag {a} (asyncpy-wasm-opt runs --asyncify and -O levels only)")
        elif out["input"] is None:
            out["input"] = a
        else:
            raise AsyncpyError(f"more than one input file: {out['input']} and {a}")
    if out["input"] is None:
        raise AsyncpyError("no input file\n" + USAGE)
    return out


def options_from_pass_args(args: dict[str, str]):
    from asyncpy.transform import TransformOptions

    kw: dict = {}
    extra: dict = {}
    for key, val in args.items():
        if key == "asyncify-imports":
            kw["imports"] = split_list([val]) if val else ()
        elif key in _LIST_ARGS:
            kw[_LIST_ARGS[key]] = split_list([val])
        elif key in _FLAG_ARGS:
            kw[_FLAG_ARGS[key]] = True
        elif key == "asyncify-asserts":
            extra["asserts"] = True
        elif key == "asyncify-relocatable":
            extra["relocatable"] = True
        elif key == "asyncify-memory":
            extra["memory"] = val
        elif key.startswith("asyncify-"):
            raise AsyncpyError(f"unsupported asyncify pass argument {key}")
        else:
            raise AsyncpyError(f"unsupported pass argument {key} (only asyncify-* arguments are understood)")
    return TransformOptions(analysis=AnalysisOptions(**kw), **extra)


def run(argv: list[str]) -> int:
    from asyncpy import binaryen
    from asyncpy.loader import load
    from asyncpy.output import output_target, write_output
    from asyncpy.pipeline import read_module, transform_loaded

    args = parse(argv)
    output = args["output"]
    if output is None:
        raise AsyncpyError("no output file (-o OUTPUT); asyncpy-wasm-opt does not print modules to stdout")
    output_target(output, input=args["input"])     # before the work
    loaded = load(args["input"])
    if args["asyncify"]:
        result = transform_loaded(loaded, options_from_pass_args(args["pass_args"]),
                                  optimize=args["optimize"], text=args["text"])
        data = result.wasm
    else:
        if args["pass_args"]:
            raise AsyncpyError("pass arguments given without --asyncify")
        from asyncpy.analysis import collect_facts

        with read_module(loaded) as m:
            m.features = binaryen.feature_mask(collect_facts(m).features)
            if args["optimize"] is not None:
                m.optimize(*args["optimize"])
            data = m.text().encode() if args["text"] else m.write()
    write_output(output, data, input=args["input"])
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["-h"], ["--help"]):
        print(__doc__.strip() + "\n\n" + USAGE)
        sys.exit(0)
    with one_line_errors("asyncpy-wasm-opt"):
        sys.exit(run(argv))


if __name__ == "__main__":  # pragma: no cover
    main()
