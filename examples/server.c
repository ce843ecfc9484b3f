/* A server-style reactor: each handle(key) call is one request. A
 * background task owns a small key/value store and a running total; the
 * request task sends it a message and blocks for the reply. Between calls
 * the store task stays paused in asyncpy_wait, its locals intact. */
#include <stdio.h>
#include "asyncpy.h"

typedef struct { int key, reply, ready; asyncpy_queue wait; } request;

static request *inbox;
static asyncpy_queue inbox_q, inbox_free;

static void store(void *arg) {
    (void)arg;
    int table[16] = {0};                     /* the task's state, on its own stack */
    long long total = 0;
    int served = 0;
    for (;;) {
        while (!inbox) asyncpy_wait(&inbox_q);
        request *r = inbox;
        inbox = 0;
        asyncpy_wake(&inbox_free);
        table[r->key & 15] += 1;
        total += r->key;
        served++;
        r->reply = table[r->key & 15] * 1000 + served;
        r->ready = 1;
        asyncpy_wake(&r->wait);
        if (served % 4 == 0) { printf("  store: %d served, total %lld\n", served, total); fflush(stdout); }
    }
}

__attribute__((constructor)) static void boot(void) { asyncpy_go(store, 0); }

__attribute__((export_name("handle"))) int handle(int key) {
    request r = {key, 0, 0, {0, 0}};
    while (inbox) asyncpy_wait(&inbox_free);
    inbox = &r;
    asyncpy_wake(&inbox_q);
    while (!r.ready) asyncpy_wait(&r.wait);
    return r.reply;
}
