/* Tasks that sleep in real time and wait on the host, in a C command run by
 * `asyncpy run` (python examples/sleepers.py builds and runs it). main is a
 * task too: it starts five workers and waits for them. Worker i sleeps
 * 100*i ms, then awaits the host's `env.fetch` (an async def that takes
 * 150 ms). The waits overlap: the program takes about 650 ms, not the
 * 2250 ms they add up to. */
#include <stdio.h>
#include "asyncpy.h"

__attribute__((import_module("env"), import_name("fetch")))
int fetch(int key);                            /* async def in sleepers_host.py */

#define WORKERS 5
static asyncpy_queue all_done;
static int finished;
static long long t0;

static void say(const char *what, int i, int v) {
    printf("[%4lld ms] worker %d: %s %d\n", asyncpy_clock_ms() - t0, i, what, v);
    fflush(stdout);
}

static void worker(void *arg) {
    int i = (int)(long)arg;
    say("sleeps ms", i, 100 * i);
    asyncpy_sleep_ms(100 * i);                 /* only this task sleeps */
    say("slept, fetches", i, i);
    int v = fetch(i);                          /* only this task waits on the host */
    say("fetched", i, v);
    finished++;
    asyncpy_wake_all(&all_done);
}

int main(void) {
    t0 = asyncpy_clock_ms();
    for (long i = 1; i <= WORKERS; i++) asyncpy_go(worker, (void *)i);
    while (finished < WORKERS) asyncpy_wait(&all_done);
    int total = 0;
    for (int i = 1; i <= WORKERS; i++) total += 100 * i + 150;
    printf("all %d workers done in %lld ms of wall time; their waits add up to %d ms\n",
           WORKERS, asyncpy_clock_ms() - t0, total);
    return 0;
}
