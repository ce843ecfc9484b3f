/* asyncpy.h: the bundled asyncpy runtime, seen from C.
 *
 * Declares the functions a program imports from the wasm module "asyncpy".
 * `asyncpy transform` links the runtime into the program and resolves these
 * imports (there is no separate module to ship). Build with
 *   python -m ziglang cc --target=wasm32-wasi -O2 -s [-mexec-model=reactor] prog.c -o prog.wasm
 * then
 *   asyncpy transform prog.wasm --reactor -o prog.async.wasm
 *
 * Tasks run cooperatively: a task runs until it calls asyncpy_yield,
 * asyncpy_sleep_ticks or asyncpy_wait. With --reactor every export call runs
 * as a new task and returns when that task finishes; other tasks keep their
 * stacks until the next call. A task's stack (asyncify buffer + C shadow
 * stack) is one block of --task-stack bytes (default 64 KiB) taken from
 * malloc; deep recursion or big local arrays in a task need a bigger block
 * (an overflow traps in asyncpy.rt.trap.stack_overflow at the next switch).
 */
#ifndef ASYNCPY_H
#define ASYNCPY_H

#include <stddef.h>
#include <stdint.h>

#define ASYNCPY_IMPORT(name) __attribute__((import_module("asyncpy"), import_name(name)))

typedef int32_t asyncpy_task;            /* a task's block address; 0: none */
typedef struct { int32_t head, tail; } asyncpy_queue;  /* a wait queue; zero-initialise */

/* Start fn(arg) as a new task. It first runs when the caller blocks (or,
 * from outside any task, during the next wrapped export call). */
ASYNCPY_IMPORT("go") asyncpy_task asyncpy_go(void (*fn)(void *), void *arg);
/* Let the other runnable tasks run; come back after them. */
ASYNCPY_IMPORT("yield") void asyncpy_yield(void);
/* Sleep for `ticks` of the runtime's virtual clock, which advances only when
 * no task can run (jumping to the next wake-up), i.e. only inside exports. */
ASYNCPY_IMPORT("sleep_ticks") void asyncpy_sleep_ticks(int32_t ticks);
/* The virtual clock. */
ASYNCPY_IMPORT("now") int64_t asyncpy_now(void);
/* Sleep for `ms` milliseconds of real time (the host's clock). Only this
 * task waits; with an async host (asyncpy.host, `asyncpy run`, the JS host)
 * the module returns to the host's event loop when every task waits, so
 * waits overlap. A synchronous host busy-waits instead. */
ASYNCPY_IMPORT("sleep_ms") void asyncpy_sleep_ms(int32_t ms);
/* The host's monotonic clock, in milliseconds. */
ASYNCPY_IMPORT("clock_ms") int64_t asyncpy_clock_ms(void);
/* Block the calling task on `q` until a wake. */
ASYNCPY_IMPORT("wait") void asyncpy_wait(asyncpy_queue *q);
/* Make the first task waiting on `q` runnable; 1 if there was one. */
ASYNCPY_IMPORT("wake") int32_t asyncpy_wake(asyncpy_queue *q);
/* Make every task waiting on `q` runnable; how many there were. */
ASYNCPY_IMPORT("wake_all") int32_t asyncpy_wake_all(asyncpy_queue *q);
/* The running task (0 outside any task). */
ASYNCPY_IMPORT("current") asyncpy_task asyncpy_current(void);
/* Tasks started and not finished (the running one included). */
ASYNCPY_IMPORT("live") int32_t asyncpy_live(void);

/* Task blocks come from malloc when the runtime can find it; in a stripped
 * build (-s) it has no name, so export it under a name the linker looks for. */
#include <stdlib.h>
__attribute__((export_name("asyncpy_malloc"), weak)) void *asyncpy_malloc(size_t n) {
    return malloc(n);
}

#endif
