/* Tasks of the bundled runtime that call a host import: run(n) starts n
 * workers; each prints, calls env.fetch (which the host may implement
 * asynchronously), yields, twice; run waits on a queue until all are done. */
#include <stdio.h>
#include "asyncpy.h"

__attribute__((import_module("env"), import_name("fetch"))) int host_fetch(int);

static asyncpy_queue done_q;
static int pending, total;

static void worker(void *arg) {
    int id = (int)(long)arg;
    for (int round = 0; round < 2; round++) {
        printf("task %d round %d\n", id, round);
        fflush(stdout);
        total += host_fetch(id * 10 + round);
        asyncpy_yield();
    }
    if (--pending == 0) asyncpy_wake_all(&done_q);
}

__attribute__((export_name("run"))) int run(int n) {
    total = 0;
    pending = n;
    for (int i = 1; i <= n; i++) asyncpy_go(worker, (void *)(long)i);
    while (pending) asyncpy_wait(&done_q);
    printf("run(%d): total %d\n", n, total);
    fflush(stdout);
    return total;
}
