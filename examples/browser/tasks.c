/* Tasks in a browser tab. run(n) starts n downloader tasks of asyncpy's
 * bundled runtime; each "fetches" three items through env.fetch, an import
 * the page implements as a JS async function that fakes network latency,
 * and prints as it goes. run returns when every task is done.
 *
 *   python examples/browser/build.py && python -m http.server -d examples/browser
 */
#include <stdio.h>
#include "../asyncpy.h"

/* fetch(task, item) -> size in bytes; the page's JS awaits a timer. */
__attribute__((import_module("env"), import_name("fetch"))) int fetch(int task, int item);

static asyncpy_queue all_done;
static int running, total;

static void downloader(void *arg) {
    int id = (int)(long)arg, mine = 0;
    for (int item = 1; item <= 3; item++) {
        printf("task %d: fetching item %d\n", id, item);
        fflush(stdout);
        int size = fetch(id, item);
        mine += size;
        printf("task %d: item %d -> %d bytes\n", id, item, size);
        fflush(stdout);
        asyncpy_yield();               /* let the other tasks print */
    }
    printf("task %d: done, %d bytes\n", id, mine);
    fflush(stdout);
    total += mine;
    if (--running == 0) asyncpy_wake_all(&all_done);
}

__attribute__((export_name("run"))) int run(int n) {
    total = 0;
    running = n;
    for (int i = 1; i <= n; i++) asyncpy_go(downloader, (void *)(long)i);
    while (running) asyncpy_wait(&all_done);
    printf("all %d tasks done: %d bytes\n", n, total);
    fflush(stdout);
    return total;
}
