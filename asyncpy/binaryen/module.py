"""The one layer that talks to libbinaryen (116, bundled in `icpp-binaryen`).

Everything above this module speaks wasm: names, value types, expression
kinds. Everything cffi (pointers, C strings, the process-global pass
arguments) stays here.

Two rules keep libbinaryen from killing the process, since its reader and
validator call `Fatal()` (exit) on input they cannot handle:

* a module reaches `Module.read` only after wasmtime's validator accepted
  it (see `asyncpy.wasm`);
* validation output from Binaryen goes to the process's stdout, so callers
  that need it quiet use `quiet()`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncpy.binaryen.ir import Kind, children, function_locals, local_names
from asyncpy.binaryen.library import NULL, _ffi, _lib, cstr, name_of, quiet, release_freed_memory
from asyncpy.binaryen.scan import scan_body
from asyncpy.binaryen.types import FEATURES, Signature, expand_type, make_type, signature
from asyncpy.errors import InputError

if TYPE_CHECKING:
    from asyncpy.binaryen.scan import BodyFacts


_lib.BinaryenSetColorsEnabled(False)

# ---------------------------------------------------------------------------
# Modules

@dataclass(frozen=True)
class FunctionInfo:
    name: str
    params: tuple[int, ...]
    results: tuple[int, ...]
    import_module: str | None
    import_base: str | None

    @property
    def imported(self) -> bool:
        return self.import_module is not None

    @property
    def signature(self) -> Signature:
        return signature(make_type(self.params), make_type(self.results))


@dataclass(frozen=True)
class TableInfo:
    name: str
    imported: bool


@dataclass(frozen=True)
class SegmentInfo:
    table: str | None          # None for passive segments
    functions: tuple[str, ...]


@dataclass(frozen=True)
class ExportInfo:
    name: str
    kind: str                  # "function" | "table" | "memory" | "global" | "tag"
    value: str


_EXPORT_KINDS = {
    _lib.BinaryenExternalFunction(): "function",
    _lib.BinaryenExternalTable(): "table",
    _lib.BinaryenExternalMemory(): "memory",
    _lib.BinaryenExternalGlobal(): "global",
    _lib.BinaryenExternalTag(): "tag",
}


class BinaryenError(InputError):
    """Binaryen refused the input (it returned no module)."""


class Module:
    """A Binaryen module we own; dispose() (or `with`) frees it."""

    memory_flags: list[int] | None = None   # per memory, from the binary (see loader.memory_flags)
    data_extended_const = False             # a data offset uses extended-const (from the binary)

    def __init__(self, ref):
        if ref == NULL:
            raise BinaryenError("Binaryen could not read the module")
        self.ref = ref

    # -- life cycle
    @classmethod
    def read(cls, data: bytes, features: int | None = None, *,
             like: Module | None = None) -> Module:
        """Binaryen's IR of `data`. `like`: a module read from the same
        bytes but for the code section (a chunk, asyncpy.wasm.chunks), whose
        facts about memories and data segments hold for this one too: read
        from the bytes once, not for every chunk (CUE: 0.3 s each)."""
        from asyncpy.wasm import memory_flags
        from asyncpy.wasm.binary import data_offsets_extended

        buf = _ffi.from_buffer("char[]", data)
        with quiet():  # the reader warns on stderr about name subsections it skips
            m = cls(_lib.BinaryenModuleRead(buf, len(data)))
        if like is not None:
            m.memory_flags, m.data_extended_const = like.memory_flags, like.data_extended_const
        else:
            m.memory_flags = memory_flags(data)
            m.data_extended_const = data_offsets_extended(data)
        if features is not None:
            m.features = features
        return m

    @classmethod
    def parse_text(cls, text: str) -> Module:
        _pool_may_start()
        return cls(_lib.BinaryenModuleParse(text.encode()))

    def dispose(self) -> None:
        if self.ref is not None:
            _lib.BinaryenModuleDispose(self.ref)
            self.ref = None
            release_freed_memory()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.dispose()

    # -- whole-module operations
    @property
    def features(self) -> int:
        return _lib.BinaryenModuleGetFeatures(self.ref)

    @features.setter
    def features(self, mask: int) -> None:
        _lib.BinaryenModuleSetFeatures(self.ref, mask)

    def validate(self) -> bool:
        _pool_may_start()
        with quiet():
            return bool(_lib.BinaryenModuleValidate(self.ref))

    def write(self, *, names: bool = True) -> bytes:
        """The module as a binary; `names` keeps the name section (Binaryen
        writes it only in its debug-info mode)."""
        _pool_may_start()
        _lib.BinaryenSetDebugInfo(names)
        res = _lib.BinaryenModuleAllocateAndWrite(self.ref, NULL)
        try:
            return bytes(_ffi.buffer(res.binary, res.binaryBytes))
        finally:
            _lib.free(res.binary)
            if res.sourceMap != NULL:
                _lib.free(res.sourceMap)

    def text(self) -> str:
        _pool_may_start()
        p = _lib.BinaryenModuleAllocateAndWriteText(self.ref)
        try:
            return _ffi.string(p).decode("utf-8", "replace")
        finally:
            _lib.free(p)

    def run_passes(self, passes, *, optimize: int = 2, shrink: int = 0,
                   args: dict[str, str] | None = None, debug_info: bool = False) -> None:
        """Run named Binaryen passes. Pass arguments are process-global in
        libbinaryen, so they are set for this call only and cleared after."""
        _pool_may_start()
        _lib.BinaryenSetOptimizeLevel(optimize)
        _lib.BinaryenSetShrinkLevel(shrink)
        _lib.BinaryenSetDebugInfo(debug_info)
        _lib.BinaryenClearPassArguments()
        try:
            for k, v in (args or {}).items():
                _lib.BinaryenSetPassArgument(k.encode(), v.encode())
            names = [_ffi.new("char[]", p.encode()) for p in passes]
            arr = _ffi.new("const char*[]", names)
            _lib.BinaryenModuleRunPasses(self.ref, arr, len(names))
        finally:
            _lib.BinaryenClearPassArguments()

    def optimize(self, level: int, shrink: int) -> None:
        """Binaryen's default pipeline at -O<level> (shrink 1 = -Os, 2 = -Oz)."""
        _pool_may_start()
        _lib.BinaryenSetOptimizeLevel(level)
        _lib.BinaryenSetShrinkLevel(shrink)
        _lib.BinaryenSetDebugInfo(True)
        _lib.BinaryenClearPassArguments()
        _lib.BinaryenModuleOptimize(self.ref)

    def run_named_passes(self, passes, args: dict[str, str], options: PassOptions) -> None:
        """Run passes by name, in order, with wasm-opt's global pass options
        and pass arguments (both process-global in libbinaryen: set for this
        call, arguments cleared after)."""
        _pool_may_start()
        options.apply()
        _lib.BinaryenClearPassArguments()
        try:
            for k, v in args.items():
                _lib.BinaryenSetPassArgument(k.encode(), v.encode())
            names = [_ffi.new("char[]", p.encode()) for p in passes]
            arr = _ffi.new("const char*[]", names)
            _lib.BinaryenModuleRunPasses(self.ref, arr, len(names))
        finally:
            _lib.BinaryenClearPassArguments()

    def run_default_pipeline(self, args: dict[str, str] | None = None) -> None:
        """Binaryen's default pipeline at the levels already set
        (PassOptions.apply), with these pass arguments."""
        _pool_may_start()
        _lib.BinaryenClearPassArguments()
        try:
            for k, v in (args or {}).items():
                _lib.BinaryenSetPassArgument(k.encode(), v.encode())
            _lib.BinaryenModuleOptimize(self.ref)
        finally:
            _lib.BinaryenClearPassArguments()

    def optimize_functions(self, names, options: PassOptions) -> None:
        """Binaryen's default function pipeline on some functions (what its
        asyncify pass runs on the functions it instrumented)."""
        _pool_may_start()
        options.apply()
        for name in names:
            f = _lib.BinaryenGetFunction(self.ref, name.encode())
            if f != NULL:
                _lib.BinaryenFunctionOptimize(f, self.ref)

    def write_with_map(self, *, names: bool, source_map_url: str | None) -> tuple[bytes, str | None]:
        """The binary and, when `source_map_url` is given, the source map
        libbinaryen writes beside it (with a sourceMappingURL section)."""
        _pool_may_start()
        _lib.BinaryenSetDebugInfo(names)
        url = _ffi.new("char[]", source_map_url.encode()) if source_map_url is not None else NULL
        res = _lib.BinaryenModuleAllocateAndWrite(self.ref, url)
        try:
            smap = _ffi.string(res.sourceMap).decode() if res.sourceMap != NULL else None
            return bytes(_ffi.buffer(res.binary, res.binaryBytes)), smap
        finally:
            _lib.free(res.binary)
            if res.sourceMap != NULL:
                _lib.free(res.sourceMap)

    # -- contents
    def functions(self) -> list[FunctionInfo]:
        out = []
        for i in range(_lib.BinaryenGetNumFunctions(self.ref)):
            f = _lib.BinaryenGetFunctionByIndex(self.ref, i)
            mod = cstr(_lib.BinaryenFunctionImportGetModule(f))
            base = cstr(_lib.BinaryenFunctionImportGetBase(f))
            imported = bool(mod) or bool(base)
            out.append(FunctionInfo(
                name=name_of(_lib.BinaryenFunctionGetName(f)),
                params=expand_type(_lib.BinaryenFunctionGetParams(f)),
                results=expand_type(_lib.BinaryenFunctionGetResults(f)),
                import_module=mod if imported else None,
                import_base=base if imported else None,
            ))
        return out

    def function_ref(self, name: str):
        f = _lib.BinaryenGetFunction(self.ref, name.encode())
        if f == NULL:
            raise KeyError(name)
        return f

    def scan_function(self, name: str) -> BodyFacts:
        return scan_body(_lib.BinaryenFunctionGetBody(self.function_ref(name)))

    def scan_functions(self, names: list[str]) -> list[BodyFacts]:
        return [self.scan_function(n) for n in names]

    def functions_touching_global(self, global_name: str) -> list[str]:
        """Defined functions that read or write the named global."""
        get, gget, gset = _lib.BinaryenExpressionGetId, Kind.GlobalGet, Kind.GlobalSet
        out = []
        for info in self.functions():
            if info.imported:
                continue
            stack = [_lib.BinaryenFunctionGetBody(self.function_ref(info.name))]
            while stack:
                e = stack.pop()
                k = get(e)
                if k == gget:
                    name = _lib.BinaryenGlobalGetGetName(e)
                elif k == gset:
                    name = _lib.BinaryenGlobalSetGetName(e)
                else:
                    stack.extend(children(e))
                    continue
                if _ffi.string(name).decode() == global_name:
                    out.append(info.name)
                    break
                stack.extend(children(e))
        return out

    def global_init_ref_funcs(self) -> list[str]:
        """Functions whose reference escapes through a global's initializer."""
        out = []
        for i in range(_lib.BinaryenGetNumGlobals(self.ref)):
            g = _lib.BinaryenGetGlobalByIndex(self.ref, i)
            init = _lib.BinaryenGlobalGetInitExpr(g)
            if init != NULL:
                out.extend(scan_body(init).ref_funcs)
        return out

    def tables(self) -> list[TableInfo]:
        out = []
        for i in range(_lib.BinaryenGetNumTables(self.ref)):
            t = _lib.BinaryenGetTableByIndex(self.ref, i)
            out.append(TableInfo(name=name_of(_lib.BinaryenTableGetName(t)),
                                 imported=bool(cstr(_lib.BinaryenTableImportGetModule(t)))))
        return out

    def element_segments(self) -> list[SegmentInfo]:
        out = []
        for i in range(_lib.BinaryenGetNumElementSegments(self.ref)):
            s = _lib.BinaryenGetElementSegmentByIndex(self.ref, i)
            passive = bool(_lib.BinaryenElementSegmentIsPassive(s))
            funcs = []
            for j in range(_lib.BinaryenElementSegmentGetLength(s)):
                name = cstr(_lib.BinaryenElementSegmentGetData(s, j))
                if name:
                    funcs.append(name)
            out.append(SegmentInfo(table=None if passive else cstr(_lib.BinaryenElementSegmentGetTable(s)),
                                   functions=tuple(funcs)))
        return out

    def exports(self) -> list[ExportInfo]:
        out = []
        for i in range(_lib.BinaryenGetNumExports(self.ref)):
            e = _lib.BinaryenGetExportByIndex(self.ref, i)
            out.append(ExportInfo(name=name_of(_lib.BinaryenExportGetName(e)),
                                  kind=_EXPORT_KINDS.get(_lib.BinaryenExportGetKind(e), "other"),
                                  value=name_of(_lib.BinaryenExportGetValue(e))))
        return out


# ---------------------------------------------------------------------------
# Whole-function trees, for the transform


def replace_function(module: Module, name: str, var_types: list[int], body, names: dict[int, str]) -> None:
    """Give function `name` a new body and locals. Binaryen 116 has no C call
    to add a local, so the function is removed and added again under the same
    name (expressions belong to the module, not the function, so the body
    survives). Exports, tables and calls refer to it by name."""
    f = module.function_ref(name)
    params = _lib.BinaryenFunctionGetParams(f)
    results = _lib.BinaryenFunctionGetResults(f)
    _lib.BinaryenRemoveFunction(module.ref, name.encode())
    arr = _ffi.new("BinaryenType[]", var_types)
    nf = _lib.BinaryenAddFunction(module.ref, name.encode(), params, results, arr, len(var_types), body)
    for i, n in names.items():
        _lib.BinaryenFunctionSetLocalName(nf, i, n.encode())


def move_function_last(module: Module, name: str, *, stub: bool = False) -> None:
    """Put function `name` last in the module's order, as it is: the place
    replace_function would give it. `stub`: the function is a chunk's
    stub (asyncpy.wasm.chunks), whose body, locals and names nobody reads:
    it comes back as `unreachable` with four C calls instead of a dozen
    (a 7-chunk CUE moves 136k stubs)."""
    if stub:
        key = name.encode()
        f = _lib.BinaryenGetFunction(module.ref, key)
        params, results = _lib.BinaryenFunctionGetParams(f), _lib.BinaryenFunctionGetResults(f)
        _lib.BinaryenRemoveFunction(module.ref, key)
        body = _lib.BinaryenUnreachable(module.ref)
        _lib.BinaryenAddFunction(module.ref, key, params, results, NULL, 0, body)
        return
    f = module.function_ref(name)
    _, vars_ = function_locals(f)
    replace_function(module, name, vars_, _lib.BinaryenFunctionGetBody(f), local_names(f))


def function_results(module: Module, name: str) -> int:
    return _lib.BinaryenFunctionGetResults(module.function_ref(name))


def add_global(module: Module, name: str, type_: int, mutable: bool, init) -> None:
    _lib.BinaryenAddGlobal(module.ref, name.encode(), type_, mutable, init)


def add_global_import(module: Module, name: str, mod: str, base: str, type_: int, mutable: bool) -> None:
    _lib.BinaryenAddGlobalImport(module.ref, name.encode(), mod.encode(), base.encode(), type_, mutable)


def has_global(module: Module, name: str) -> bool:
    return _lib.BinaryenGetGlobal(module.ref, name.encode()) != NULL


def add_function(module: Module, name: str, params, results, var_types, body) -> None:
    arr = _ffi.new("BinaryenType[]", list(var_types))
    _lib.BinaryenAddFunction(module.ref, name.encode(), make_type(params), make_type(results),
                             arr, len(var_types), body)


def add_function_export(module: Module, internal: str, external: str) -> None:
    _lib.BinaryenAddFunctionExport(module.ref, internal.encode(), external.encode())


def add_global_export(module: Module, internal: str, external: str) -> None:
    _lib.BinaryenAddGlobalExport(module.ref, internal.encode(), external.encode())


def remove_function(module: Module, name: str) -> None:
    _lib.BinaryenRemoveFunction(module.ref, name.encode())


def has_memory(module: Module) -> bool:
    return bool(_lib.BinaryenHasMemory(module.ref))


def memory_count(module: Module) -> int:
    if module.memory_flags is not None:
        return len(module.memory_flags)
    return 1 if _lib.BinaryenHasMemory(module.ref) else 0


def memory_is_64(module: Module, name: str | None = None) -> bool:
    """With name=None, the module's only memory (Binaryen resolves a null
    name only when there is exactly one: callers check memory_count)."""
    if name is None and memory_count(module) != 1:
        raise ValueError("memory_is_64 needs a name when a module has several memories")
    return bool(_lib.BinaryenMemoryIs64(module.ref, NULL if name is None else name.encode()))


def with_added_memory(module: Module, name: str, pages: int, export: str, init: bytes) -> Module:
    """A copy of `module` with one more memory `name` (defined, exported,
    initialised with `init` at address 0), placed after the existing ones so
    that no memory index changes. Code may already refer to `name`.

    Binaryen 116's C API can only *replace* memories (BinaryenSetMemory), so
    the copy goes through Binaryen's own printer and parser. A placeholder
    import of `name` is added first: with two memories the printer names
    the memory of every load and store, which it omits when there is one."""
    _lib.BinaryenAddMemoryImport(module.ref, name.encode(), b"asyncpy-placeholder", name.encode(), 0)
    text = module.text()
    placeholder = re.search(r'\n \(import "asyncpy-placeholder" [^\n]*\n', text)
    assert placeholder is not None, "Binaryen printed no import line for the placeholder memory"
    text = text[:placeholder.start() + 1] + text[placeholder.end():]
    escaped = "".join(f"\\{b:02x}" for b in init)
    decl = (f' (memory ${name} {pages} {pages})\n'
            f' (data ${name}_init (memory ${name}) (i32.const 0) "{escaped}")\n'
            f' (export "{export}" (memory ${name}))\n')
    last = None
    for m in re.finditer(r'\n \((?:memory|import "[^"]*" "[^"]*" \(memory) [^\n]*\n', text):
        last = m
    cut = last.end() if last else text.index("\n", text.index("(module")) + 1
    copy = Module.parse_text(text[:cut] + decl + text[cut:])
    copy.features = module.features | FEATURES["multimemory"]
    return copy


# ---------------------------------------------------------------------------
# Linking: copying functions and globals from one module into another
# (asyncpy.link). Binaryen 116 cannot merge modules; it can copy an
# expression into another module's arena, after which the names it refers
# to (callees, globals, tables, memories) are rewritten for its new home.


# ---------------------------------------------------------------------------
# wasm-opt's global pass options and pass names

@dataclass
class PassOptions:
    """The options wasm-opt keeps for all passes of a run (PassOptions in
    Binaryen); libbinaryen holds them in process globals."""
    optimize: int = 0
    shrink: int = 0
    low_memory_unused: bool = False
    zero_filled_memory: bool = False
    fast_math: bool = False
    debug_info: bool = False

    def apply(self) -> None:
        _lib.BinaryenSetOptimizeLevel(self.optimize)
        _lib.BinaryenSetShrinkLevel(self.shrink)
        _lib.BinaryenSetLowMemoryUnused(self.low_memory_unused)
        _lib.BinaryenSetZeroFilledMemory(self.zero_filled_memory)
        _lib.BinaryenSetFastMath(self.fast_math)
        _lib.BinaryenSetDebugInfo(self.debug_info)


_KNOWN_PASSES: set[str] = set()


def unknown_passes(names) -> list[str]:
    """The names libbinaryen has no pass for. The C API has no query for
    the registry (PassRegistry is C++ only) and an unknown name makes
    BinaryenModuleRunPasses call Fatal(), so each name is tried on an empty
    module in a forked child, which reports every name it survived; a
    death with "Could not find pass" marks the name it died on as unknown
    (any other death, a pass that needs more than an empty module, means
    the name exists)."""
    todo = [n for n in dict.fromkeys(names) if n not in _KNOWN_PASSES]
    unknown: list[str] = []
    while todo:
        rd, wr = os.pipe()
        erd, ewr = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                os.close(rd)
                os.close(erd)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(ewr, 2)
                for n in todo:
                    m = _lib.BinaryenModuleCreate()
                    c = _ffi.new("char[]", n.encode())
                    arr = _ffi.new("const char*[]", [c])
                    _lib.BinaryenModuleRunPasses(m, arr, 1)
                    _lib.BinaryenModuleDispose(m)
                    os.write(wr, n.encode() + b"\n")
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(wr)
        os.close(ewr)
        acked = _read_all(rd).decode().split("\n")[:-1]
        err = _read_all(erd).decode("utf-8", "replace")
        os.waitpid(pid, 0)
        _KNOWN_PASSES.update(acked)
        todo = todo[len(acked):]
        if not todo:
            break
        failed = todo.pop(0)
        if "Could not find pass" in err or "unrecognized pass" in err.lower():
            unknown.append(failed)
        else:
            _KNOWN_PASSES.add(failed)
    return unknown


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks)


# ---------------------------------------------------------------------------
# Handing functions between processes (asyncpy.parallel; issue 12)
#
# A forked child shares the parent's module copy-on-write, so it can
# instrument some functions while the parent does the others; it hands its
# functions back as a binary the parent reads, and their bodies are copied
# into the parent's module. One hazard: a child cannot use anything that
# waits for Binaryen's thread pool (the writer does) if the parent had
# started that pool, since fork copies only the calling thread; it would
# wait forever. So every call that may start the pool is noted here, and
# fork_safe() says whether a child may still write.

_pool_started = False


def _pool_may_start() -> None:
    global _pool_started
    _pool_started = True


def fork_safe() -> bool:
    """True while this process has not started Binaryen's thread pool."""
    return not _pool_started


def _is_import(f) -> bool:
    """Binaryen 116 gives a defined function an empty import module and
    base, not NULL."""
    mod, base = _lib.BinaryenFunctionImportGetModule(f), _lib.BinaryenFunctionImportGetBase(f)
    return (mod != NULL and mod[0] != b"\0") or (base != NULL and base[0] != b"\0")


def functions_binary(module: Module, keep: list[str]) -> bytes:
    """The module as a binary (names kept) in which only the defined
    functions `keep` have their bodies; the others become `unreachable`, so
    the binary is smaller and quicker to read. Changes `module`: meant for a
    forked child's copy, which is thrown away."""
    keep_set = set(keep)
    m = module.ref
    for i in range(_lib.BinaryenGetNumFunctions(m)):
        f = _lib.BinaryenGetFunctionByIndex(m, i)
        if _is_import(f):
            continue
        if _ffi.string(_lib.BinaryenFunctionGetName(f)).decode() not in keep_set:
            _lib.BinaryenFunctionSetBody(f, _lib.BinaryenUnreachable(m))
    return module.write(names=True)


def adopt_functions(module: Module, data: bytes, names: list[str]) -> None:
    """Give the functions `names` of `module` the bodies, locals and local
    names they have in `data` (from functions_binary on a copy of `module`:
    the same functions, globals, tables and memories by name). Bodies are
    copied into `module`'s arena by Binaryen, in C++."""
    src = Module.read(data, features=module.features)
    try:
        for name in names:
            f = src.function_ref(name)
            _, vars_ = function_locals(f)
            body = _lib.BinaryenExpressionCopy(_lib.BinaryenFunctionGetBody(f), module.ref)
            replace_function(module, name, vars_, body, local_names(f))
    finally:
        src.dispose()
