"""Which functions can pause, and why: facts (what the analysis reads from a
module), reach (the search and its reasons)."""

from asyncpy.analysis.facts import IndirectSite, collect_facts
from asyncpy.analysis.reach import Analysis, analyze, indirect_targets

__all__ = ["Analysis", "IndirectSite", "analyze", "collect_facts", "indirect_targets"]
