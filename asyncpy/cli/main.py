"""The `asyncpy` command line.

Every command reads a module (`.wasm` or `.wat`), reports problems as one
line on stderr with exit status 1, and offers `--json` for scripts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from asyncpy import __version__
from asyncpy.errors import AsyncpyError, one_line_errors
from asyncpy.options import AnalysisOptions
from asyncpy.progress import Terminal, plural

_EPILOG_LISTS = """\b
Lists (same meaning as Binaryen's asyncify pass arguments):
  patterns use * as a wildcard; a value may hold several entries separated
  by commas or newlines, and @FILE reads the entries from FILE.
"""


def analysis_options(f):
    """Options shared by every command that runs the analysis."""
    opts = [
        click.option("--imports", "imports", multiple=True, metavar="PATTERNS",
                     help="Imports that may pause, as module.base patterns "
                          "(e.g. 'env.sleep,wasi_snapshot_preview1.poll_oneoff'). "
                          "Default: every import may pause."),
        click.option("--ignore-imports", is_flag=True, help="Assume no import pauses."),
        click.option("--ignore-indirect", is_flag=True,
                     help="Assume no indirect call (call_indirect, call_ref) pauses."),
        click.option("--no-narrow", is_flag=True,
                     help="Assume every indirect call may pause, as Binaryen's pass does, "
                          "instead of narrowing by type and table contents."),
        click.option("--remove-list", multiple=True, metavar="NAMES",
                     help="Functions that never pause (not instrumented, not propagated through)."),
        click.option("--add-list", multiple=True, metavar="NAMES",
                     help="Functions to instrument even if the analysis says they cannot pause."),
        click.option("--propagate-add-list", is_flag=True,
                     help="Also instrument the callers of --add-list functions."),
        click.option("--only-list", multiple=True, metavar="NAMES",
                     help="Instrument exactly these functions (excludes the other lists)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def build_analysis_options(kw) -> AnalysisOptions:
    from asyncpy.cli.lists import split_list

    return AnalysisOptions(
        imports=split_list(kw["imports"], brackets=False) if kw["imports"] else None,
        ignore_imports=kw["ignore_imports"],
        ignore_indirect=kw["ignore_indirect"],
        remove_list=split_list(kw["remove_list"]),
        add_list=split_list(kw["add_list"]),
        propagate_add_list=kw["propagate_add_list"],
        only_list=split_list(kw["only_list"]),
        narrow_indirect=not kw["no_narrow"],
    )


class Group(click.Group):
    """Turns every expected failure into one line and exit status 1, Ctrl-C
    into exit status 130 (asyncpy.errors.one_line_errors)."""

    def invoke(self, ctx):
        # click's own exits (--help, usage errors: exit 2) are click's to report.
        with one_line_errors("asyncpy", passthrough=(click.exceptions.Exit, click.exceptions.Abort,
                                                     click.ClickException)):
            return super().invoke(ctx)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asyncpy")  # works uninstalled too
def main():
    """asyncpy makes WebAssembly modules pausable.

    \b
    It finds the functions that can reach a blocking import (analyze), and
    instruments them so their call stack can be unwound into a buffer and
    rewound later (transform), with the runtime ABI of `wasm-opt --asyncify`.

    \b
    Examples:
      asyncpy analyze app.wasm --imports 'env.sleep'
      asyncpy analyze app.wasm --why main --imports 'env.*'
      asyncpy analyze app.wasm --json | jq .instrumented
      asyncpy transform app.wasm --imports env.sleep -o app.async.wasm
      asyncpy transform app.wasm --imports env.sleep -O2 -o - > app.async.wasm
      asyncpy run hello.wasm -- arg1 arg2
      asyncpy run app.wasm --host host.py   # host.py: IMPORTS = {"env": {"pause": fn}}
      python -m asyncpy --help              # the same command, without the script

    \b
    MODULE may be '-' to read the module (binary or WAT) from standard input.
    Each command has its own --help with examples. Errors are one line on
    stderr and exit status 1; Ctrl-C exits with 130 and leaves no files behind.
    """


def _analysis_json(path: str, a, seconds: float) -> dict:
    facts = a.facts
    pausing_imports = sorted(f.import_name for n, f in facts.functions.items()
                             if f.imported and n in a.reasons)
    return {
        "schema": "asyncpy.analysis/1",
        "input": path,
        "functions": {"defined": a.defined_count,
                      "imported": len(facts.functions) - a.defined_count},
        "instrumented_count": len(a.instrument),
        "due_to_indirect_count": len(a.due_to_indirect()),
        "pausing_imports": pausing_imports,
        "instrumented": a.instrument,
        "top_most_runtime": sorted(a.top_most),
        "bottom_most_runtime": sorted(a.bottom_most),
        "reasons": {n: {"kind": r.kind, "via": r.via, "detail": r.detail}
                    for n, r in a.reasons.items()},
        "narrowed": a.options.narrow_indirect,
        "warnings": a.warnings,
        "seconds": round(seconds, 3),
    }


@main.command(epilog=_EPILOG_LISTS)
@click.argument("module", type=click.Path(dir_okay=True, path_type=Path))
@analysis_options
@click.option("--why", "why", multiple=True, metavar="NAME",
              help="Explain why NAME can (or cannot) pause: a shortest call path to the cause.")
@click.option("--list", "list_", is_flag=True, help="List the functions that will be instrumented.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document (schema asyncpy.analysis/1).")
def analyze(module, why, list_, as_json, **kw):
    """Report which functions of MODULE can pause, and why.

    \b
    The first line is a summary: how many defined functions can pause and
    how many of those only because of indirect calls. Use --why NAME for the
    call path behind one decision, --list for all names, --json for tools.
    MODULE '-' reads standard input.

    \b
    Examples:
      asyncpy analyze app.wasm --imports env.sleep
      asyncpy analyze app.wasm --imports 'env.*' --why main --why handler
      asyncpy analyze app.wasm --imports wasi_snapshot_preview1.poll_oneoff --list
      asyncpy analyze app.wasm --no-narrow --json | jq .instrumented_count
      cat app.wat | asyncpy analyze -
    """
    from asyncpy.pipeline import analyze_file
    from asyncpy.wasm import STDIN_NAME

    options = build_analysis_options(kw)
    t0 = time.perf_counter()
    a = analyze_file(module, options)
    if str(module) == "-":
        module = STDIN_NAME
    unknown = [n for n in why if n not in a.facts.functions]
    if unknown:
        raise AsyncpyError(f"--why {unknown[0]}: no function of that name (names come from the "
                           "name section; see --list)")
    seconds = time.perf_counter() - t0
    for w in a.warnings:
        click.echo(f"asyncpy: warning: {w}", err=True)
    if as_json:
        doc = _analysis_json(str(module), a, seconds)
        if why:
            doc["why"] = {n: a.explain(n) for n in why}
        click.echo(json.dumps(doc, indent=2))
        return
    n_ind = len(a.due_to_indirect())
    click.echo(f"{module}: {len(a.instrument)} of {plural(a.defined_count, 'function')} can pause "
               f"({n_ind} because of indirect calls; {seconds:.2f}s)")
    pausing_imports = sorted({f.import_name for n, f in a.facts.functions.items()
                              if f.imported and n in a.reasons})
    if pausing_imports:
        shown = ", ".join(pausing_imports[:8]) + (" ..." if len(pausing_imports) > 8 else "")
        click.echo(f"  pausing imports: {shown}")
    if a.top_most:
        click.echo(f"  runtime (pause points, not instrumented): {', '.join(sorted(a.top_most))}")
    if list_:
        for name in a.instrument:
            click.echo(f"  {name}")
    for name in why:
        click.echo(a.explain(name))


def transform_options(f):
    opts = [
        click.option("--check-bounds", is_flag=True,
                     help="Trap before an unwind writes past the buffer's end (Binaryen traps after)."),
        click.option("--relocatable", is_flag=True,
                     help="Import __asyncify_state and __asyncify_data from env instead of defining them."),
        click.option("--export-globals", is_flag=True, help="Export the two globals."),
        click.option("--asserts", is_flag=True,
                     help="Trap in uninstrumented functions when a call returns with the state changed "
                          "(a stack unwound through code that cannot save itself). For debugging."),
        click.option("--rewind-copy", is_flag=True,
                     help="Give every function with a pause site inside a loop a second copy that only "
                          "a rewind enters, so the function itself runs without rewind code: faster when "
                          "nothing pauses (interpreters), those functions twice as large. Pays with "
                          "--only-list (a profile); see docs/profile-guided.md."),
        click.option("--rewind-copy-top", is_flag=True,
                     help="--rewind-copy for one function only: the one with the most pause sites inside "
                          "loops (an interpreter's bytecode loop). With the full analysis, the fast "
                          "choice: QuickJS 1.64x -> 1.04x the uninstrumented run time, 6 percent more "
                          "bytes."),
        click.option("--rewind-copy-list", multiple=True, metavar="NAMES",
                     help="--rewind-copy for these functions only (e.g. @profile.txt: the interpreter "
                          "loop gets a copy while every function that can pause stays instrumented)."),
        click.option("--memory", metavar="EXPORT",
                     help="With several memories: the exported memory that holds the buffer."),
        click.option("--data-memory", type=click.Choice(["default", "separate"]), default="default",
                     show_default=True,
                     help="'separate' puts the data struct and buffer in a new exported memory "
                          "'asyncify_memory', pre-initialised so a host can pause with "
                          "asyncify_start_unwind(0) without allocating in the guest (needed for Go)."),
        click.option("--data-pages", type=click.IntRange(1, 65536), default=4, show_default=True,
                     help="Size of the separate data memory in 64 KiB pages."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def build_transform_options(kw):
    from asyncpy.cli.lists import split_list
    from asyncpy.errors import AsyncpyError
    from asyncpy.options import TransformOptions

    if kw.get("rewind_copy") and kw.get("rewind_copy_top"):
        raise AsyncpyError("--rewind-copy and --rewind-copy-top choose different functions to copy: give one")

    return TransformOptions(analysis=build_analysis_options(kw), check_bounds=kw["check_bounds"],
                            relocatable=kw["relocatable"], export_globals=kw["export_globals"],
                            memory=kw["memory"], data_memory=kw["data_memory"], asserts=kw["asserts"],
                            data_pages=kw["data_pages"],
                            rewind_copy="top" if kw.get("rewind_copy_top") else
                            "loops" if kw.get("rewind_copy") else "none",
                            rewind_copy_list=split_list(kw.get("rewind_copy_list") or ()))


def _opt_level(kw) -> tuple[int, int] | None:
    from asyncpy.options import OPT_LEVELS

    chosen = [k for k in OPT_LEVELS if kw.get(k)]
    if len(chosen) > 1:
        raise AsyncpyError(f"choose one optimisation level, not {' and '.join('-' + c for c in chosen)}")
    return OPT_LEVELS[chosen[0]] if chosen else None


def optimize_options(f):
    for name, help_ in reversed([("O", "Optimise like wasm-opt -O (= -Os) before and after."),
                                 ("O1", "Binaryen -O1 before and after."),
                                 ("O2", "Binaryen -O2 before and after."),
                                 ("O3", "Binaryen -O3 before and after."),
                                 ("O4", "Binaryen -O4 before and after."),
                                 ("Os", "Binaryen -Os before and after."),
                                 ("Oz", "Binaryen -Oz before and after.")]):
        f = click.option(f"-{name}", name, is_flag=True, help=help_)(f)
    return f


def runtime_options(f):
    """The bundled runtime (asyncpy.link): tasks, scheduler, export wrappers."""
    opts = [
        click.option("--reactor", is_flag=True,
                     help="Wrap every exported function (but _initialize, _start and the allocator) "
                          "with Go's //go:wasmexport semantics: each call runs as a new task of the "
                          "bundled runtime; other tasks keep their stacks across calls."),
        click.option("--reactor-exports", "reactor_exports", multiple=True, metavar="NAMES",
                     help="Wrap only these exports (comma-separated; implies the runtime)."),
        click.option("--task-stack", type=click.IntRange(1024), default=None, metavar="BYTES",
                     help="Bytes per task block (header, asyncify buffer, shadow stack). Default 65536."),
        click.option("--task-alloc", metavar="NAME",
                     help="Function (or export) that allocates task blocks, (i32) -> (i32); 'grow' "
                          "takes fresh pages with memory.grow. Default: malloc or asyncpy_malloc if "
                          "present, else 'grow'."),
        click.option("--stack-pointer", metavar="GLOBAL",
                     help="The shadow-stack pointer global the runtime switches per task. "
                          "Default: __stack_pointer, else LLVM's global 0."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def build_link_options(kw):
    """LinkOptions when a runtime option was given, else None (the runtime
    is then linked only if the program imports from "asyncpy")."""
    from asyncpy.cli.lists import split_list
    from asyncpy.link import DEFAULT_BLOCK, LinkOptions

    wrap = split_list(kw.pop("reactor_exports", ()) or ())
    reactor = kw.pop("reactor", False)
    stack, alloc, sp = kw.pop("task_stack", None), kw.pop("task_alloc", None), kw.pop("stack_pointer", None)
    if not (reactor or wrap or stack or alloc or sp):
        return None
    return LinkOptions(wrap=wrap or None, wrap_all=reactor and not wrap, block_size=stack or DEFAULT_BLOCK,
                       allocator=alloc, stack_pointer=sp)


@main.command(epilog=_EPILOG_LISTS)
@click.argument("module", type=click.Path(dir_okay=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Where to write the result (default: MODULE with .async.wasm, or .async.wat with --text; "
                   "standard output when MODULE is '-'). '-' writes to standard output.")
@analysis_options
@transform_options
@optimize_options
@runtime_options
@click.option("--text", is_flag=True, help="Write the text format instead of a binary.")
@click.option("--incremental", is_flag=True,
              help="Keep a big module's chunks (facts and output, under $ASYNCPY_CACHE/chunks) so that the "
                   "next build redoes only the chunks a change touched. Only without -O and --text; "
                   "the output is the same either way.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (schema asyncpy.transform/1).")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress and no summary line. (Progress shows only when stderr is a terminal.)")
def transform(module, output, text, incremental, as_json, quiet, **kw):
    """Instrument MODULE so its call stack can be unwound and rewound.

    \b
    The output has the runtime ABI of `wasm-opt --asyncify`: the globals
    __asyncify_state and __asyncify_data, and the exports
    asyncify_start_unwind(ptr), asyncify_stop_unwind(), asyncify_start_rewind(ptr),
    asyncify_stop_rewind() and asyncify_get_state(). The data struct at ptr
    is {current, end} (i32 each; i64 on memory64); frames grow up from current.

    \b
    MODULE '-' reads standard input; then the output goes to standard output
    unless -o says otherwise. The output is written atomically: an existing
    file is replaced only by a complete new one; a symlink is written through
    (its target replaced); a character device or FIFO gets a plain write.

    \b
    Examples:
      asyncpy transform app.wasm --imports env.sleep -o app.async.wasm
      asyncpy transform app.wasm --imports 'wasi_snapshot_preview1.poll_oneoff' -O2
      asyncpy transform go.wasm --imports wasi_snapshot_preview1.poll_oneoff --data-memory separate
      asyncpy transform reactor.wasm --reactor --ignore-imports -o reactor.async.wasm
      asyncpy transform app.wat --text -o - | less
      cat app.wasm | asyncpy transform - --imports env.sleep > app.async.wasm
      asyncpy transform big.wasm --imports wasi_snapshot_preview1.poll_oneoff --incremental
    """
    from asyncpy.link.link import LinkReport
    from asyncpy.pipeline import transform_loaded
    from asyncpy.wasm import STDIN_NAME, load
    from asyncpy.wasm.output import output_target, write_output

    runtime = build_link_options(kw)
    options = build_transform_options(kw)
    level = _opt_level(kw)
    if incremental and (level is not None or text or options.asserts or options.rewind_copy != "none"
                        or options.rewind_copy_list or options.data_memory == "separate" or runtime):
        raise AsyncpyError("--incremental keeps the chunks of a plain transform: it cannot be used "
                           "with -O, --text, --asserts, --rewind-copy*, --data-memory separate or the "
                           "task runtime")
    if output is None:
        suffix = ".async.wat" if text else ".async.wasm"
        output = Path("-") if str(module) == "-" else module.with_suffix(suffix)
    to_stdout = str(output) == "-"
    # Everything about the output is checked before the work, not after it.
    output_target(output, input=None if str(module) == "-" else module)
    if to_stdout and not text and sys.stdout.isatty():
        raise AsyncpyError("not writing a binary module to a terminal: give -o FILE, redirect "
                           "standard output, or use --text")
    progress = Terminal("asyncpy", enabled=False if quiet else None)
    progress.step(f"reading {'standard input' if str(module) == '-' else module}")
    loaded = load(module)
    cache = None
    if incremental:
        from asyncpy.rebuild import RebuildCache
        cache = RebuildCache()
    result = transform_loaded(loaded, options, optimize=level, text=text, progress=progress, runtime=runtime,
                              cache=cache)
    if str(module) == "-":
        module = STDIN_NAME
    # TransformResult.link is typed `object` (a LinkReport when the runtime was linked).
    if isinstance(result.link, LinkReport) and not quiet:
        for note in result.link.notes:
            click.echo(f"asyncpy: note: {note}", err=True)
    for w in result.analysis.warnings:
        click.echo(f"asyncpy: warning: {w}", err=True)
    if incremental and result.report.chunks == 1 and not quiet:
        click.echo("asyncpy: note: --incremental kept nothing: the module went through Binaryen whole "
                   "(under 4 MiB of code, or its chunks would not merge)", err=True)
    progress.step(f"writing {'standard output' if to_stdout else output}")
    write_output(output, result.wasm, input=None if module == STDIN_NAME else module)
    rep = result.report
    if as_json:
        click.echo(json.dumps({
            "schema": "asyncpy.transform/1",
            "input": str(module),
            "output": str(output),
            "input_bytes": result.input_bytes,
            "output_bytes": result.output_bytes,
            "instrumented_count": len(rep.instrumented),
            "pause_sites": rep.sites,
            "chunks": rep.chunks,
            "chunks_reused": rep.chunks_reused,
            "functions": {f.name: {"sites": f.sites, "saved_locals": f.saved_locals,
                                   "frame_bytes": f.frame_bytes} for f in rep.instrumented},
            "features": sorted(result.features),
            "warnings": result.analysis.warnings,
            "seconds": round(result.seconds, 3),
        }, indent=2), err=to_stdout)
    elif not quiet:
        a = result.analysis
        click.echo(f"{module} -> {output}: instrumented {len(rep.instrumented)} of "
                   f"{plural(a.defined_count, 'function')} ({plural(rep.sites, 'pause site')}), "
                   f"{result.input_bytes} -> {result.output_bytes} bytes "
                   f"({(result.output_bytes - result.input_bytes) / max(result.input_bytes, 1):+.1%}), "
                   f"{result.seconds:.2f}s" + (f", in {rep.chunks} chunks" if rep.chunks > 1 else "") +
                   (f" ({rep.chunks_reused} reused)" if rep.chunks_reused else ""),
                   err=to_stdout)


@main.command(context_settings={"ignore_unknown_options": False})
@click.argument("module", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--instances", type=click.IntRange(1), default=1, show_default=True,
              help="Run N copies concurrently on one event loop; output lines get an '[i] ' prefix.")
@click.option("--imports", "imports", multiple=True, metavar="PATTERNS",
              help="Pausing imports for the on-the-fly transform. Default: "
                   "wasi_snapshot_preview1.poll_oneoff and fd_read, plus the imports of --host.")
@click.option("--host", "host", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.py",
              help="A Python file defining IMPORTS = {'env': {'name': fn}}; fn may be async.")
@click.option("--data-memory", type=click.Choice(["default", "separate"]), default="separate",
              show_default=True, help="Where the transform puts the asyncify buffer (see transform).")
@click.option("--data-pages", type=click.IntRange(1, 65536), default=4, show_default=True,
              help="Size of the separate data memory in 64 KiB pages.")
@click.option("--no-cache", is_flag=True, help="Transform again instead of using the cache.")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE",
              help="An environment variable for the guest.")
@click.option("--dir", "dirs", multiple=True, metavar="HOST[::GUEST]", help="Preopen a host directory.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress while instrumenting (shown only when stderr is a terminal).")
def run(module, args, instances, imports, host, data_memory, data_pages, no_cache, env, dirs, quiet):
    """Run a WASI command with non-blocking WASI on asyncio.

    \b
    MODULE is instrumented on the fly if it is not yet (no asyncify_get_state
    export), cached by content hash in $ASYNCPY_CACHE/transformed (default
    ~/.cache/asyncpy/transformed). Sleeps (poll_oneoff) become asyncio
    sleeps and stdin is read asynchronously. The exit status is the
    program's exit code (with --instances, the first non-zero one).

    \b
    Every import must be supplied before anything runs: WASI comes with
    asyncpy; anything else (say env.pause) from a Python file given with
    --host, which defines IMPORTS. The first run of a module instruments it
    (a Go program takes a while; a progress bar shows on a terminal).

    \b
    A program that uses the task runtime (imports from "asyncpy", see
    examples/asyncpy.h) runs main as a task; a task that sleeps
    (asyncpy_sleep_ms, usleep) or calls an async import of --host waits
    alone while the others run, so the waits overlap
    (docs/host-protocol.md; python examples/sleepers.py).

    \b
    Examples:
      asyncpy run hello.wasm -- arg1 arg2
      asyncpy run server.wasm --instances 10 --env PORT=8080
      asyncpy run app.wasm --dir ./data::/data
      asyncpy run app.wasm --host host.py
    \b
    where host.py is, for example:
      import asyncio
      async def pause(ms):              # (i32) -> i32 in the module
          await asyncio.sleep(ms / 1000)
          return 0
      IMPORTS = {"env": {"pause": pause}}
    """
    from asyncpy.cli.lists import split_list
    from asyncpy.host import run_program

    envs, preopens = _wasi_environment(env, dirs)
    code = run_program(module, args, instances=instances,
                       imports=split_list(imports, brackets=False) if imports else None, host=host,
                       data_memory=data_memory, data_pages=data_pages, cache=not no_cache,
                       env=envs, dirs=preopens,
                       progress=Terminal("asyncpy", enabled=False if quiet else None))
    sys.stdout.flush()
    sys.exit(code)


@main.command(context_settings={"ignore_unknown_options": False})
@click.argument("module", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("profile.txt"),
              show_default=True, help="The list file to write (merged with its earlier entries).")
@click.option("--replace", is_flag=True, help="Overwrite the list file instead of merging into it.")
@click.option("--imports", "imports", multiple=True, metavar="PATTERNS",
              help="Pausing imports. Default: wasi_snapshot_preview1.poll_oneoff and fd_read, plus the "
                   "imports of --host.")
@click.option("--host", "host", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.py",
              help="A Python file defining IMPORTS = {'env': {'name': fn}} (fn may be async), and "
                   "optionally `async def main(instance)` that drives the instance instead of _start.")
@click.option("--data-memory", type=click.Choice(["default", "separate"]), default="separate",
              show_default=True, help="Where the traced build puts the asyncify buffer (see transform).")
@click.option("--data-pages", type=click.IntRange(1, 65536), default=4, show_default=True,
              help="Size of the separate data memory in 64 KiB pages.")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE",
              help="An environment variable for the guest.")
@click.option("--dir", "dirs", multiple=True, metavar="HOST[::GUEST]", help="Preopen a host directory.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (schema asyncpy.profile/1).")
def profile(module, args, output, replace, imports, host, data_memory, data_pages, env, dirs, as_json):
    """Record which functions are on the stack when MODULE really pauses.

    \b
    Runs MODULE once, like `asyncpy run` (a WASI command, or with --host a
    script whose `main(instance)` drives it), built with the full analysis
    plus a trace of every frame saved at a pause, and writes the names of
    those functions to the list file, merged with the runs before. Then
    instrument just them, with a trap instead of a broken stack should a
    pause ever take a path no profiled run took:

    \b
      asyncpy profile app.wasm -- input1.js
      asyncpy profile app.wasm -- input2.js
      asyncpy transform app.wasm --only-list @profile.txt --asserts -o app.async.wasm

    \b
    The trade-off: code that no profiled pause went through runs at full
    speed, but cannot pause; cover every way the program can pause (each
    kind of blocking call, each callback path) with the runs you profile.
    """
    from asyncpy.cli.lists import split_list
    from asyncpy.profile import profile_program, write_list
    from asyncpy.wasm.output import output_target

    envs, preopens = _wasi_environment(env, dirs)
    output_target(output)
    say = None if as_json else (lambda msg: click.echo(f"asyncpy: {msg}...", err=True))
    code, prof, full = profile_program(module, args, imports=split_list(imports) if imports else None,
                                       host=host, data_memory=data_memory, data_pages=data_pages,
                                       env=envs, dirs=preopens, progress=say)
    sys.stdout.flush()
    total, before = write_list(output, prof.names(), merge=not replace)
    if as_json:
        click.echo(json.dumps({
            "schema": "asyncpy.profile/1", "input": str(module), "output": str(output),
            "exit_code": code, "pauses": prof.pauses, "instrumented_full": full,
            "on_stack": dict(sorted(prof.counts.items())),
            "list_entries": total, "list_entries_before": before,
        }, indent=2))
    else:
        click.echo(f"asyncpy: {prof.pauses} pauses; {len(prof.counts)} of the {full} functions "
                   f"the full analysis instruments were on the stack; "
                   f"{output}: {total} entries ({before} before)", err=True)
    sys.exit(code)


@main.command("js")
@click.option("-o", "--out", type=click.Path(path_type=Path), metavar="DIR",
              help="Copy the JS host's files (asyncpy.mjs, binary.mjs, wasi.mjs) into DIR.")
@click.option("--json", "as_json", is_flag=True, help="Print the files as a JSON list.")
def js(out, as_json):
    """Print where the JavaScript host is, or copy it into a folder.

    \b
    The JS host (browsers and node, no build step, no dependencies) runs
    modules asyncpy made pausable: any import may return a Promise, exports
    are async, WASI preview 1 prints and sleeps on timers; see README.md.
    Without --out, prints the path of asyncpy.mjs (its two helpers sit
    beside it).

    \b
    Examples:
      asyncpy js --out web/asyncpy     # then: import { Instance } from "./asyncpy/asyncpy.mjs"
      cp "$(asyncpy js)" ...
    """
    from asyncpy import js as jsfiles

    paths = jsfiles.copy(out) if out is not None else [jsfiles.path(n) for n in jsfiles.FILES]
    if as_json:
        click.echo(json.dumps([str(p) for p in paths]))
    elif out is not None:
        click.echo(f"asyncpy: wrote {', '.join(p.name for p in paths)} to {out}", err=True)
    else:
        click.echo(str(paths[0]))


def _wasi_environment(env, dirs) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """`--env NAME=VALUE` and `--dir HOST[::GUEST]` options, as `run` and
    `profile` take them: the environment and the preopened directories."""
    envs = {}
    for e in env:
        name, sep, value = e.partition("=")
        if not sep:
            raise AsyncpyError(f"--env {e}: expected NAME=VALUE")
        envs[name] = value
    return envs, [(d.split("::", 1)[0], d.split("::", 1)[-1]) for d in dirs]


if __name__ == "__main__":  # pragma: no cover
    main()
