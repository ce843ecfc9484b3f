"""The steps every command shares: load a file safely, read it into
Binaryen, collect facts, analyse. Kept apart from the CLI so tests and the
host driver call the same code."""

from __future__ import annotations

import os

from asyncpy import binaryen
from asyncpy.analysis import Analysis, AnalysisOptions, analyze, collect_facts
from asyncpy.loader import Loaded, load


def read_module(loaded: Loaded) -> binaryen.Module:
    return binaryen.Module.read(loaded.data)


def analyze_file(path: str | os.PathLike, options: AnalysisOptions = AnalysisOptions()) -> Analysis:
    loaded = load(path)
    with read_module(loaded) as module:
        return analyze(collect_facts(module), options)
