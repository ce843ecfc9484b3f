"""The bundled task runtime (tasks.wat) and its linker."""

from asyncpy.link.link import DEFAULT_BLOCK, LinkOptions, api, imports_runtime, link, pin_table, unpin_table

__all__ = ["DEFAULT_BLOCK", "LinkOptions", "api", "imports_runtime", "link", "pin_table", "unpin_table"]
