"""The steps every command shares: load a file safely, read it into
Binaryen with the features it uses, analyse, instrument, optimise, check,
write. Kept apart from the CLI so that tests, the wasm-opt entry point and
the host driver run exactly the same code."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asyncpy import binaryen, parallel
from asyncpy.abi import SEPARATE_MEMORY
from asyncpy.analysis import Analysis, analyze, collect_facts
from asyncpy.analysis.facts import ModuleFacts, merge_facts
from asyncpy.errors import AsyncpyError, UnsupportedError
from asyncpy.options import AnalysisOptions, LinkOptions, TransformOptions
from asyncpy.progress import Progress, as_progress, plural
from asyncpy.rebuild import CHUNK_BYTES as REBUILD_CHUNK_BYTES
from asyncpy.rebuild import RebuildCache, digest
from asyncpy.transform import TransformReport, instrument, separate_memory_init
from asyncpy.wasm import Loaded, check, chunks, load, text_unsafe_name
from asyncpy.wasm.binary import import_modules
from asyncpy.wasm.hollow import hollow, restore

if TYPE_CHECKING:
    from asyncpy.link.link import LinkReport


def read_module(loaded: Loaded) -> binaryen.Module:
    return binaryen.Module.read(loaded.data)


def analyze_file(path: str | os.PathLike, options: AnalysisOptions = AnalysisOptions()) -> Analysis:
    loaded = load(path)
    cut = chunks.cut(loaded.data, chunks.chunk_bytes())
    if cut is not None:
        # Facts are per function: a big module's come a chunk at a time.
        state = _chunk_facts(cut, lambda _: None)
        state.dispose()
        assert state.facts is not None
        return analyze(state.facts, options)
    with read_module(loaded) as module:
        return analyze(collect_facts(module), options)


@dataclass
class TransformResult:
    wasm: bytes
    analysis: Analysis
    report: TransformReport
    input_bytes: int
    seconds: float
    features: frozenset[str]
    link: LinkReport | None = None  # when the runtime was linked

    @property
    def output_bytes(self) -> int:
        return len(self.wasm)


def transform_loaded(loaded: Loaded, options: TransformOptions = TransformOptions(), *,
                     optimize: tuple[int, int] | None = None, text: bool = False,
                     progress: Progress | Callable[[str], Any] | None = None,
                     runtime: LinkOptions | None = None,
                     cache: RebuildCache | None = None) -> TransformResult:
    """Instrument a loaded module. With `optimize`, Binaryen's pipeline at
    that level runs before and after, the way builds pair asyncify with
    wasm-opt. The result has passed Binaryen's and wasmtime's validators.
    `progress` hears of each step, and of each function instrumented
    (asyncpy.progress). With `cache`, a big module's chunks are kept for
    the next build (asyncpy.rebuild)."""
    progress = as_progress(progress)
    say = progress.step
    t0 = time.perf_counter()
    if options.data_memory == "separate":
        # That memory is added through Binaryen's text format (see
        # binaryen.with_added_memory), which cannot carry every name.
        bad = text_unsafe_name(loaded.data)
        if bad is not None:
            raise UnsupportedError(f"--data-memory separate: the import/export name {bad!r} cannot go "
                                   "through Binaryen 116's text format (quotes, backslashes or empty "
                                   "names); use the default data memory")
    if binaryen.native.needs_build():
        say("building the native walker (first use only)")
    from asyncpy import link as _link
    from asyncpy.link.link import IMPORT_MODULE
    # Data bytes go around Binaryen when nothing here adds or moves data
    # (asyncpy.wasm.hollow): not when optimising (memory packing), linking
    # the runtime (its own segments) or moving data to a memory of its own.
    plain = optimize is None and not text and runtime is None and options.data_memory != "separate" \
        and IMPORT_MODULE not in import_modules(loaded.data)
    split = hollow(loaded.data) if plain else None
    if plain and _chunkable(options):
        # A module with much code goes through Binaryen in chunks of its
        # functions (asyncpy.wasm.chunks), so that memory stays bounded.
        limit = chunks.chunk_bytes(REBUILD_CHUNK_BYTES if cache is not None else chunks.CHUNK_BYTES)
        cut = chunks.cut(loaded.data, limit, split)
        if cut is not None:
            done = _transform_chunked(loaded, cut, options, progress, t0, cache)
            if done is not None:
                return done
            say("the chunks would not merge (asyncpy.wasm.chunks); transforming the module in one piece")
            chunks.stats["fallbacks"] += 1
    if split is not None:
        module, hollowed = binaryen.Module.read(split[0]), split[1]
        del split
    else:
        module, hollowed = read_module(loaded), None
    link_report = None
    try:
        say("analysing")
        # The first facts give the feature mask Binaryen reads and writes
        # with; they are collected again only if optimising or linking
        # changed the module (once, after both).
        facts = collect_facts(module)
        module.features = binaryen.feature_mask(facts.features)
        changed = False
        linking = runtime is not None or _link.imports_runtime(module)
        if optimize is not None:
            say(f"optimising before (-O{optimize[0]}, shrink {optimize[1]})")
            with _link.table_kept(module) if linking else nullcontext():
                module.optimize(*optimize)
            changed = True      # inlining and DCE change the call graph
        # The bundled runtime goes in after the first optimisation (which
        # must not inline its pause point into its callers) and before the
        # analysis, which must see that pause point and the scheduler
        # (asyncpy.link): when asked for, or when the program imports from
        # "asyncpy".
        if linking and options.data_memory == "separate":
            raise UnsupportedError("--data-memory separate cannot be used with the task runtime: each "
                                   "task's asyncify buffer lives in its own block of the program's memory")
        if linking:
            say("linking the asyncpy runtime")
            link_report = _link.link(module, runtime or LinkOptions())
            changed = True
        if changed:
            facts = collect_facts(module)
        analysis = analyze(facts, options.analysis)
        _warn_native(analysis)
        count = len(analysis.instrument)
        progress.start(count, f"instrumenting {plural(count, 'function')}")
        try:
            report = instrument(module, analysis, options, progress=progress)
        finally:
            progress.finish()
        if options.data_memory == "separate":
            say("adding the separate data memory")
            copy = binaryen.with_added_memory(module, SEPARATE_MEMORY, options.data_pages,
                                              SEPARATE_MEMORY, separate_memory_init(options))
            module.dispose()
            module = copy
        if optimize is not None:
            say("optimising after")
            module.optimize(*optimize)
        say("validating")
        _validate(module)
        wasm = module.text().encode() if text else module.write()
    finally:
        module.dispose()
    if hollowed is not None:
        wasm = restore(wasm, hollowed)
    if not text:
        check(wasm, "output")
    # Sizes compare binaries: a .wat input counts as the binary it becomes.
    return TransformResult(wasm=wasm, analysis=analysis, report=report, input_bytes=len(loaded.data),
                           seconds=time.perf_counter() - t0, features=facts.features, link=link_report)


def _validate(module: binaryen.Module) -> None:
    if not module.validate():
        raise AsyncpyError("internal error: the instrumented module does not validate in Binaryen "
                           "(please report it with the input)")


def _warn_native(analysis: Analysis) -> None:
    broken = binaryen.native.broken()
    if broken is not None:
        analysis.warnings.append(f"the native walker could not be built ({broken}); "
                                 "using the Python walk, several times slower on big modules")


def _chunkable(options: TransformOptions) -> bool:
    """Options whose work is per function: --asserts wraps calls in every
    function and rewind copies add functions, so those need the module whole.
    ASYNCPY_JOBS=2 chose speed over memory (asyncpy.parallel.instrument_jobs):
    its split of the instrumentation pays off on the whole module (CUE
    29 s), not inside chunks (78 s: each chunk's child writes and the
    parent reads back a module as big as the chunk)."""
    return not options.asserts and options.rewind_copy == "none" and not options.rewind_copy_list \
        and parallel.instrument_jobs() < 2


def _chunk_facts(cut: chunks.Cut, say: Callable[[str], Any], cache: RebuildCache | None = None) -> _Chunked:
    """The facts of a module read a chunk at a time (asyncpy.wasm.chunks),
    the names of each chunk's functions, and the last chunk read, still
    open (the caller disposes of it). Facts in `cache` are not read again.
    On two cores a forked child reads every other chunk (asyncpy.parallel):
    it holds one chunk while this process holds another, which is less
    than the instrumenting that follows holds here."""
    base, code, runs = cut.base, cut.code, cut.runs
    done = _Chunked()
    found: dict[int, tuple[ModuleFacts, list[str]]] = {}
    for c, run in enumerate(runs):
        # The run too: which bodies are the chunk's own is not always in its
        # bytes (a body that is only `unreachable` looks like a stub).
        key = "" if cache is None else cache.key(chunks.stubbed(base, code, run), f"{run.start}:{run.stop}")
        done.keys.append(key)
        kept = cache.load("facts", key) if cache is not None else None
        if kept is not None:
            found[c] = kept

    def read(state: _Chunked, part: list[int], tell=say) -> list[tuple[ModuleFacts, list[str]]]:
        out = []
        for c in part:
            tell(f"analysing part {c + 1} of {len(runs)}")
            module = state.read(c, chunks.stubbed(base, code, runs[c]))
            facts = collect_facts(module, runs[c])
            defined = [f.name for f in facts.functions.values() if f.import_module is None]
            out.append((facts, [defined[i] for i in runs[c]]))
        return out

    def child(part: list[int]) -> list:
        state = _Chunked()
        try:
            return read(state, part, lambda _: None)     # one process talks to the terminal
        finally:
            state.dispose()

    todo = [c for c in range(len(runs)) if c not in found]
    try:
        if len(todo) >= 2 and parallel.jobs() >= 2 and hasattr(os, "fork") and binaryen.fork_safe():
            mine, here, theirs, there = parallel.fork_half(todo, child, lambda part: read(done, part))
            if there is None or len(there) != len(theirs):
                parallel.stats["child_failures"] += 1
                there = read(done, [todo[i] for i in theirs])   # the child failed: its chunks here
            for i, got in zip(mine + theirs, here + there, strict=True):
                found[todo[i]] = got
        else:
            for c, got in zip(todo, read(done, todo), strict=True):
                found[c] = got
    except BaseException:
        done.dispose()
        raise
    if cache is not None:
        for c in todo:
            cache.store("facts", done.keys[c], found[c])
    done.owners = [found[c][1] for c in range(len(runs))]
    done.facts = merge_facts([found[c][0] for c in range(len(runs))], done.owners)
    return done


class _Chunked:
    """A module going through Binaryen a chunk at a time: the chunk open
    now (at most one), and what is known of every chunk."""

    def __init__(self):
        self.keys: list[str] = []               # rebuild-cache keys of the chunks' bytes
        self.owners: list[list[str]] = []       # each chunk's functions
        self.facts: ModuleFacts | None = None   # merged
        self.module: binaryen.Module | None = None
        self.open = -1                          # which chunk self.module is
        self._like: binaryen.Module | None = None   # a chunk read before (its byte facts hold for all)

    def read(self, c: int, data: bytes) -> binaryen.Module:
        self.dispose()
        self.module = binaryen.Module.read(data, like=self._like)
        self._like = self._like or self.module
        self.open = c
        return self.module

    def dispose(self) -> None:
        if self.module is not None:
            self.module.dispose()
        self.module, self.open = None, -1


def _transform_chunked(loaded: Loaded, cut: chunks.Cut, options: TransformOptions, progress: Progress,
                       t0: float, cache: RebuildCache | None = None) -> TransformResult | None:
    """transform_loaded for a plain transform, one chunk of functions at a
    time in Binaryen (asyncpy.wasm.chunks); None when the chunks' outputs
    cannot be merged. Binaryen holds one chunk at a time: the facts of
    each, then, after the analysis of all, the instrumentation of each,
    the last chunk read for its facts kept open for it. With `cache`
    (asyncpy.rebuild), a chunk's facts and output found there are used
    as they are, and new ones are kept."""
    say = progress.step
    base, code, runs = cut.base, cut.code, cut.runs
    n = len(runs)
    state = _chunk_facts(cut, say, cache)
    facts = state.facts
    assert facts is not None
    try:
        if chunks.types_may_renumber(facts, state.owners):
            return None
        mask = binaryen.feature_mask(facts.features)
        analysis = analyze(facts, options.analysis)
        _warn_native(analysis)
        count = len(analysis.instrument)
        salt = digest(facts, analysis) + repr(options) + str(mask) if cache is not None else ""
        selected = set(analysis.instrument)
        reused = 0
        outputs: list[bytes] = [b""] * n
        reports: list[TransformReport] = []
        progress.start(count, f"instrumenting {plural(count, 'function')} in {n} parts")
        try:
            # The chunk still open goes first.
            for c in sorted(range(n), key=lambda c: c != state.open):
                key = cache.key(state.keys[c], salt) if cache is not None else ""
                kept = cache.load("output", key) if cache is not None else None
                if kept is not None:
                    outputs[c], report = kept
                    reports.append(report)
                    reused += 1
                    progress.advance(sum(1 for f in state.owners[c] if f in selected))
                    continue
                module = state.module if state.module is not None and state.open == c else \
                    state.read(c, chunks.stubbed(base, code, runs[c]))
                module.features = mask
                reports.append(instrument(module, analysis, options, progress=progress,
                                          only=set(state.owners[c])))
                _validate(module)
                outputs[c] = module.write()
                state.dispose()
                if cache is not None:
                    cache.store("output", key, (outputs[c], reports[-1]))
        finally:
            progress.finish()
    finally:
        state.dispose()
    say(f"merging {n} parts")
    wasm = chunks.merge(outputs)
    if wasm is None:
        return None
    del outputs
    if cut.hollowed is not None:
        wasm = restore(wasm, cut.hollowed)
    check(wasm, "output")
    rank = {name: i for i, name in enumerate(analysis.instrument)}
    report = TransformReport(sorted((s for r in reports for s in r.instrumented), key=lambda s: rank[s.name]),
                             sum(r.seconds for r in reports), chunks=n, chunks_reused=reused)
    return TransformResult(wasm=wasm, analysis=analysis, report=report, input_bytes=len(loaded.data),
                           seconds=time.perf_counter() - t0, features=facts.features)


def transform_file(path: str | os.PathLike, options: TransformOptions = TransformOptions(),
                   **kw) -> TransformResult:
    return transform_loaded(load(path), options, **kw)

