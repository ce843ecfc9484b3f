"""The project's own plumbing: one version (markers: --strict-markers in pyproject)."""

from __future__ import annotations

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

