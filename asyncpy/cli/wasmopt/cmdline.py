"""A wasm-opt command line as data: the steps to run in order, and the
settings that hold for the whole run.

wasm-opt's own meaning is kept where it is subtle:

* `-O2` at a position runs Binaryen's default pipeline at level 2 there,
  and sets the global optimize/shrink levels. Those levels are global in
  wasm-opt (PassOptions), so every other pass of the run, `--asyncify`
  included, sees the *last* level given by `-O…`, `--optimize-level` or
  `--shrink-level`, wherever it stands.
* pass arguments (`--pass-arg=KEY@VALUE`) are global too: an asyncify
  argument after `--asyncify` still applies to it.
* feature flags combine as Binaryen's ToolOptions do: the features of the
  input (its target_features section), plus every `--enable-X`, minus
  every `--disable-X`; `--mvp-features` disables all, `--all-features`
  enables all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from asyncpy.errors import AsyncpyError

# -O flags as (optimize, shrink); "-O" is "-Os", as in wasm-opt.
OPT_FLAGS = {"-O": (2, 1), "-O0": (0, 0), "-O1": (1, 0), "-O2": (2, 0), "-O3": (3, 0), "-O4": (4, 0),
             "-Os": (2, 1), "-Oz": (2, 2)}

# Feature names as wasm-opt spells them in --enable-X / --disable-X.
FEATURE_FLAGS = {
    "sign-ext": "sign-ext", "mutable-globals": "mutable-globals",
    "nontrapping-float-to-int": "nontrapping-float-to-int", "bulk-memory": "bulk-memory",
    "simd": "simd", "relaxed-simd": "relaxed-simd", "multivalue": "multivalue",
    "reference-types": "reference-types", "threads": "threads",
    "exception-handling": "exception-handling", "tail-call": "tail-call", "memory64": "memory64",
    "multimemory": "multimemory", "multi-memory": "multimemory", "extended-const": "extended-const",
    "gc": "gc", "strings": "strings",
    # Known to wasm-opt 116 but not used by anything asyncpy reads or writes:
    "typed-function-references": None, "gc-nn-locals": None,
}

# Flags that only print or tune wasm-opt itself and change no output.
_NO_EFFECT = {"-n", "--no-validation", "--no-validate", "-d", "--debug",
              "--emit-target-features", "--no-color"}

# Short spellings wasm-opt accepts, mapped to the long ones.
_ALIASES = {"-o": "--output", "-ol": "--optimize-level", "-s": "--shrink-level",
            "-lmu": "--low-memory-unused", "-uim": "--zero-filled-memory", "-ffm": "--fast-math",
            "-iit": "--ignore-implicit-traps", "-tnh": "--traps-never-happen", "-pa": "--pass-arg",
            "-mvp": "--mvp-features", "-all": "--all-features", "-g": "--debuginfo", "-S": "--emit-text",
            "-ism": "--input-source-map", "-osm": "--output-source-map", "-osu": "--output-source-map-url"}
_VALUED = {"--output", "--optimize-level", "--shrink-level", "--pass-arg", "--input-source-map",
           "--output-source-map", "--output-source-map-url"}


@dataclass(frozen=True)
class RunPass:
    name: str                       # a Binaryen pass name, e.g. "post-emscripten"


@dataclass(frozen=True)
class Optimize:
    optimize: int
    shrink: int
    flag: str                       # as given, for messages


@dataclass(frozen=True)
class Asyncify:
    pass


Step = RunPass | Optimize | Asyncify


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    input: str | None = None
    output: str | None = None
    optimize: int = 0               # global levels: the last given
    shrink: int = 0
    low_memory_unused: bool = False
    zero_filled_memory: bool = False
    fast_math: bool = False
    ignore_implicit_traps: bool = False
    debug_info: bool = False
    text: bool = False
    version: bool = False
    help: bool = False
    quiet: bool = False
    pass_args: dict[str, str] = field(default_factory=dict)
    # ("enable" | "disable", a feature name, or None for all)
    feature_ops: list[tuple[str, str | None]] = field(default_factory=list)
    input_source_map: str | None = None
    output_source_map: str | None = None
    output_source_map_url: str | None = None

    @property
    def pass_names(self) -> list[str]:
        return [s.name for s in self.steps if isinstance(s, RunPass)]


_LEVEL = re.compile(r"\A[0-9]+\Z")


def _level(flag: str, value: str, top: int) -> int:
    if not _LEVEL.match(value) or int(value) > top:
        raise AsyncpyError(f"{flag}: expected a level from 0 to {top}, got {value!r}")
    return int(value)


def parse(argv: list[str]) -> Plan:
    """Turn a wasm-opt argument list into a Plan. Pass names are checked
    later, against libbinaryen, before any work (see execute.check)."""
    plan = Plan()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--" or not arg.startswith("-") or arg == "-":
            if plan.input is not None:
                raise AsyncpyError(f"more than one input file: {plan.input} and {arg}")
            plan.input = arg
            continue
        flag, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        flag = _ALIASES.get(flag, flag)
        value = ""
        if flag in _VALUED:
            if eq:
                value = inline
            elif i < len(argv):
                value = argv[i]
                i += 1
            else:
                raise AsyncpyError(f"{arg} needs a value")
        elif eq and (flag in OPT_FLAGS or flag == "--asyncify"):
            raise AsyncpyError(f"{flag} takes no value (got {arg!r})")

        if flag in OPT_FLAGS:
            o, s = OPT_FLAGS[flag]
            plan.optimize, plan.shrink = o, s
            if flag != "-O0":
                plan.steps.append(Optimize(o, s, flag))
        elif flag == "--asyncify":
            plan.steps.append(Asyncify())
        elif flag == "--output":
            plan.output = value
        elif flag == "--optimize-level":
            plan.optimize = _level(flag, value, 4)
        elif flag == "--shrink-level":
            plan.shrink = _level(flag, value, 2)
        elif flag == "--low-memory-unused":
            plan.low_memory_unused = True
        elif flag == "--zero-filled-memory":
            plan.zero_filled_memory = True
        elif flag == "--fast-math":
            plan.fast_math = True
        elif flag in ("--ignore-implicit-traps", "--traps-never-happen"):
            plan.ignore_implicit_traps = True
        elif flag in ("-q", "--quiet"):
            plan.quiet = True
        elif flag == "--debuginfo":
            plan.debug_info = True
        elif flag == "--emit-text":
            plan.text = True
        elif flag == "--version":
            plan.version = True
        elif flag in ("-h", "--help"):
            plan.help = True
        elif flag == "--pass-arg":
            key, _, val = value.partition("@")
            if not key:
                raise AsyncpyError(f"--pass-arg {value!r}: expected KEY or KEY@VALUE")
            plan.pass_args[key] = val
        elif flag == "--mvp-features":
            plan.feature_ops.append(("disable", None))
        elif flag == "--all-features":
            plan.feature_ops.append(("enable", None))
        elif flag == "--detect-features":
            pass                     # the default: the input's target_features section
        elif flag.startswith(("--enable-", "--disable-")):
            op, _, name = flag[2:].partition("-")
            if name not in FEATURE_FLAGS:
                raise AsyncpyError(f"unknown feature flag {arg} (known: "
                                   f"{', '.join(sorted(FEATURE_FLAGS))})")
            if FEATURE_FLAGS[name] is not None:
                plan.feature_ops.append((op, FEATURE_FLAGS[name]))
        elif flag == "--input-source-map":
            plan.input_source_map = value
        elif flag == "--output-source-map":
            plan.output_source_map = value
        elif flag == "--output-source-map-url":
            plan.output_source_map_url = value
        elif flag in _NO_EFFECT:
            pass
        elif flag.startswith("--") and len(flag) > 2 and not eq:
            plan.steps.append(RunPass(flag[2:]))
        elif flag.startswith("--") and eq:
            # Newer wasm-opt: `--pass=ARG` runs the pass with a pass argument of its name.
            plan.steps.append(RunPass(flag[2:]))
            plan.pass_args[flag[2:]] = inline
        else:
            raise AsyncpyError(f"unsupported wasm-opt flag {arg}")
    return plan
