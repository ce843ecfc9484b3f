/* A ticker task started in _initialize (a C constructor). It advances only
 * while exports run: the runtime's clock moves when every task sleeps. */
#include <stdio.h>
#include "asyncpy.h"

static int ticks;
static int history[64];

static void ticker(void *arg) {
    int period = (int)(long)arg;
    for (int n = 0;; n++) {                 /* n lives in the task's frame */
        ticks = n;
        history[n % 64] = (int)asyncpy_now();
        asyncpy_sleep_ticks(period);
    }
}

__attribute__((constructor)) static void start(void) {
    asyncpy_go(ticker, (void *)1L);
}

/* Sleep for `n` ticks of the virtual clock; the ticker runs meanwhile. */
__attribute__((export_name("advance"))) int advance(int n) {
    asyncpy_sleep_ticks(n);
    printf("advance(%d): clock %lld, ticker at %d\n", n, (long long)asyncpy_now(), ticks); fflush(stdout);
    return ticks;
}

/* No pause: the ticker does not move. */
__attribute__((export_name("peek"))) int peek(void) { return ticks; }
