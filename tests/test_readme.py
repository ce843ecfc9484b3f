"""The README cannot go stale: its runnable examples are run and compared.

Convention (for whoever edits README.md): a fenced block with the info
string `console`, directly preceded by the line `<!-- readme-test -->`, is
run by this test. In it, a line starting with `$ ` is a command, run by
bash from a scratch directory in which `examples/` is the repository's
(so outputs land there, not in the checkout), with `asyncpy` and `python`
meaning this checkout and this interpreter; the lines up to the next `$ `
are what it prints (stdout and stderr together, as on a terminal; progress
is not shown there since stderr is not a terminal) and must match exactly,
except that timings like `0.01s` are compared as `<t>s`. Every command must
exit 0. Mark only cheap commands (seconds): this runs in every CI run.

Unmarked blocks are not run (installation, long builds, benchmarks).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.support import ROOT

README = ROOT / "README.md"
MARKER = "<!-- readme-test -->"
TIMING = re.compile(r"\b\d+\.\d+s\b")


@dataclass
class Example:
    line: int                   # 1-based line of the command in README.md
    command: str
    expected: list[str] = field(default_factory=list)


def runnable_examples(text: str) -> list[Example]:
    lines = text.splitlines()
    examples: list[Example] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != MARKER:
            i += 1
            continue
        j = i + 1
        if j >= len(lines) or lines[j].strip() != "```console":
            raise AssertionError(f"README.md:{i + 1}: {MARKER} must be followed by a ```console block")
        j += 1
        current: Example | None = None
        while j < len(lines) and lines[j].strip() != "```":
            ln = lines[j]
            if ln.startswith("$ "):
                current = Example(j + 1, ln[2:])
                examples.append(current)
            elif current is None:
                raise AssertionError(f"README.md:{j + 1}: output before the first `$ ` command")
            else:
                current.expected.append(ln)
            j += 1
        i = j + 1
    return examples


def normalise(lines: list[str]) -> list[str]:
    return [TIMING.sub("<t>s", ln.rstrip()) for ln in lines]


def test_the_convention_is_parsed():
    text = "x\n<!-- readme-test -->\n```console\n$ echo a\na\n$ true\n```\n```console\n$ not run\n```\n"
    got = runnable_examples(text)
    assert [(e.line, e.command, e.expected) for e in got] == [(4, "echo a", ["a"]), (6, "true", [])]
    assert normalise(["took 12.34s", "0.01s)"]) == ["took <t>s", "<t>s)"]


EXAMPLES = runnable_examples(README.read_text())


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    (d / "examples").symlink_to(ROOT / "examples")
    bin_ = d / ".bin"
    bin_.mkdir()
    for name, target in (("asyncpy", f'exec "{sys.executable}" -m asyncpy "$@"'),
                         ("asyncpy-wasm-opt", f'exec "{sys.executable}" -m asyncpy.cli.wasmopt "$@"'),
                         ("python", f'exec "{sys.executable}" "$@"')):
        (bin_ / name).write_text(f"#!/bin/sh\n{target}\n")
        (bin_ / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(ROOT),
               ASYNCPY_CACHE=str(d / ".cache"))
    env.pop("ASYNCPY_DEBUG", None)
    return d, env


def test_readme_has_runnable_examples():
    assert len(EXAMPLES) >= 3
    assert EXAMPLES[0].command.startswith("asyncpy transform examples/sleepy.wat")


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}" for e in EXAMPLES])
def test_readme_example(example, scratch):
    d, env = scratch
    r = subprocess.run(["bash", "-c", example.command], cwd=d, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"README.md:{example.line}: `{example.command}` failed:\n{r.stdout}"
    assert normalise(r.stdout.splitlines()) == normalise(example.expected), \
        f"README.md:{example.line}: `{example.command}` prints something else than the README shows"


def test_readme_lists_every_test_file():
    text = README.read_text()
    missing = [p.name for p in sorted((ROOT / "tests").glob("test_*.py")) if f"tests/{p.name}" not in text]
    assert not missing, f"README.md's test list does not name {missing}"
