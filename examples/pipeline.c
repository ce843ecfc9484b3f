/* Producer/consumer over a bounded channel built from two wait queues.
 * Reactor: each call of pipeline(n) starts a producer and a consumer task,
 * waits for the consumer, and returns the checksum of what it received. */
#include <stdio.h>
#include "asyncpy.h"

#define CAP 4
typedef struct {
    int buf[CAP];
    int head, len, closed;
    asyncpy_queue not_empty, not_full, done;
} chan;

static void send(chan *c, int v) {
    while (c->len == CAP) asyncpy_wait(&c->not_full);
    c->buf[(c->head + c->len++) % CAP] = v;
    asyncpy_wake(&c->not_empty);
}

static int recv(chan *c, int *v) {          /* 0 when closed and drained */
    while (c->len == 0) {
        if (c->closed) return 0;
        asyncpy_wait(&c->not_empty);
    }
    *v = c->buf[c->head];
    c->head = (c->head + 1) % CAP;
    c->len--;
    asyncpy_wake(&c->not_full);
    return 1;
}

typedef struct { chan ch; int n; long long sum; int finished; } job;

static void producer(void *arg) {
    job *j = arg;
    for (int i = 1; i <= j->n; i++) send(&j->ch, i * i);
    j->ch.closed = 1;
    asyncpy_wake_all(&j->ch.not_empty);
}

static void consumer(void *arg) {
    job *j = arg;
    int v, count = 0;
    while (recv(&j->ch, &v)) {
        j->sum += v;
        if (++count % 1000 == 0) { printf("  consumer: %d items, sum %lld\n", count, j->sum); fflush(stdout); }
    }
    j->finished = 1;
    asyncpy_wake_all(&j->ch.done);
}

__attribute__((export_name("pipeline"))) long long pipeline(int n) {
    job j = {0};
    j.n = n;
    asyncpy_go(producer, &j);
    asyncpy_go(consumer, &j);
    while (!j.finished) asyncpy_wait(&j.ch.done);   /* j lives on this task's stack */
    printf("pipeline(%d): sum of squares %lld, %d tasks live\n", n, j.sum, asyncpy_live()); fflush(stdout);
    return j.sum;
}
