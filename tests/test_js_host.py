"""The JavaScript host (asyncpy/js/): the shared scenarios on Python, node
and Chromium (tests/scenarios/asyncify/: whole-module pauses, errors,
memories, WASI commands; tests/scenarios/scenarios.json: the host-wait
protocol, whose Python side is tests/test_scenarios.py); node's unit tests of
the JS host; a real page in Chromium running a transformed C program with tasks and a transformed Go program.

node is /usr/bin/node (20: no multi-memory, memory64 behind a flag), so the
scenarios that need the separate data memory run in Chromium only; each such
skip names the missing feature. The browser tests skip, with the reason,
only when chromium or Playwright is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from asyncpy.host import ensure_instrumented
from asyncpy.wasm.binary import export_names
from bench import chromium as browser
from tests import scenario_host
from tests.support import ROOT, run_cli, wat2wasm

SCENARIOS = scenario_host.load_all()
NAMES = [s["name"] for s in SCENARIOS]
# The host-wait protocol's scenarios (issue 13's format, schema asyncpy.scenarios/1):
# tests/scenarios/scenarios.json, one program for every scenario.
PROTOCOL_DIR = ROOT / "tests" / "scenarios"
PROTOCOL_DOC = json.loads((PROTOCOL_DIR / "scenarios.json").read_text()) \
    if (PROTOCOL_DIR / "scenarios.json").exists() else None
PROTOCOL_NAMES = [s["name"] for s in PROTOCOL_DOC["scenarios"]] if PROTOCOL_DOC else ["<none>"]
JS = ROOT / "asyncpy" / "js"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
needs_browser = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))


@lru_cache(maxsize=1)
def node_flags() -> tuple[str, ...]:
    """memory64 is behind a flag in node 20; pass it only where node knows it."""
    out = subprocess.run([NODE, "--v8-options"], capture_output=True, text=True, check=False).stdout
    return ("--experimental-wasm-memory64",) if "--experimental-wasm-memory64" in out else ()


# --------------------------------------------------------------------------
# the shared scenarios, built once

@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """A folder to serve: the JS host, the scenario runner and page, and
    work/ with every scenario's transformed module and a manifest."""
    root = tmp_path_factory.mktemp("jshost")
    shutil.copytree(JS, root / "asyncpy" / "js", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (root / "tests" / "js").mkdir(parents=True)
    for name in ("scenarios.mjs", "scenarios.html", "run_scenarios.mjs"):
        shutil.copy(ROOT / "tests" / "js" / name, root / "tests" / "js" / name)
    work = root / "work"
    work.mkdir()
    manifest: dict = {"asyncify": [], "protocol": None}
    for s in SCENARIOS:
        (work / f"{s['name']}.wasm").write_bytes(scenario_host.build(s))
        manifest["asyncify"].append({"scenario": s, "wasm": str(work / f"{s['name']}.wasm"),
                                     "url": f"/work/{s['name']}.wasm"})
    if PROTOCOL_DOC is not None:
        wasm = work / "server.async.wasm"
        r = run_cli("transform", PROTOCOL_DIR / PROTOCOL_DOC["module"], *PROTOCOL_DOC["transform"],
                    "-q", "-o", wasm)
        assert r.returncode == 0, r.stderr
        if "asyncpy_suspend" in export_names(wasm.read_bytes()):
            manifest["protocol"] = {"doc": PROTOCOL_DOC, "wasm": str(wasm), "url": "/work/server.async.wasm"}
    (work / "manifest.json").write_text(json.dumps(manifest))
    return root


def check(result: dict, scenario: dict) -> None:
    if "skipped" in result:
        pytest.skip(result["skipped"])
    assert "error" not in result, result["error"]
    assert result["events"] == scenario["events"]


@pytest.mark.parametrize("name", NAMES)
def test_scenario_python(name, site):
    s = next(s for s in SCENARIOS if s["name"] == name)
    events = scenario_host.run_python(s, (site / "work" / f"{name}.wasm").read_bytes())
    assert events == s["events"]


@pytest.fixture(scope="session")
def node_results(site) -> dict:
    r = subprocess.run([NODE, *node_flags(), str(site / "tests" / "js" / "run_scenarios.mjs"),
                        str(site / "work" / "manifest.json")],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@needs_node
@pytest.mark.parametrize("name", NAMES)
def test_scenario_node(name, node_results):
    check(node_results["asyncify"][name], next(s for s in SCENARIOS if s["name"] == name))


def check_protocol(results: dict | None, name: str) -> None:
    """A host passes when results, errors, cancellations and the order of
    events are the listed ones (tests/scenarios/README.md)."""
    if PROTOCOL_DOC is None:
        pytest.skip("tests/scenarios/scenarios.json (the host-wait protocol's scenarios, issue 13) "
                    "is not here")
    if results is None:
        pytest.skip("the task runtime here predates the host-wait protocol (no asyncpy_suspend export)")
    sc = next(s for s in PROTOCOL_DOC["scenarios"] if s["name"] == name)
    got, exp = results[name], sc["expect"]
    assert "error" not in got, got["error"]
    assert got["results"] == exp.get("results", {})
    assert got["errors"] == exp.get("errors", {})
    assert sorted(got["cancelled"]) == sorted(exp.get("cancelled", []))
    events = [list(e) for e in got["events"]]
    if "events" in exp:
        assert events == exp["events"]
    else:
        pos = 0
        for group in exp["event_groups"]:
            assert sorted(events[pos:pos + len(group)]) == sorted(group), f"events {pos}..{pos + len(group)}"
            pos += len(group)
        assert pos == len(events)
    assert got["broken"] is None and got["inFlight"] == 0


@needs_node
@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_protocol_scenario_node(name, node_results):
    check_protocol(node_results["protocol"], name)


@pytest.fixture(scope="session")
def chromium_results(site) -> dict:
    if browser.missing():
        pytest.skip(browser.missing())

    def play(ctx):
        page = ctx.new_page()
        page.goto(f"{url}/tests/js/scenarios.html")
        page.wait_for_function("document.body.dataset.done === '1'", timeout=120_000)
        return page.evaluate("window.scenarioResults")

    with browser.serve(site) as url:
        results = browser.in_browser(play)
    assert "page_error" not in results, results["page_error"]
    return results


@needs_browser
@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_protocol_scenario_chromium(name, chromium_results):
    check_protocol(chromium_results["protocol"], name)


@needs_browser
@pytest.mark.parametrize("name", NAMES)
def test_scenario_chromium(name, chromium_results):
    result = chromium_results["asyncify"][name]
    assert "skipped" not in result, f"Chromium 137+ has every feature the scenarios need: {result}"
    check(result, next(s for s in SCENARIOS if s["name"] == name))


def test_scenarios_are_well_formed():
    """Every scenario has a program that exists, steps and events; the names
    are the file names (the runners report by name)."""
    assert len(SCENARIOS) >= 10
    for path in sorted(scenario_host.SCENARIOS.glob("*.json")):
        s = json.loads(path.read_text())
        assert s["name"] == path.stem
        assert (scenario_host.PROGRAMS / s["program"]).exists()
        assert s["steps"] and s["events"]


# --------------------------------------------------------------------------
# node: the JS host's own tests (node --test)

MULTI_WAT = """(module
  (import "env" "pair" (func $pair (param i32) (result i32 i64)))
  (memory (export "memory") 1)
  (func (export "sum") (param $n i32) (result i64)
    (local $a i32) (local $b i64) (local $c i32) (local $d i64)
    (call $pair (local.get $n)) (local.set $b) (local.set $a)
    (call $pair (i32.add (local.get $n) (i32.const 1))) (local.set $d) (local.set $c)
    (i64.add (i64.add (local.get $b) (i64.extend_i32_u (local.get $a)))
             (i64.add (local.get $d) (i64.extend_i32_u (local.get $c))))))"""

PLAIN_WAT = """(module (import "env" "pause" (func $p (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "f") (result i32) (call $p (i32.const 1))))"""

POLL_WAT = """(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "poll") (param $n i32) (result i32)
    (call $poll (i32.const 1024) (i32.const 2048) (local.get $n) (i32.const 4000))))"""


@needs_node
def test_node_unit_tests(tmp_path):
    (tmp_path / "multi.wasm").write_bytes(ensure_instrumented(wat2wasm(MULTI_WAT), ["env.pair"],
                                                              data_memory="default"))
    (tmp_path / "plain.wasm").write_bytes(wat2wasm(PLAIN_WAT))
    (tmp_path / "poll.wasm").write_bytes(ensure_instrumented(
        wat2wasm(POLL_WAT), ["wasi_snapshot_preview1.poll_oneoff"], data_memory="default"))
    env = dict(os.environ, ASYNCPY_JS_FIXTURES=str(tmp_path))
    if PROTOCOL_DOC is not None:        # the host-wait protocol's own unit tests need its module
        server = tmp_path / "server.wasm"
        r = run_cli("transform", PROTOCOL_DIR / PROTOCOL_DOC["module"], *PROTOCOL_DOC["transform"],
                    "-q", "-o", server)
        assert r.returncode == 0, r.stderr
        if "asyncpy_suspend" in export_names(server.read_bytes()):
            env["ASYNCPY_JS_SERVER"] = str(server)
    r = subprocess.run([NODE, "--test", str(ROOT / "tests" / "js" / "host.test.mjs")], capture_output=True,
                       text=True, timeout=300, env=env, check=False)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "# fail 0" in r.stdout and "# pass 1" in r.stdout


# --------------------------------------------------------------------------
# shipping the JS host

def test_js_path_and_cli_copy(tmp_path):
    import asyncpy

    assert asyncpy.js_path() == JS / "asyncpy.mjs" and asyncpy.js_path().exists()
    r = run_cli("js")
    assert (r.returncode, r.stdout.strip()) == (0, str(JS / "asyncpy.mjs"))
    r = run_cli("js", "--out", tmp_path / "web", "--json")
    assert r.returncode == 0, r.stderr
    written = [Path(p) for p in json.loads(r.stdout)]
    assert sorted(p.name for p in written) == ["asyncpy.mjs", "binary.mjs", "wasi.mjs"]
    for p in written:
        assert p.read_bytes() == (JS / p.name).read_bytes()
    # the copy is self-contained: its imports resolve beside it
    if NODE:
        r = subprocess.run([NODE, "--input-type=module", "-e",
                            (f"import * as m from {json.dumps(str(tmp_path / 'web' / 'asyncpy.mjs'))};"
                             "console.log(typeof m.Instance, typeof m.Wasi, typeof m.JspiInstance)")],
                           capture_output=True, text=True, check=False)
        assert r.stdout.split() == ["function"] * 3, r.stderr
    # bad input: one line, status 1, nothing clobbered
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    r = run_cli("js", "--out", blocker)
    assert r.returncode == 1 and r.stderr.startswith("asyncpy: error:") and len(r.stderr.splitlines()) == 1
    assert blocker.read_text() == "keep"


# --------------------------------------------------------------------------
# a real page: a C program with tasks and a Go program, side by side

def _example_build():
    import importlib.util

    spec = importlib.util.spec_from_file_location("browser_example_build",
                                                  ROOT / "examples" / "browser" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build


@pytest.mark.slow
@pytest.mark.browser
@needs_browser
def test_browser_page_runs_c_tasks_and_go(tmp_path):
    """examples/browser/index.html as a user gets it (build.py --go), in
    Chromium: the output is read from the DOM. The screenshot goes to
    $ASYNCPY_SCREENSHOT when set (docs/img/browser-host.png was made so)."""
    from corpus import expected

    out = _example_build()(tmp_path / "page", go=True)
    shot = Path(os.environ.get("ASYNCPY_SCREENSHOT") or tmp_path / "browser-host.png")
    errors: list[str] = []

    def visit(ctx):
        page = ctx.new_page()
        page.set_viewport_size({"width": 1280, "height": 760})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/index.html")
        page.wait_for_function("['c', 'go'].every("
                               "id => document.getElementById(id).dataset.state !== 'running')",
                               timeout=120_000)
        states = [page.get_attribute(f"#{p}", "data-state") for p in ("c", "go")]
        c_lines = page.inner_text("#c .out").splitlines()
        go_lines = page.inner_text("#go .out").splitlines()
        page.screenshot(path=str(shot), full_page=True)
        return states, c_lines, go_lines

    with browser.serve(out) as url:
        states, c_lines, go_lines = browser.in_browser(visit)
    assert states == ["done", "done"], (c_lines, go_lines, errors)
    assert not errors

    # C: each task's lines in its own order, with the sizes the JS fetch returned
    for t in (1, 2, 3):
        mine = [ln for ln in c_lines if ln.startswith(f"task {t}:")]
        want = []
        for item in (1, 2, 3):
            want += [f"task {t}: fetching item {item}",
                     f"task {t}: item {item} -> {512 * item + 100 * t} bytes"]
        assert mine == [*want, f"task {t}: done, {sum(512 * i + 100 * t for i in (1, 2, 3))} bytes"]
    # the tasks interleave: task 3 started before task 1 finished
    assert c_lines.index("task 3: fetching item 1") < c_lines.index("task 1: done, 3372 bytes")
    assert "all 3 tasks done: 11016 bytes" in c_lines
    assert c_lines[-1].startswith("run(3) returned 11016 after") and c_lines[-1].endswith("(9 pauses)")

    # Go: exactly its output under wasmtime, then the page's own summary line
    want_go = expected("go/hello").splitlines()
    assert go_lines[:len(want_go)] == want_go
    assert go_lines[len(want_go)].startswith("exit 0 after")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


# --------------------------------------------------------------------------
# JSPI: the untransformed module, against the transformed one, same page

@needs_browser
def test_jspi_and_asyncify_agree_in_chromium(site):
    """c/recursion: 2083 pauses deep in a recursion. Asyncify on the
    transformed module and JSPI on the untransformed one give the same
    output as wasmtime and the same number of pauses."""
    from corpus import build, expected

    plain = build.c("recursion").read_bytes()
    (site / "work" / "recursion.wasm").write_bytes(plain)
    (site / "work" / "recursion.async.wasm").write_bytes(
        ensure_instrumented(plain, ["env.pause"], data_memory="default", name="c/recursion"))
    (site / "blank.html").write_text("<!doctype html><link rel='icon' href='data:,'><title>blank</title>")
    def evaluate(ctx):
        page = ctx.new_page()
        page.goto(f"{url}/blank.html")
        return page.evaluate("""async () => {
          const m = await import("/asyncpy/js/asyncpy.mjs");
          const run = async (file, jspi) => {
            let out = "";
            const inst = await m.instantiate(fetch(file), {
              env: { pause: async (n) => { await null; return n + 1; } },
            }, { jspi, wasi: { stdout: (t) => { out += t; } } });
            const code = await inst.runCommand();
            return { code, out, pauses: inst.pauses["env.pause"], kind: inst.constructor.name };
          };
          return { jspi: await run("/work/recursion.wasm", true),
                   asyncify: await run("/work/recursion.async.wasm", false) };
        }""")

    with browser.serve(site) as url:
        result = browser.in_browser(evaluate)
    # the browser ran in a thread of its own: this thread can still run an event loop
    import asyncio
    asyncio.run(asyncio.sleep(0))
    want = expected("c/recursion")
    assert result["jspi"] == {"code": 0, "out": want, "pauses": 2083, "kind": "JspiInstance"}
    assert result["asyncify"] == {"code": 0, "out": want, "pauses": 2083, "kind": "Instance"}
