"""asyncpy: make WebAssembly modules pausable.

Pipeline: `loader` (safe input) -> `binaryen` (the only FFI layer) ->
`analysis` (which functions can pause, and why) -> `transform`
(unwind/rewind instrumentation) -> `runtime_wat` (tasks, scheduler, export
wrappers) -> `host` (a Python driver for async imports; `js/` is the JavaScript one).
"""

__version__ = "0.1.0"


def js_path(name: str = "asyncpy.mjs"):
    """Path of the JavaScript host's ES module (browsers and node); its
    helpers binary.mjs and wasi.mjs sit beside it. `asyncpy js --out DIR`
    copies all three."""
    from asyncpy.js import path
    return path(name)
