"""The bundled task runtime (tasks.wat) and its linker."""

from asyncpy.link.link import DEFAULT_BLOCK, LinkOptions, api, imports_runtime, link, table_kept

__all__ = ["DEFAULT_BLOCK", "LinkOptions", "api", "imports_runtime", "link", "table_kept"]
