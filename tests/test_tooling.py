"""The project's own plumbing: one version, docs that cannot drift (markers:
--strict-markers in pyproject)."""

from __future__ import annotations

import re
import tomllib

import asyncpy
from tests.support import ROOT, run_cli


def test_version_is_written_once():
    """pyproject takes the version from asyncpy.__version__ (setuptools
    dynamic), and `asyncpy --version` prints it, installed or not."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    r = run_cli("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(asyncpy.__version__)



def test_design_task_block_matches_tasks_wat():
    """docs/DESIGN.md §5 restates the task-block layout of tasks.wat's header;
    every offset the header lists must be in the document's table."""
    header = (ROOT / "asyncpy" / "link" / "tasks.wat").read_text().split("(module", 1)[0]
    offsets = set(re.findall(r"^;;\s+\+(\d+)\s", header, re.M))
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    table = design[design.index("**Task block**"):design.index("**Pausing** is asyncify")]
    documented = set(re.findall(r"\+(\d+)", table))
    missing = sorted(offsets - documented, key=int)
    assert offsets and not missing, f"docs/DESIGN.md §5 lacks the task-block offsets {missing}"
