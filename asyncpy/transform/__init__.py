"""The unwind/rewind instrumentation: sites, liveness, emit (the spine rewrite), frames (layout, push/pop helpers), additions (globals, control exports, runtime imports, asserts), instrument (the driver)."""

from asyncpy.transform.additions import separate_memory_init
from asyncpy.transform.emit import TRACE_BASE, TRACE_MODULE
from asyncpy.transform.instrument import instrument
from asyncpy.transform.report import TransformReport

__all__ = ["TRACE_BASE", "TRACE_MODULE", "TransformReport", "instrument", "separate_memory_init"]
