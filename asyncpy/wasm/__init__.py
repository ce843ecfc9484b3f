"""Wasm bytes before and after Binaryen.

binary (LEB, sections, imports, exports), sanitize (custom sections, names),
load (safe input), engine (the one wasmtime engine), output (atomic writes),
hollow (data segments' bytes kept out of Binaryen).
"""

from asyncpy.wasm.binary import custom_section, interface_names, memory_flags, sections, uleb
from asyncpy.wasm.engine import validation_engine
from asyncpy.wasm.load import STDIN_NAME, Loaded, check, load, load_bytes, to_binary
from asyncpy.wasm.sanitize import (
    clean_name_section,
    clean_target_features,
    strip_custom_sections,
    text_unsafe_name,
)

__all__ = [
    "STDIN_NAME",
    "Loaded",
    "check",
    "clean_name_section",
    "clean_target_features",
    "custom_section",
    "interface_names",
    "load",
    "load_bytes",
    "memory_flags",
    "sections",
    "strip_custom_sections",
    "text_unsafe_name",
    "to_binary",
    "uleb",
    "validation_engine",
]
