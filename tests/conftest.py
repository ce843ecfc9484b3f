"""Fixtures: modules from WAT text, files in tmp_path, the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests import support


@pytest.fixture
def wat2wasm():
    """wat2wasm(text) -> bytes."""
    return support.wat2wasm


@pytest.fixture
def analyze_wat():
    """analyze_wat(text, **AnalysisOptions fields) -> Analysis."""
    return support.analyze_wat


@pytest.fixture
def write_wat(tmp_path):
    """write_wat(text, name="m.wat") -> path of a .wat file in tmp_path."""
    def write(text: str, name: str = "m.wat"):
        p = tmp_path / name
        p.write_text(text)
        return p
    return write


@pytest.fixture
def write_wasm(tmp_path):
    """write_wasm(text_or_bytes, name="m.wasm") -> path of a .wasm file in tmp_path."""
    def write(module, name: str = "m.wasm"):
        data = support.wat2wasm(module) if isinstance(module, str) else bytes(module)
        p = tmp_path / name
        p.write_bytes(data)
        return p
    return write


@pytest.fixture
def cli():
    """cli(*args) -> click Result (exit_code, stdout, stderr), in process."""
    from asyncpy.cli import main

    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return invoke


@pytest.fixture(scope="session")
def go_hello_wasm() -> bytes:
    return support.go_hello().read_bytes()


@pytest.fixture(scope="session")
def c_fnptr_wasm() -> bytes:
    return support.c_fnptr().read_bytes()
