"""asyncpy: make WebAssembly modules pausable.

Pipeline: `loader` (safe input) -> `binaryen` (the only FFI layer) ->
`analysis` (which functions can pause, and why) -> `transform`
(unwind/rewind instrumentation) -> `runtime_wat` (tasks, scheduler, export
wrappers) -> `host` (a Python driver for async imports).
"""

__version__ = "0.1.0"
