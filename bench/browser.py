"""The browser section of the benchmark (`python -m bench --only browser`):
asyncify (asyncpy's transform, driven by asyncpy.mjs) against JSPI (the
browser's own stack switching on the untransformed module), on the same
programs, in the same headless Chromium, in one page.

Per program, side by side, runs interleaved (median of RUNS samples each,
after a warm-up run of every variant; a sample runs a batch of fresh
instances so that a short program still takes tens of milliseconds, and the
page is cross-origin isolated for 5 µs timers):

* size: the original module (what JSPI runs) and asyncpy's output
  (`asyncpy transform --imports env.pause -O2`);
* run time with no pause: `_start` with `env.pause` a plain function, for
  the original without any pausing machinery (plain), asyncify's output and
  the original under JSPI (every import Suspending, the export promising);
* time per pause: `env.pause` an async function (`async (n) => n + 1`), so
  every call suspends; asyncify: (time with pauses - its time without) /
  pauses; JSPI: (time with pauses - plain time) / pauses, because Chromium
  suspends at every call of a Suspending import, even one that returns a
  plain value, so JSPI's run "without pauses" is already one with them.
  Both sides pay the same Promise and microtask; the difference is the
  unwind and rewind (asyncify, proportional to the stack depth, and the
  driver's re-entry) against a stack switch (JSPI).

Every run's output is checked against the corpus' expected output, and the
pause counts of the two sides must agree.

The corpus programs pause a few hundred or thousand times in runs of
milliseconds, so on a busy machine their per-pause figures drown in noise. A
second table measures time per pause directly: a small module (`SPIN_WAT`)
recurses to a chosen depth and pauses 20,000 times there, in one export call.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ["c/recursion", "c/qsort", "c/pingpong", "lua", "quickjs"]
RUNS = 11

_MEASURE_JS = """async ({ programs, runs }) => {
  const m = await import("/asyncpy/js/asyncpy.mjs");
  const fetchBytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
  const variants = {
    plain: { file: "plain", jspi: false, pause: false },
    asyncify: { file: "async", jspi: false, pause: false },
    jspi: { file: "plain", jspi: true, pause: false },
    asyncify_pausing: { file: "async", jspi: false, pause: true },
    jspi_pausing: { file: "plain", jspi: true, pause: true },
  };
  const make = async (bytes, v, sink) => m.instantiate(bytes, {
    env: { pause: v.pause ? async (n) => n + 1 : (n) => n + 1 },
  }, { jspi: v.jspi, suspending: ["env.pause"], wasi: { stdout: sink } });
  // One sample: k fresh instances (made before the clock starts), each runs _start once.
  const sample = async (module, v, k) => {
    const insts = [];
    for (let i = 0; i < k; i++) insts.push(await make(module, v, () => {}));
    const t0 = performance.now();
    for (const inst of insts) await inst.runCommand();
    return (performance.now() - t0) / k;
  };
  const results = {};
  for (const p of programs) {
    const bytes = { plain: await fetchBytes(p.plain), async: await fetchBytes(p.async) };
    const r = results[p.name] = {};
    for (const [k, v] of Object.entries(variants)) {
      let out = "";                                   // the output check, then a warm-up
      const inst = await make(bytes[v.file], v, (t) => { out += t; });
      const code = await inst.runCommand();
      const once = await sample(bytes[v.file], v, 3);
      r[k] = { ms: [], ok: out === p.expected && code === 0,
               pauses: Object.values(inst.pauses).reduce((a, b) => a + b, 0),
               batch: Math.max(1, Math.min(20, Math.ceil(100 / Math.max(once, 0.01)))) };
    }
    for (let i = 0; i < runs; i++)
      for (const [k, v] of Object.entries(variants)) r[k].ms.push(await sample(bytes[v.file], v, r[k].batch));
  }
  return { results, userAgent: navigator.userAgent, isolated: self.crossOriginIsolated };
}"""


# Time per pause at a chosen stack depth: spin(depth, n) recurses `depth`
# frames, then calls env.pause n times; the sum of the results checks the run.
SPIN_WAT = """(module
  (import "env" "pause" (func $pause (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $down (param $d i32) (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (if (result i32) (i32.gt_s (local.get $d) (i32.const 0))
      (then (i32.add (call $down (i32.sub (local.get $d) (i32.const 1)) (local.get $n)) (local.get $d)))
      (else
        (loop $l
          (local.set $acc (i32.add (local.get $acc) (call $pause (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_s (local.get $i) (local.get $n))))
        (local.get $acc))))
  (func (export "spin") (param $d i32) (param $n i32) (result i32)
    (call $down (local.get $d) (local.get $n))))"""
SPIN_DEPTHS = (1, 16, 64)
SPIN_PAUSES = 20000

_SPIN_JS = """async ({ plain, async: asyncUrl, depths, n, runs }) => {
  const m = await import("/asyncpy/js/asyncpy.mjs");
  const fetchBytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
  const bytes = { plain: await fetchBytes(plain), async: await fetchBytes(asyncUrl) };
  const variants = {
    plain: { file: "plain", jspi: false, pause: false },
    asyncify: { file: "async", jspi: false, pause: false },
    asyncify_pausing: { file: "async", jspi: false, pause: true },
    jspi_pausing: { file: "plain", jspi: true, pause: true },
  };
  const out = {};
  for (const depth of depths) {
    const want = n * (n + 1) / 2 + depth * (depth + 1) / 2;
    const r = out[depth] = {};
    for (const [k, v] of Object.entries(variants)) {
      const inst = await m.instantiate(bytes[v.file], {
        env: { pause: v.pause ? async (i) => i + 1 : (i) => i + 1 },
      }, { jspi: v.jspi, suspending: ["env.pause"] });
      await inst.call("spin", depth, 100);                    // warm-up
      r[k] = { ms: [], ok: true };
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const got = await inst.call("spin", depth, n);
        r[k].ms.push(performance.now() - t0);
        r[k].ok &&= got === want;
      }
    }
  }
  return out;
}"""


def iqr(xs: list[float]) -> float:
    """The spread of the middle half of the samples: the noise a difference must beat."""
    s = sorted(xs)
    return s[(3 * len(s)) // 4] - s[len(s) // 4] if len(s) >= 4 else 0.0


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def transform(src: Path, out: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "asyncpy.cli", "transform", str(src), "--imports", "env.pause",
                        "-O2", "-q", "-o", str(out)], capture_output=True, text=True, cwd=ROOT, check=False)
    if r.returncode:
        raise RuntimeError(f"asyncpy transform {src.name}: {r.stderr.strip()}")


def run(names: list[str] | None = None, runs: int = RUNS, log=lambda m: None) -> dict:
    """Measure; returns {"browser", "programs": [row], "errors": [...]}."""
    from bench import chromium
    from corpus import build, expected

    names = names or PROGRAMS
    why = chromium.missing()
    if why:
        return {"skipped": why, "programs": [], "errors": []}
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="asyncpy-bench-browser-") as tmp:
        site = Path(tmp)
        shutil.copytree(ROOT / "asyncpy" / "js", site / "asyncpy" / "js",
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        (site / "index.html").write_text("<!doctype html><link rel='icon' href='data:,'><title>bench</title>")
        programs, sizes = [], {}
        for name in names:
            safe = name.replace("/", "-")
            try:
                src = Path(build.build(name))
                plain, out = site / f"{safe}.wasm", site / f"{safe}.async.wasm"
                shutil.copy(src, plain)
                transform(src, out)
            except Exception as e:  # a failed build is a row of the report, not the end
                errors.append(f"{name}: {e}")
                continue
            sizes[name] = (plain.stat().st_size, out.stat().st_size)
            programs.append({"name": name, "plain": f"/{plain.name}", "async": f"/{out.name}",
                             "expected": expected(name)})
            log(f"browser: {name}: {sizes[name][0] / 1024:.0f} KB -> {sizes[name][1] / 1024:.0f} KB")
        import wasmtime

        (site / "spin.wasm").write_bytes(bytes(wasmtime.wat2wasm(SPIN_WAT)))
        transform(site / "spin.wasm", site / "spin.async.wasm")
        with chromium.serve(site) as url, chromium.browser() as ctx:
            page = ctx.new_page()
            page.goto(f"{url}/index.html")
            if not page.evaluate("typeof WebAssembly.Suspending === 'function'"):
                return {"skipped": "this Chromium has no JSPI", "programs": [], "errors": errors}
            log(f"browser: measuring {len(programs)} programs in Chromium ({runs} runs each)...")
            measured = page.evaluate(_MEASURE_JS, {"programs": programs, "runs": runs})
            log(f"browser: time per pause at stack depths {', '.join(map(str, SPIN_DEPTHS))}...")
            spin = page.evaluate(_SPIN_JS, {"plain": "/spin.wasm", "async": "/spin.async.wasm",
                                            "depths": list(SPIN_DEPTHS), "n": SPIN_PAUSES, "runs": runs})
    depth_rows = []
    for depth, r in spin.items():
        row = {"depth": int(depth), "pauses": SPIN_PAUSES}
        for k, v in r.items():
            row[k] = {"median_ms": median(v["ms"]), "ms": v["ms"], "ok": v["ok"]}
            if not v["ok"]:
                errors.append(f"spin depth {depth}: {k}: wrong result")
        row["asyncify_us_per_pause"] = 1000 * (row["asyncify_pausing"]["median_ms"]
                                               - row["asyncify"]["median_ms"]) / SPIN_PAUSES
        row["jspi_us_per_pause"] = 1000 * (row["jspi_pausing"]["median_ms"]
                                           - row["plain"]["median_ms"]) / SPIN_PAUSES
        depth_rows.append(row)
    rows = []
    for p in programs:
        r = measured["results"][p["name"]]
        row = {"name": p["name"],
               "original_bytes": sizes[p["name"]][0], "asyncify_bytes": sizes[p["name"]][1]}
        for k, v in r.items():
            row[k] = {"median_ms": median(v["ms"]), "ms": v["ms"],
                      "output_ok": v["ok"], "pauses": v["pauses"]}
            if not v["ok"]:
                errors.append(f"{p['name']}: {k}: output or exit code differs from the expected")
        n = r["asyncify_pausing"]["pauses"]
        if n != r["jspi_pausing"]["pauses"]:
            errors.append(f"{p['name']}: pauses differ: asyncify {n}, JSPI {r['jspi_pausing']['pauses']}")
        row["pauses"] = n
        if n:
            # the cost of one more pause: asyncify against its own run without
            # pauses (the instrumentation's cost is the run-time column);
            # JSPI against plain (its "no pause" run suspends at every call already)
            for side, pausing, base in (("asyncify", "asyncify_pausing", "asyncify"),
                                        ("jspi", "jspi_pausing", "plain")):
                delta = row[pausing]["median_ms"] - row[base]["median_ms"]
                row[f"{side}_us_per_pause"] = 1000 * delta / n
                # a difference inside the samples' spread is noise, not a cost
                row[f"{side}_below_noise"] = abs(delta) < max(iqr(row[pausing]["ms"]), iqr(row[base]["ms"]))
        rows.append(row)
    return {"browser": measured["userAgent"], "isolated": measured["isolated"], "runs": runs,
            "programs": rows, "depths": depth_rows, "errors": errors}


def markdown(res: dict) -> str:
    if res.get("skipped"):
        return f"Browser section skipped: {res['skipped']}.\n"
    ua = res["browser"]
    chrome = next((w for w in ua.split() if w.startswith(("HeadlessChrome/", "Chrome/"))), ua)
    lines = [f"### asyncify vs JSPI in the browser ({chrome}, median of {res['runs']} runs)", "",
             ("| program | bytes: original (JSPI) / asyncify "
              "| run, no pause: plain / asyncify / JSPI | pauses "
              "| per pause: asyncify / JSPI |"),
             "|---|--:|--:|--:|--:|"]
    for r in res["programs"]:
        ob, ab = r["original_bytes"], r["asyncify_bytes"]
        pl, asy, js = (r[k]["median_ms"] for k in ("plain", "asyncify", "jspi"))
        def us(side, r=r):
            return "≈0 (noise)" if r.get(f"{side}_below_noise") else f"{r[f'{side}_us_per_pause']:.2f}"
        per = f"{us('asyncify')} / {us('jspi')} µs" if r.get("pauses") else "-"
        lines.append(f"| {r['name']} | {ob / 1024:.0f} / {ab / 1024:.0f} KB ({ab / ob:.2f}×) | "
                     f"{pl:.1f} / {asy:.1f} ({asy / pl:.2f}×) / {js:.1f} ms ({js / pl:.2f}×) "
                     f"| {r['pauses']} | {per} |")
    lines.append("")
    lines.append("Plain: the original module with a sync `env.pause`, no pausing machinery. asyncify: "
                 "asyncpy's `-O2` output driven by asyncpy.mjs, `env.pause` sync (it never unwinds). JSPI: "
                 "the original module, `env.pause` a `WebAssembly.Suspending` import returning a plain "
                 "value (Chromium suspends on every call of a Suspending import anyway), `_start` "
                 "`WebAssembly.promising`. Per pause, with `env.pause` an async function so that every "
                 "call pauses: asyncify (time - its time without pauses) / pauses; JSPI (time - plain "
                 "time) / pauses, since its run without pauses suspends at every call already. "
                 "\"≈0 (noise)\": the difference is inside the spread (IQR) of the samples.")
    if res.get("depths"):
        lines += ["", (f"Time per pause by stack depth (`spin(depth, n)`: "
                       f"{res['depths'][0]['pauses']} pauses of "
                       "`env.pause` below `depth` frames, one export call; median of the same runs):"), "",
                  "| depth | plain run | asyncify: per pause | JSPI: per pause | asyncify / JSPI |",
                  "|--:|--:|--:|--:|--:|"]
        for d in res["depths"]:
            a, j = d["asyncify_us_per_pause"], d["jspi_us_per_pause"]
            if j > 0:
                lines.append(f"| {d['depth']} | {d['plain']['median_ms']:.1f} ms | {a:.2f} µs | {j:.2f} µs | "
                             f"{a / j:.1f}× |")
            else:
                lines.append(f"| {d['depth']} | - | {a:.2f} µs | {j:.2f} µs | - |")
    for e in res["errors"]:
        lines.append(f"- error: {e}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    res = run(sys.argv[1:] or None, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(markdown(res))
