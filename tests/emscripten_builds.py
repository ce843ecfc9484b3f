"""Emscripten builds with asyncpy-wasm-opt as the only wasm-opt, next to
the same builds with Debian's Binaryen: the cases, and how to build and
run one. Used by tests/test_emscripten.py, and runnable on its own to
print the comparison table:

    python -m tests.emscripten_builds [--json]

Debian's emcc (3.1.6) runs Binaryen's tools by bare name from PATH, so a
directory first on PATH holds a `wasm-opt` that is asyncpy's, with the
other `wasm-*` tools linked from /usr/bin beside it. The wrapper logs each
command line, so a test can check that ours really ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).parent / "emscripten"
REPO = Path(__file__).resolve().parent.parent
NODE = ["node", "--no-experimental-fetch"]


@dataclass(frozen=True)
class Case:
    id: str
    sources: tuple[str, ...]
    flags: tuple[str, ...]                  # compile and link
    link_flags: tuple[str, ...] = ()
    side: tuple[str, ...] = ()              # a SIDE_MODULE built first, linked into the main one
    files: tuple[str, ...] = ()             # extra files the link reads (response files)
    setting: str = ""


CASES = [
    Case("O0-assertions", ("sleepy.c",), ("-O0",), ("-sASYNCIFY", "-sASSERTIONS")),
    Case("O2", ("sleepy.c",), ("-O2",), ("-sASYNCIFY",)),
    Case("O3", ("sleepy.c",), ("-O3",), ("-sASYNCIFY",)),
    Case("Oz", ("sleepy.c",), ("-Oz",), ("-sASYNCIFY",)),
    Case("g", ("sleepy.c",), ("-O1", "-g"), ("-sASYNCIFY",)),
    Case("only-list-file", ("lists.cpp",), ("-O2",), ("-sASYNCIFY", "-sASYNCIFY_ONLY=@only_list.txt"),
         files=("only_list.txt",)),
    Case("remove-list", ("lists.cpp",), ("-O2",), ("-sASYNCIFY", "-sASYNCIFY_REMOVE=['bar()']")),
    Case("add-list", ("lists.cpp",), ("-O2",),
         ("-sASYNCIFY", "-sASYNCIFY_IGNORE_INDIRECT", "-sASYNCIFY_ADD=['bar()','caller(int)']")),
    Case("ignore-indirect", ("ignore_indirect.c",), ("-O2",), ("-sASYNCIFY", "-sASYNCIFY_IGNORE_INDIRECT")),
    Case("advise", ("sleepy.c",), ("-O1",), ("-sASYNCIFY", "-sASYNCIFY_ADVISE")),
    Case("EM_ASYNC_JS", ("async_js.c",), ("-O2",), ("-sASYNCIFY",)),
    Case("fibers", ("fibers.c",), ("-O2",), ("-sASYNCIFY",)),
    Case("embind-await", ("embind_async.cpp",), ("-O2",), ("-sASYNCIFY", "-lembind")),
    Case("exceptions", ("exceptions.cpp",), ("-O2", "-fexceptions"), ("-sASYNCIFY",)),
    Case("main+side", ("main_module.c",), ("-O2", "-sMAIN_MODULE=2"), ("-sASYNCIFY",),
         side=("side.c",)),
]


@dataclass
class Build:
    ok: bool
    error: str = ""
    stdout: str = ""               # the program's output under node
    link_stdout: str = ""          # what the link printed (ASYNCIFY_ADVISE)
    wasm_bytes: int = 0
    link_seconds: float = 0.0
    wasm_opt_calls: list[str] = field(default_factory=list)


def emcc_available() -> bool:
    return shutil.which("emcc") is not None and shutil.which("node") is not None


def _environment(work: Path, ours: bool) -> dict:
    env = dict(os.environ)
    config = work / "em_config"
    if not config.exists():
        text = Path("/usr/share/emscripten/.emscripten").read_text()
        lines = [ln for ln in text.splitlines() if not ln.startswith("NODE_JS")]
        # node 20 breaks emcc 3.1.6's loader unless fetch is off (TOOLCHAIN-NOTES.md).
        lines.append("NODE_JS = ['/usr/bin/node', '--no-experimental-fetch']")
        config.write_text("\n".join(lines) + "\n")
    env["EM_CONFIG"] = str(config)
    env["NODE_PATH"] = "/usr/share/nodejs"       # acorn, for emcc's JS optimizer
    if ours:
        bindir = work / "bin"
        if not bindir.exists():
            bindir.mkdir()
            for tool in Path("/usr/bin").glob("wasm-*"):
                if tool.name != "wasm-opt":
                    (bindir / tool.name).symlink_to(tool)
            wrapper = bindir / "wasm-opt"
            wrapper.write_text(
                "#!/bin/sh\n"
                f'printf "%s\\n" "$*" >> "{work}/wasm-opt.log"\n'
                f'PYTHONPATH="{REPO}" exec "{sys.executable}" -m asyncpy.cli.wasmopt "$@"\n')
            wrapper.chmod(0o755)
        env["PATH"] = f"{bindir}:{env['PATH']}"
    return env


def build_and_run(case: Case, ours: bool, root: Path) -> Build:
    work = root / f"{case.id}-{'ours' if ours else 'binaryen'}"
    work.mkdir(parents=True)
    for f in case.sources + case.side + case.files:
        shutil.copy(HERE / f, work / f)
    env = _environment(work, ours)

    def emcc(*args):
        return subprocess.run(["emcc", *args], cwd=work, env=env, capture_output=True, text=True, check=False)

    inputs = []
    for src in case.sources:
        obj = src + ".o"
        r = emcc("-c", src, "-o", obj, *case.flags)
        if r.returncode:
            return Build(False, "compile: " + r.stderr.strip().splitlines()[-1])
        inputs.append(obj)
    if case.side:
        side_flags = [f for f in case.flags if not f.startswith("-sMAIN_MODULE")]
        r = emcc(*case.side, "-o", "side.wasm", "-sSIDE_MODULE", *side_flags, *case.link_flags)
        if r.returncode:
            return Build(False, "side module: " + (r.stderr.strip().splitlines() or ["?"])[-1])
        inputs.append("side.wasm")
    t0 = time.perf_counter()
    r = emcc(*inputs, "-o", "prog.js", *case.flags, *case.link_flags)
    seconds = time.perf_counter() - t0
    log = work / "wasm-opt.log"
    calls = log.read_text().splitlines() if log.exists() else []
    if r.returncode:
        return Build(False, "link: " + (r.stderr.strip().splitlines() or ["?"])[-1],
                     link_seconds=seconds, wasm_opt_calls=calls)
    run = subprocess.run([*NODE, "prog.js"], cwd=work, env=env, capture_output=True, text=True, check=False,
                         timeout=120)
    if run.returncode:
        return Build(False, "run: " + (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1],
                     stdout=run.stdout, link_seconds=seconds, wasm_opt_calls=calls)
    return Build(True, stdout=run.stdout, link_stdout=r.stdout,
                 wasm_bytes=(work / "prog.wasm").stat().st_size, link_seconds=seconds,
                 wasm_opt_calls=calls)


def build_all(cases=CASES, root: Path | None = None, workers: int = 3) -> dict[str, tuple[Build, Build]]:
    """Every case, ours and Binaryen's, built in parallel (emcc links take
    seconds each and mostly wait on subprocesses)."""
    root = root or Path(tempfile.mkdtemp(prefix="asyncpy-emcc-"))
    jobs = [(c, ours) for c in cases for ours in (True, False)]
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda job: build_and_run(job[0], job[1], root), jobs))
    out = {}
    for (case, ours), res in zip(jobs, results, strict=True):
        out.setdefault(case.id, [None, None])[0 if ours else 1] = res
    return {k: (v[0], v[1]) for k, v in out.items()}


def table(results) -> str:
    rows = ["| setting | ours | Binaryen | same output "
            "| .wasm bytes ours / Binaryen | link s ours / Binaryen |",
            "|---|---|---|---|---|---|"]
    for case in CASES:
        if case.id not in results:
            continue
        a, b = results[case.id]
        same = "yes" if a.ok and b.ok and a.stdout == b.stdout else "no"
        ratio = f" ({a.wasm_bytes / b.wasm_bytes:.0%})" if a.ok and b.ok and b.wasm_bytes else ""
        rows.append(f"| {case.id} ({' '.join(case.flags + case.link_flags)}) | "
                    f"{'pass' if a.ok else 'FAIL: ' + a.error} | {'pass' if b.ok else 'FAIL: ' + b.error} | "
                    f"{same} | {a.wasm_bytes} / {b.wasm_bytes}{ratio} | "
                    f"{a.link_seconds:.1f} / {b.link_seconds:.1f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    res = build_all()
    if "--json" in sys.argv:
        print(json.dumps({k: [asdict(a), asdict(b)] for k, (a, b) in res.items()}, indent=1))
    else:
        print(table(res))
