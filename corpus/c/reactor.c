/* A WASI reactor (-mexec-model=reactor): no main; the host calls _initialize
 * then the exports below. Each export reaches the pausing import env.pause and
 * prints (and flushes) one line so the transcript can be checked. */
#include <stdio.h>

__attribute__((import_module("env"), import_name("pause"))) int host_pause(int);

static int counter;

__attribute__((noinline)) static int helper(int x) { return host_pause(x) * 2; }

__attribute__((export_name("add_paused"))) int add_paused(int a, int b) {
    int r = host_pause(a) + host_pause(b);
    printf("add_paused(%d, %d) = %d\n", a, b, r);
    fflush(stdout);
    return r;
}

__attribute__((export_name("count"))) int count(int n) {
    for (int i = 0; i < n; i++) counter += helper(i);
    printf("count(%d): counter=%d\n", n, counter);
    fflush(stdout);
    return counter;
}

/* never pauses */
__attribute__((export_name("square"))) int square(int x) { return x * x; }
