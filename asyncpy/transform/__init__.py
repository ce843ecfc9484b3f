"""The unwind/rewind instrumentation: sites (the predicate, numbering),
liveness (what a frame must save), emit (the spine rewrite), frames
(layout, save/restore, push/pop helpers), additions (globals, control
exports, runtime imports, asserts), instrument (the driver).

A note on `Node.ref`: each node carries its Binaryen expression handle. The
transform treats it as opaque: it is only ever passed back to the Builder or
to an asyncpy.binaryen helper (set_children, side_effects, is_return_call,
break_has_condition...), never inspected here. No other cffi value (NULL,
type handles as dict keys) is used in this package."""

from asyncpy.transform.additions import separate_memory_init
from asyncpy.transform.emit import TRACE_BASE, TRACE_MODULE
from asyncpy.transform.instrument import instrument
from asyncpy.transform.report import TransformReport

__all__ = ["TRACE_BASE", "TRACE_MODULE", "TransformReport", "instrument", "separate_memory_init"]
