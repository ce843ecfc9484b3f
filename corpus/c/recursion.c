/* Recursive fib; every 64th leaf calls the pausing import env.pause and adds
 * its result, so the pause points sit deep inside the recursion. */
#include <stdio.h>

__attribute__((import_module("env"), import_name("pause"))) int host_pause(int);

static unsigned leaves;

__attribute__((noinline)) static long long fib(int n) {
    if (n < 2) {
        if ((++leaves & 63) == 0) return n + host_pause((int)(leaves >> 6));
        return n;
    }
    return fib(n - 1) + fib(n - 2);
}

int main(void) {
    for (int n = 10; n <= 25; n += 5) {
        leaves = 0;
        long long r = fib(n);
        printf("fib(%d) -> %lld (leaves %u)\n", n, r, leaves);
    }
    return 0;
}
