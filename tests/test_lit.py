"""The lit files (tests/lit/*.wat): what the transform emits, exactly.

Per file: the printed output equals the file's OUTPUT section (regenerate
with `python -m tests.lit --update` after changing the emission, and read the
diff); the binary output validates in Binaryen and wasmtime; with `EXEC:`,
pausing at every pausing-import call reproduces the unpaused original
(tests/test_transform.py's differential, on tests/pausehost.py).
"""

from __future__ import annotations

import difflib

import pytest
import wasmtime

from asyncpy import binaryen as B
from tests import lit
from tests import pausehost as H
from tests.support import wat2wasm
from tests.test_transform import Case, every_point

FILES = lit.files()


def test_there_are_lit_files():
    assert len(FILES) >= 15


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_file_teaches(path):
    """A lit file opens with prose saying what it shows, before its RUN line."""
    head = path.read_text().split(";; RUN:")[0].splitlines()
    assert head and all(line.startswith(";; ") for line in head), f"{path.name}: start with a comment"
    assert sum(len(line) for line in head) >= 120, f"{path.name}: say what the construct shows"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_output_is_the_golden_text(path):
    f = lit.parse(path)
    assert f.expected is not None, f"{path.name}: no OUTPUT section; run python -m tests.lit --update"
    got = lit.transform_text(f)
    if got != f.expected:
        diff = "".join(difflib.unified_diff(f.expected.splitlines(keepends=True),
                                            got.splitlines(keepends=True), "expected", "now", n=2))
        pytest.fail(f"{path.name}: the output changed (python -m tests.lit --update, then review):\n"
                    f"{diff[:6000]}")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_output_validates_and_runs(path):
    f = lit.parse(path)
    out = lit.transform_binary(f)
    with B.Module.read(out) as m:
        m.features = B.FEATURES_ALL
        assert m.validate()
    wasmtime.Module.validate(H.engine(), out)
    # The golden text is a valid module too (the binary writer regroups
    # locals and drops nameless blocks, so the two are not compared).
    with B.Module.parse_text(f.expected or "") as m:
        m.features = B.FEATURES_ALL
        assert m.validate()
    if f.execute is None:
        return
    original = wat2wasm(path.read_text())
    baseline = H.run(original, export=f.execute)
    assert baseline.calls > 0, "an EXEC file must call a pausing import"
    case = Case(original, out, b"", None, baseline, {"export": f.execute})
    bad = every_point(case, out, "asyncpy")
    assert not bad, "\n".join(bad[:10])


def test_design_quotes_are_current():
    """The worked examples in docs/DESIGN.md are what the code emits today."""
    text = lit.DESIGN.read_text()
    assert "<!-- lit:" in text
    assert lit.design_quotes(text, lit.transform_text) == text, \
        "docs/DESIGN.md quotes a stale output: python -m tests.lit --update"
