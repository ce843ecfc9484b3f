"""A module with much code goes through Binaryen in chunks of its functions
(asyncpy.wasm.chunks). The output must be the module the whole-module
transform writes, byte for byte: every chunk orders functions alike, and
merging takes each body and each function's local names from its owner.
Where the chunks' outputs cannot be merged, the transform falls back to
the whole module, with the same output."""

from __future__ import annotations

import pytest

from asyncpy import pipeline
from asyncpy.options import AnalysisOptions, TransformOptions
from asyncpy.wasm import chunks, load_bytes
from asyncpy.wasm.binary import sections
from tests.support import wat2wasm

# Function $f pauses; $g calls it (instrumented); $quiet is on the add list
# but has no pause site (the transform leaves it as it is, yet moves it
# like the others); $leaf never pauses; $dead is only `unreachable`, like a
# stub, with a named local. Every function has named locals.
WAT = """(module
  (import "env" "pause" (func $pause))
  (memory (export "memory") 1)
  (global $g0 (mut i32) (i32.const 0))
  (table 2 funcref)
  (elem (i32.const 0) $leaf $g)
  (func $leaf (param $x i32) (result i32) (local $y i32)
    (local.set $y (i32.mul (local.get $x) (i32.const 3)))
    (local.get $y))
  (func $f (param $n i32) (result i32) (local $acc i32)
    (local.set $acc (call $leaf (local.get $n)))
    (call $pause)
    (i32.add (local.get $acc) (global.get $g0)))
  (func $dead (param $p i64) (local $unused f64)
    unreachable)
  (func $quiet (param $q i32) (result i32) (local $r i32)
    (local.set $r (i32.add (local.get $q) (i32.const 1)))
    (local.get $r))
  (func $g (export "main") (param $k i32) (result i32) (local $t i32)
    (local.set $t (call $f (local.get $k)))
    (call_indirect (param i32) (result i32) (local.get $t) (i32.const 0))))
"""
OPTIONS = TransformOptions(analysis=AnalysisOptions(imports=("env.pause",), add_list=("quiet",)))


def transform(raw: bytes, options: TransformOptions, monkeypatch, limit: int | None) -> bytes:
    """The transform's output, cut in chunks of `limit` bytes of code (None:
    never cut)."""
    with monkeypatch.context() as m:
        m.setenv("ASYNCPY_CHUNK_BYTES", str(limit or 1 << 40))
        return pipeline.transform_loaded(load_bytes(raw), options).wasm


def merged_and_whole(raw, options, monkeypatch, limit):
    fallbacks = chunks.stats["fallbacks"]
    cut = transform(raw, options, monkeypatch, limit)
    merged = chunks.stats["fallbacks"] == fallbacks
    return cut, transform(raw, options, monkeypatch, None), merged


def test_plan_cuts_contiguous_runs_that_cover_every_function(go_hello_wasm):
    code = chunks.code_section(go_hello_wasm)
    assert code is not None
    for limit in (1, 4096, 300_000, 1 << 40):
        runs = chunks.plan(code, limit)
        assert [i for r in runs for i in r] == list(range(len(code.bodies)))
        sizes = [sum(e - s for s, e in code.bodies[r.start:r.stop]) for r in runs]
        biggest = max(e - s for s, e in code.bodies)
        # No run is bigger than its share plus one body.
        assert max(sizes) <= sum(sizes) / len(runs) + biggest
    assert len(chunks.plan(code, 1 << 40)) == 1


def test_every_function_its_own_chunk_gives_the_same_bytes(monkeypatch):
    raw = wat2wasm(WAT)
    code = chunks.code_section(load_bytes(raw).data)
    assert code is not None and len(chunks.plan(code, 1)) == 5
    cut, whole, merged = merged_and_whole(raw, OPTIONS, monkeypatch, 1)
    assert merged, "the chunks' outputs should merge"
    assert cut == whole


def test_a_go_program_in_chunks_gives_the_same_bytes(go_hello_wasm, monkeypatch):
    options = TransformOptions(analysis=AnalysisOptions(imports=("wasi_snapshot_preview1.poll_oneoff",)))
    code = chunks.code_section(load_bytes(go_hello_wasm).data)
    assert code is not None and len(chunks.plan(code, 300_000)) >= 4
    cut, whole, merged = merged_and_whole(go_hello_wasm, options, monkeypatch, 300_000)
    assert merged
    assert cut == whole


def test_a_c_program_in_chunks_gives_the_same_bytes(c_fnptr_wasm, monkeypatch):
    # Merged or not (Binaryen may number the types differently per chunk),
    # the output is the whole-module transform's.
    options = TransformOptions(analysis=AnalysisOptions(imports=("env.*",)))
    cut, whole, _ = merged_and_whole(c_fnptr_wasm, options, monkeypatch, 64)
    assert cut == whole


def test_when_the_outputs_do_not_merge_the_module_goes_whole(monkeypatch):
    raw = wat2wasm(WAT)
    whole = transform(raw, OPTIONS, monkeypatch, None)
    calls = []
    monkeypatch.setattr(chunks, "merge", lambda outputs: calls.append(len(outputs)))
    fallbacks = chunks.stats["fallbacks"]
    assert transform(raw, OPTIONS, monkeypatch, 1) == whole
    assert calls == [5]
    assert chunks.stats["fallbacks"] == fallbacks + 1


@pytest.mark.parametrize("options", [
    TransformOptions(analysis=OPTIONS.analysis, asserts=True),
    TransformOptions(analysis=OPTIONS.analysis, rewind_copy="loops"),
])
def test_options_that_need_the_whole_module_are_not_cut(options, monkeypatch):
    raw = wat2wasm(WAT)
    monkeypatch.setattr(chunks, "merge", lambda outputs: pytest.fail("a chunked transform"))
    transform(raw, options, monkeypatch, 1)


def module_with(global_init: int, body: str) -> bytes:
    return wat2wasm(f"""(module
      (global $g i32 (i32.const {global_init}))
      (func $a (result i32) {body})
      (func $b (result i32) (i32.const 7)))""")


STUB_BODY = "unreachable"


def code_bodies(wasm: bytes) -> list[bytes]:
    for sid, _, _, payload in sections(wasm):
        if sid == chunks.CODE_SECTION:
            return [bytes(wasm[s:e]) for s, e in chunks._bodies(wasm, payload)]
    raise AssertionError("no code section")


def test_merge_takes_each_body_from_where_it_is_not_a_stub():
    real = module_with(1, "(i32.const 42)")
    stubbed = module_with(1, STUB_BODY)
    assert code_bodies(stubbed)[0] == chunks.STUB
    merged = chunks.merge([stubbed, real])
    assert merged == real
    assert chunks.merge([real, stubbed]) == real


def test_merge_refuses_outputs_that_differ_elsewhere_or_twice():
    # A difference outside the code section: the global's initial value.
    assert chunks.merge([module_with(1, STUB_BODY), module_with(2, "(i32.const 42)")]) is None
    # Two chunks that both changed the same function.
    assert chunks.merge([module_with(1, "(i32.const 42)"), module_with(1, "(i32.const 43)")]) is None


def test_the_cli_says_how_many_chunks(cli, tmp_path, monkeypatch):
    import json

    src = tmp_path / "m.wasm"
    src.write_bytes(wat2wasm(WAT))
    for limit, expected in ((1, 5), (1 << 40, 1)):
        monkeypatch.setenv("ASYNCPY_CHUNK_BYTES", str(limit))
        r = cli("transform", src, "--imports", "env.pause", "--add-list", "quiet",
                "-o", tmp_path / "out.wasm", "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["chunks"] == expected


def test_analyze_in_chunks_reports_the_same(go_hello_wasm, tmp_path, monkeypatch):
    from asyncpy.pipeline import analyze_file

    src = tmp_path / "hello.wasm"
    src.write_bytes(go_hello_wasm)
    options = AnalysisOptions(imports=("wasi_snapshot_preview1.poll_oneoff",))
    seen = []
    read = chunks.stubbed
    monkeypatch.setattr(chunks, "stubbed", lambda *a: seen.append(a[2]) or read(*a))
    monkeypatch.setenv("ASYNCPY_CHUNK_BYTES", "300000")
    cut = analyze_file(src, options)
    assert len(seen) >= 4
    monkeypatch.setenv("ASYNCPY_CHUNK_BYTES", str(1 << 40))
    whole = analyze_file(src, options)
    assert cut.instrument == whole.instrument and cut.reasons == whole.reasons
    assert cut.instrument


# The rebuild cache (asyncpy.rebuild): a second build reuses every chunk; a
# build after one function changed redoes only that function's chunk; and
# the output is always the transform's without a cache.

EDITED = WAT.replace("(i32.const 3)", "(i32.const 4)")      # a constant in $leaf, the first chunk


def cached_transform(raw: bytes, cache, monkeypatch, options=OPTIONS) -> tuple[bytes, int, int]:
    """Output, chunks reused, modules read into Binaryen."""
    from asyncpy import binaryen

    reads = []
    real = binaryen.Module.read.__func__
    with monkeypatch.context() as m:
        m.setenv("ASYNCPY_CHUNK_BYTES", "1")
        m.setenv("ASYNCPY_JOBS", "1")       # every read in this process, where they are counted
        counted = classmethod(lambda cls, *a, **k: reads.append(1) or real(cls, *a, **k))
        m.setattr(binaryen.Module, "read", counted)
        result = pipeline.transform_loaded(load_bytes(raw), options, cache=cache)
    return result.wasm, result.report.chunks_reused, len(reads)


def test_a_rebuild_reuses_the_chunks_it_can(tmp_path, monkeypatch):
    from asyncpy.rebuild import RebuildCache

    cache = RebuildCache(tmp_path / "chunks")
    raw = wat2wasm(WAT)
    first, reused, reads = cached_transform(raw, cache, monkeypatch)
    assert (reused, reads) == (0, 9)        # facts of 5 chunks, then 4 read again to instrument
    assert first == transform(raw, OPTIONS, monkeypatch, None)

    again, reused, reads = cached_transform(raw, cache, monkeypatch)
    assert (again, reused, reads) == (first, 5, 0)

    # One body changed: only its chunk is read (once: facts, then instrumented).
    edited, reused, reads = cached_transform(wat2wasm(EDITED), cache, monkeypatch)
    assert (reused, reads) == (4, 1)
    assert edited == transform(wat2wasm(EDITED), OPTIONS, monkeypatch, None) != first

    # Other options: another analysis, so no output is reused.
    other = TransformOptions(analysis=AnalysisOptions(imports=("env.pause",)))
    out, reused, _ = cached_transform(raw, cache, monkeypatch, other)
    assert reused == 0
    assert out == transform(raw, other, monkeypatch, None)


def test_a_damaged_cache_is_a_miss(tmp_path, monkeypatch):
    from asyncpy.rebuild import RebuildCache

    cache = RebuildCache(tmp_path / "chunks")
    raw = wat2wasm(WAT)
    first, _, _ = cached_transform(raw, cache, monkeypatch)
    for p in (tmp_path / "chunks").iterdir():
        p.write_bytes(b"not a pickle")
    again, reused, _ = cached_transform(raw, cache, monkeypatch)
    assert (again, reused) == (first, 0)


def test_the_probe_reads_a_big_module_in_valid_pieces(go_hello_wasm, monkeypatch):
    import wasmtime

    monkeypatch.setenv("ASYNCPY_CHUNK_BYTES", "300000")
    data = load_bytes(go_hello_wasm).data
    pieces = list(chunks.pieces(data))
    assert len(pieces) >= 4
    code = chunks.code_section(data)
    assert code is not None
    seen = set()
    for piece in pieces:
        wasmtime.Module.validate(wasmtime.Engine(), piece)
        bodies = code_bodies(piece)
        assert len(bodies) == len(code.bodies)
        seen |= {i for i, b in enumerate(bodies) if b == bytes(data[code.bodies[i][0]:code.bodies[i][1]])}
    assert seen == set(range(len(code.bodies)))     # every body is read in some piece
    monkeypatch.setenv("ASYNCPY_CHUNK_BYTES", str(1 << 40))
    assert list(chunks.pieces(data)) == [data]


def test_the_cli_rebuilds_incrementally(cli, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("ASYNCPY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ASYNCPY_CHUNK_BYTES", "1")
    src = tmp_path / "m.wasm"
    reused = []
    for text in (WAT, EDITED):
        src.write_bytes(wat2wasm(text))
        r = cli("transform", src, "--imports", "env.pause", "--add-list", "quiet", "--incremental",
                "-o", tmp_path / "out.wasm", "--json")
        assert r.exit_code == 0, r.output
        reused.append(json.loads(r.output)["chunks_reused"])
    assert reused == [0, 4]
    assert any((tmp_path / "cache" / "chunks").iterdir())


def test_the_rebuild_benchmark_edits_one_body_and_reuses_the_rest(go_hello_wasm, tmp_path, monkeypatch):
    import json
    import sys

    from bench import rebuild

    original, edited, name = rebuild.two_builds(go_hello_wasm)
    assert name
    a, b = code_bodies(original), code_bodies(edited)
    assert len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1
    src = tmp_path / "hello.wasm"
    src.write_bytes(go_hello_wasm)
    out = tmp_path / "rebuild.json"
    monkeypatch.setenv("ASYNCPY_CHUNK_BYTES", "300000")
    monkeypatch.setattr(sys, "argv", ["rebuild", str(src), "--json", str(out)])
    rebuild.main()          # exits with an error if the rebuild's bytes differ from the plain transform's
    rows = json.loads(out.read_text())["rows"]
    again = rows["incremental rebuild after the edit"]
    assert again["chunks"] >= 4 and again["chunks_reused"] == again["chunks"] - 1


def test_incremental_refuses_what_it_cannot_keep_and_says_when_it_kept_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ASYNCPY_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "m.wasm"
    src.write_bytes(wat2wasm(WAT))
    out = tmp_path / "out.wasm"
    r = cli("transform", src, "--imports", "env.pause", "--incremental", "-O2", "-o", out)
    assert r.exit_code == 1 and not out.exists()
    assert "--incremental" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("transform", src, "--imports", "env.pause", "--incremental", "-o", out)
    assert r.exit_code == 0 and out.exists()
    assert "--incremental kept nothing" in r.stderr


def test_on_two_cores_a_child_reads_every_other_chunk_for_the_facts(go_hello_wasm, tmp_path):
    # In fresh processes: this one may have started Binaryen's thread pool,
    # after which it does not fork.
    import json
    import os
    import subprocess
    import sys

    src = tmp_path / "hello.wasm"
    src.write_bytes(go_hello_wasm)
    script = (
        "import sys, json\n"
        "from asyncpy import parallel, pipeline\n"
        "from asyncpy.options import AnalysisOptions, TransformOptions\n"
        "from asyncpy.wasm import load\n"
        "o = TransformOptions(analysis=AnalysisOptions(imports=('wasi_snapshot_preview1.poll_oneoff',)))\n"
        "r = pipeline.transform_loaded(load(sys.argv[1]), o)\n"
        "open(sys.argv[2], 'wb').write(r.wasm)\n"
        "print(json.dumps([parallel.stats['splits'], parallel.stats['child_failures'], r.report.chunks]))\n")
    outs, seen = {}, {}
    for jobs in ("default", "1", "2"):
        out = tmp_path / f"out{jobs}.wasm"
        env = {k: v for k, v in os.environ.items() if k != "ASYNCPY_JOBS"}
        env["ASYNCPY_CHUNK_BYTES"] = "300000"
        if jobs != "default":
            env["ASYNCPY_JOBS"] = jobs
        p = subprocess.run([sys.executable, "-c", script, str(src), str(out)], env=env, capture_output=True,
                           text=True, check=True)
        seen[jobs] = json.loads(p.stdout.strip().splitlines()[-1])
        outs[jobs] = out.read_bytes()
    assert seen["1"][:2] == [0, 0] and seen["1"][2] >= 4
    assert seen["default"][1:] == [0, seen["1"][2]]
    # By default the facts are read on two processes where there are two cores.
    assert (seen["default"][0] >= 1) == (len(os.sched_getaffinity(0)) >= 2)
    # ASYNCPY_JOBS=2 (speed over memory) instruments the whole module on two cores.
    assert seen["2"][2] == 1
    assert outs["default"] == outs["1"] == outs["2"]
