"""Tables from the results of `python -m bench` (markdown for stdout and README)."""

from __future__ import annotations

import math
import re
from pathlib import Path

START, END = "<!-- bench:start -->", "<!-- bench:end -->"

ABLATION_NAMES = {
    "noguards+nosave+norestore": "checks after calls only",
    "noguards": "rewind guards removed",
    "noguards+nosave": "guards and save removed",
    "statement": "per-statement restore and save",
}


# --------------------------------------------------------------------------- formatting

def secs(x) -> str:
    if x is None:
        return "–"
    return f"{x:.3f}s" if x < 1 else f"{x:.1f}s" if x < 100 else f"{x:.0f}s"


def ms(x) -> str:
    return "–" if x is None else f"{x * 1e3:.1f}" if x < 1 else f"{x * 1e3:.0f}"


def us(x) -> str:
    return "–" if x is None else f"{x * 1e6:.0f}"


def kb(x) -> str:
    return "–" if x is None else f"{x / 1024:.1f}" if x < 10240 else f"{x / 1024:.0f}"


def mb(x) -> str:
    return "–" if x is None else f"{x / 2**20:.0f}" if x >= 10 * 2**20 else f"{x / 2**20:.1f}"


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def _num(x):
    return x if isinstance(x, (int, float)) else None


def _get(row, side, key):
    d = row.get(side) or {}
    return None if "error" in d and key not in d else _num(d.get(key))


def _run(row, label, key):
    return _num((row.get("run", {}).get(label) or {}).get(key))


def pair(a, b, fmt) -> str:
    return f"{fmt(a)} / {fmt(b)}"


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "--:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------- growth

def _slope(points):
    """Least-squares slope of log(time) against log(size)."""
    pts = [(math.log(s), math.log(t)) for s, t in points if s and t and t > 0]
    if len(pts) < 3:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def growth(rows: list[dict]) -> dict:
    pts = sorted((r["input_bytes"], _get(r, "ours", "seconds"), _get(r, "theirs", "seconds"), r["name"])
                 for r in rows if r.get("input_bytes"))
    big = [p for p in pts if p[0] >= 64 * 1024]
    return {
        "points": [{"name": n, "input_bytes": s, "ours_seconds": o, "theirs_seconds": t}
                   for s, o, t, n in pts],
        "exponent_all": {"ours": _slope([(s, o) for s, o, _, _ in pts]),
                         "theirs": _slope([(s, t) for s, _, t, _ in pts])},
        "exponent_64k_plus": {"ours": _slope([(s, o) for s, o, _, _ in big]),
                              "theirs": _slope([(s, t) for s, _, t, _ in big])},
    }


# --------------------------------------------------------------------------- tables

NOTES = """\
Notes. Ratios are asyncpy / Binaryen (below 1: asyncpy is smaller or faster), taken side by side in one run.
Both sides get the same input (the bytes asyncpy's loader hands to Binaryen), the same feature set (the one
asyncpy detects), the same import list (`env.pause`) and the same post-optimisation (Binaryen -O2 on the
output). **Transform** is wall time in a fresh process: asyncpy = `transform_loaded` without optimisation
(read, analyse, instrument, validate in Binaryen, write, validate in wasmtime); Binaryen = read, `asyncify`
pass at optimize level 2 (its own local clean-up, as under `wasm-opt --asyncify -O2`), validate, write.
**Peak MB** is the growth of the resident set (VmHWM) over the process's size before the transform.
**-O2 s** is the time of the -O2 that follows, not included in the transform. **Run** is the median wall
time of `_start` in wasmtime with `env.pause` returning at once (n + 1). **Round trip** is the median time
from `asyncify_start_unwind` (called inside `env.pause`) to `asyncify_stop_rewind` (when the rewound stack
calls it again), with every `env.pause` call paused; it includes the Python host's own wasmtime calls.
**Δ/pause** is (median run time with every call paused − median without) / pauses, host overhead included.
**Frame** is the largest unwound stack, in bytes. **Overhead**: no-pause run time over the uninstrumented
program's, same run (*orig -O2* is the uninstrumented program after the same Binaryen -O2 alone: what the
post-optimisation itself costs or gains in wasmtime); *with profile* is asyncpy with `--only-list` of the
functions a tracing build saw on the stack at the pausing run's pauses, plus `--asserts` (it passes the same
pausing run); *+ --rewind-copy* is the same with `--rewind-copy` (functions with a pause site in a
loop rewind in a copy of their own), and its -O2 size next to the profile's; *ours + --rewind-copy-top*
is the full analysis (every function that can pause instrumented) with a rewind copy of the one function
with the most pause sites in loops, its -O2 size next to the default build's. **Transform + -O2** adds
the -O2 time to each side's transform time. **Ablation** (`--ablation`) times asyncpy outputs with parts of
the instrumentation left out; they cannot pause correctly and measure cost only."""


def markdown(results: dict) -> str:
    rows = results["programs"]
    env = results["environment"]
    load = ", ".join(f"{x:.1f}" for x in env.get("load_average", []))
    out = [f"# asyncpy vs Binaryen {env.get('binaryen')} asyncify — {results['date']}",
           "",
           f"{env.get('cpu')} ({env.get('cpus')} cpus, load {load}),"
           f" Python {env.get('python')}, wasmtime {env.get('wasmtime')}, asyncpy at {env.get('revision')};"
           f" {results['runs']} runs, "
           f"{results['pause_runs']} pausing runs; {results['total_seconds']:.0f} s in all"
           + (" (--quick)" if results.get("quick") else ""),
           "", "## Transform", ""]
    t = []
    for r in rows:
        o_s, t_s = _get(r, "ours", "seconds"), _get(r, "theirs", "seconds")
        o_m, t_m = _get(r, "ours", "peak_bytes"), _get(r, "theirs", "peak_bytes")
        t.append([r["name"], kb(r.get("input_bytes")),
                  str(_get(r, "ours", "defined") or _get(r, "theirs", "defined") or "–"),
                  pair(_get(r, "ours", "instrumented"), _get(r, "theirs", "instrumented"),
                       lambda x: "–" if x is None else str(x)),
                  pair(o_s, t_s, secs), ratio(o_s, t_s),
                  pair(o_m, t_m, mb), ratio(o_m, t_m),
                  pair(_get(r, "ours", "o2_seconds"), _get(r, "theirs", "o2_seconds"), secs)])
    out.append(table(["program", "input KB", "functions", "instrumented ours / Binaryen",
                      "transform ours / Binaryen", "ratio", "peak MB ours / Binaryen", "ratio",
                      "-O2 s ours / Binaryen"], t))

    out += ["", "## Output size", ""]
    t = []
    for r in rows:
        o_raw, t_raw = _get(r, "ours", "raw_bytes"), _get(r, "theirs", "raw_bytes")
        o_o2, t_o2 = _get(r, "ours", "o2_bytes"), _get(r, "theirs", "o2_bytes")
        inp = r.get("input_bytes")

        def grow(x, inp=inp):
            return "–" if x is None or not inp else f"{(x - inp) / inp:+.0%}"
        t.append([r["name"], kb(inp), pair(o_raw, t_raw, kb), ratio(o_raw, t_raw),
                  pair(o_o2, t_o2, kb), ratio(o_o2, t_o2), pair(o_o2, t_o2, grow)])
    out.append(table(["program", "input KB", "raw KB ours / Binaryen", "ratio", "-O2 KB ours / Binaryen",
                      "ratio", "vs input after -O2 ours / Binaryen"], t))

    out += ["", "## Running (wasmtime)", ""]
    t = []
    for r in rows:
        orig, o, th = (_run(r, k, "median_seconds") for k in ("original", "ours", "theirs"))
        rt_o, rt_t = (_run(r, side, "round_trip_seconds_median") for side in ("ours", "theirs"))
        d_o, d_t = _run(r, "ours", "delta_per_pause_seconds"), _run(r, "theirs", "delta_per_pause_seconds")
        pauses = _run(r, "ours", "pauses") or _run(r, "theirs", "pauses")
        t.append([r["name"], f"{ms(orig)} / {ms(o)} / {ms(th)}",
                  ratio(o, orig), ratio(th, orig), ratio(o, th),
                  "–" if pauses is None else str(pauses), pair(rt_o, rt_t, us), ratio(rt_o, rt_t),
                  pair(d_o, d_t, us),
                  pair(_run(r, "ours", "max_frame_bytes"), _run(r, "theirs", "max_frame_bytes"),
                       lambda x: "–" if x is None else str(x))])
    out.append(table(["program", "run ms orig / ours / Binaryen",
                      "ours/orig", "Binaryen/orig", "ours/Binaryen", "pauses",
                      "round trip µs ours / Binaryen", "ratio", "Δ/pause µs ours / Binaryen",
                      "frame B ours / Binaryen"], t))

    out += ["", "## No-pause overhead and transform + -O2 time", ""]
    t = []
    for r in rows:
        orig = _run(r, "original", "median_seconds")
        o, th, pr = (_run(r, k, "median_seconds") for k in ("ours", "theirs", "profiled"))
        tot = {k: None if _get(r, k, "seconds") is None or _get(r, k, "o2_seconds") is None
               else _get(r, k, "seconds") + _get(r, k, "o2_seconds") for k in ("ours", "theirs")}
        nprof = _get(r, "profiled", "profile_functions")
        pc, fc = (_run(r, k, "median_seconds") for k in ("profiled-copy", "full-copy"))
        t.append([r["name"], ratio(_run(r, "original-o2", "median_seconds"), orig),
                  ratio(o, orig), ratio(th, orig), ratio(pr, orig), ratio(pc, orig),
                  pair(_get(r, "profiled", "o2_bytes"), _get(r, "profiled-copy", "o2_bytes"), kb),
                  ratio(fc, orig), pair(_get(r, "ours", "o2_bytes"), _get(r, "full-copy", "o2_bytes"), kb),
                  f"{'–' if nprof is None else nprof} / {_get(r, 'ours', 'instrumented') or '–'}",
                  pair(tot["ours"], tot["theirs"], secs), ratio(tot["ours"], tot["theirs"])])
    out.append(table(["program", "orig -O2/orig", "ours/orig", "Binaryen/orig", "ours with profile/orig",
                      "profile + --rewind-copy/orig", "-O2 KB profile / + --rewind-copy",
                      "ours + --rewind-copy-top/orig", "-O2 KB ours / + --rewind-copy-top",
                      "profile functions / full", "transform + -O2 s ours / Binaryen", "ratio"], t))
    if results.get("ablation"):
        labels = [f"ablate-{a.replace('+', '-')}" for a in results["ablation"]]
        out += ["", "## Ablation: no-pause time / uninstrumented (cost measurement only)", ""]
        t = []
        for r in rows:
            orig = _run(r, "original", "median_seconds")
            t.append([r["name"], ratio(_run(r, "ours", "median_seconds"), orig)]
                     + [ratio(_run(r, lab, "median_seconds"), orig) for lab in labels]
                     + [ratio(_run(r, "profiled", "median_seconds"), orig)])
        out.append(table(["program", "as shipped"] + [ABLATION_NAMES.get(a, a) for a in results["ablation"]]
                         + ["only the profiled functions"], t))

    g = results["growth"]
    out += ["", "## Growth: transform time against input size", ""]
    t = []
    for p in g["points"]:
        s, o, th = p["input_bytes"], p["ours_seconds"], p["theirs_seconds"]
        per = lambda x, s=s: "–" if x is None else f"{x / (s / 1024) * 1e3:.2f}"
        t.append([p["name"], kb(s), secs(o), secs(th), per(o), per(th), ratio(o, th)])
    out.append(table(["program", "input KB", "ours", "Binaryen", "ours ms/KB", "Binaryen ms/KB", "ratio"], t))

    def expo(d):
        return ", ".join(f"{k} {'–' if v is None else f'{v:.2f}'}" for k, v in
                         (("asyncpy", d["ours"]), ("Binaryen", d["theirs"])))
    out += ["", f"Fitted exponent k in time ∝ size^k: all programs: {expo(g['exponent_all'])}; "
                f"programs of 64 KB and more: {expo(g['exponent_64k_plus'])}."]

    errs = [(r["name"], e) for r in rows for e in r["errors"]]
    out += ["", "## Errors", ""]
    out += [f"- **{n}**: {e}" for n, e in errs] or ["none"]
    out += ["", NOTES, ""]
    return "\n".join(out)


def summary(results: dict) -> str:
    """The short table for the README."""
    rows = results["programs"]
    env = results["environment"]
    t = []
    for r in rows:
        o_s, t_s = _get(r, "ours", "seconds"), _get(r, "theirs", "seconds")
        o_o2, t_o2 = _get(r, "ours", "o2_bytes"), _get(r, "theirs", "o2_bytes")
        o, th = _run(r, "ours", "median_seconds"), _run(r, "theirs", "median_seconds")
        rt_o, rt_t = (_run(r, side, "round_trip_seconds_median") for side in ("ours", "theirs"))
        name = r["name"] + (" ⚠" if r["errors"] else "")
        t.append([name, kb(r.get("input_bytes")),
                  pair(_get(r, "ours", "instrumented"), _get(r, "theirs", "instrumented"),
                       lambda x: "–" if x is None else str(x)),
                  f"{secs(o_s)} / {secs(t_s)} ({ratio(o_s, t_s)})",
                  ratio(_get(r, "ours", "peak_bytes"), _get(r, "theirs", "peak_bytes")),
                  f"{kb(o_o2)} / {kb(t_o2)} ({ratio(o_o2, t_o2)})",
                  ratio(o, th), ratio(rt_o, rt_t),
                  " / ".join(ratio(x, _run(r, "original", "median_seconds"))
                             for x in (o, th, _run(r, "profiled", "median_seconds")))])
    date = results["date"][:10]
    lines = [f"Measured {date} with `python -m bench`{' --quick' if results.get('quick') else ''} "
             f"({env.get('cpus')} cpus, {env.get('cpu')}); asyncpy vs Binaryen {env.get('binaryen')}'s "
             f"asyncify pass, same imports (`env.pause`), both followed by Binaryen -O2. Ratios are "
             f"asyncpy / Binaryen: below 1 is better for asyncpy.",
             "",
             table(["program", "input KB", "instrumented", "transform s (ratio)", "peak mem",
                    "-O2 KB (ratio)", "run time", "pause round trip",
                    "no-pause time / uninstrumented: ours / Binaryen / ours with profile"], t)]
    if any(r["errors"] for r in rows):
        lines += ["", "⚠: an error was recorded for this program; see `bench/results/latest.json`."]
    return "\n".join(lines)


def update_readme(path: Path, text: str, log) -> bool:
    if not path.exists():
        log(f"bench: {path} does not exist; README not updated. Summary:\n{text}")
        return False
    content = path.read_text()
    if START not in content or END not in content or content.index(START) > content.index(END):
        log(f"bench: no {START} ... {END} markers in {path}; README not updated. Add them where the "
            f"summary belongs.")
        return False
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda m: f"{START}\n{text}\n{END}",
                 content, count=1, flags=re.S)
    path.write_text(new)
    log(f"bench: updated the summary in {path}")
    return True
