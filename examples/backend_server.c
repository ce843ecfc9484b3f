/* A server-style reactor in plain C: no asyncpy header, no task API. Each
 * handle(request) call is one request; it asks the host's backend (a
 * Python `async def`, a database or a web service in real life) and builds
 * a reply from the answer.
 *
 *   asyncpy transform --reactor --imports env.backend backend_server.wasm
 *
 * is all it takes for many handle() calls to be in flight at once: each
 * runs as its own task, and a backend call blocks only the task that made
 * it. serve.py builds, transforms and drives it. */
#include <stdio.h>

__attribute__((import_module("env"), import_name("backend")))
int backend(int key);                          /* implemented by the host, async */

static int served, max_in_flight, in_flight;

__attribute__((export_name("handle"))) int handle(int request) {
    char note[64];                             /* this request's own stack */
    snprintf(note, sizeof note, "request %d", request);
    if (++in_flight > max_in_flight) max_in_flight = in_flight;
    int price = backend(request);              /* only this request waits */
    int total = price * 2 + request % 7;       /* the reply, from the answer */
    in_flight--;
    served++;
    if (request % 25 == 0) { printf("  %s: total %d\n", note, total); fflush(stdout); }
    return total;
}

/* How many requests were inside handle() at once, at most. */
__attribute__((export_name("max_in_flight"))) int get_max_in_flight(void) { return max_in_flight; }
__attribute__((export_name("served"))) int get_served(void) { return served; }
