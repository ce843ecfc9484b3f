"""Every name and number of the runtime ABI, once (docs/DESIGN.md section 3).

The globals and exports are Binaryen's (`wasm-opt --asyncify`), so that
Emscripten's, TinyGo's and asyncify.mjs-style runtimes work unchanged; the
helper names are asyncpy's own internals, listed here so that the transform,
the linker, the hosts and the tests agree on them."""

from __future__ import annotations

STATE = "__asyncify_state"


DATA = "__asyncify_data"


UNWIND_LABEL = "__asyncify_unwind"


PUSH_FRAME = "__asyncify_push_frame"


POP_FRAME = "__asyncify_pop_frame"


REWIND_INDEX = "__asyncify_rewind_index"


EXIT_LABEL = "__asyncify_exit"


TRACE_FUNCTION = "__asyncpy_profile_unwind"


NORMAL, UNWINDING, REWINDING = 0, 1, 2


CONTROL_EXPORTS = ("asyncify_start_unwind", "asyncify_stop_unwind", "asyncify_start_rewind",
                   "asyncify_stop_rewind", "asyncify_get_state")


SEPARATE_MEMORY = "asyncify_memory"   # internal and export name


SEPARATE_STRUCT = 0                   # the {current, end} struct; the buffer follows it


ASYNCIFY = "asyncify"


# asyncify.* imports a program may use to drive the stack from inside wasm.
TOP_MOST = ("start_unwind", "stop_rewind")        # callers pause, are not instrumented


BOTTOM_MOST = ("stop_unwind", "start_rewind")     # callers are never instrumented


RUNTIME_QUERIES = ("get_state",)                  # no effect on the analysis


# --- r2 (issue 15): numbers the transform and the linker share with tasks.wat ---

TASK_ARGS_OFFSET = 36                 # a task header's args slots (link/tasks.wat, "+36 args")


TASK_MAX_SLOTS = 8                    # of 8 bytes each: an export's parameters, then its results


DEFAULT_TASK_BLOCK = 65536            # bytes per task: header, unwind buffer, shadow stack
# --- end r2 ---


# --------------------------------------------------------------------------
# r1 (issue 15): the numbers the hosts use

PAGE_SIZE = 65536                     # a wasm page

# the control exports by role (CONTROL_EXPORTS lists them all)
START_UNWIND, STOP_UNWIND, START_REWIND, STOP_REWIND, GET_STATE = CONTROL_EXPORTS

# the data struct {current, end}: two pointers (i32, or i64 on memory64);
# the buffer of saved frames follows it, and `current` starts there
CURRENT_OFFSET = 0
END_OFFSET_32, END_OFFSET_64 = 4, 8
STRUCT_SIZE_32, STRUCT_SIZE_64 = 8, 16
