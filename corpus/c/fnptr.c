/* Indirect calls: the pausing import env.pause is reached ONLY through the
 * function-pointer table `steps` (type int(*)(int)).  Other int(int) functions
 * (twice, square_mod, ...) have the same type but their address is never taken:
 * they are called directly and can never pause.  A second table of a different
 * type, `combine` (int(*)(int, int)), is called indirectly and never pauses. */
#include <stdio.h>

__attribute__((import_module("env"), import_name("pause"))) int host_pause(int);

/* same type int(int), address never taken, never pause */
__attribute__((noinline)) static int twice(int x) { return 2 * x + 1; }
__attribute__((noinline)) static int square_mod(int x) { return (x * x) % 1009; }
__attribute__((noinline)) static int collatz_len(int x) {
    int n = 0;
    while (x > 1 && n < 1000) { x = (x & 1) ? 3 * x + 1 : x / 2; n++; }
    return n;
}

/* same type int(int), stored in the table; two of them pause */
__attribute__((noinline)) static int step_pause(int x) { return host_pause(x) + 7; }
__attribute__((noinline)) static int step_pause_twice(int x) { return host_pause(x) ^ host_pause(x + 1); }
__attribute__((noinline)) static int step_plain(int x) { return x * 3 - 1; }

/* different type int(int,int), called indirectly, never pauses */
__attribute__((noinline)) static int add(int a, int b) { return a + b; }
__attribute__((noinline)) static int mix(int a, int b) { return a * 31 + b; }
__attribute__((noinline)) static int xor(int a, int b) { return a ^ b; }

int (*volatile steps[])(int) = {step_pause, step_plain, step_pause_twice, step_plain};
int (*volatile combine[])(int, int) = {add, mix, xor};

int main(void) {
    int acc = 1;
    for (int i = 0; i < 40; i++) {
        int s = steps[i % 4](i);                 /* may pause (indirectly) */
        int d = twice(i) + square_mod(i) + collatz_len(i + 1); /* direct, never pauses */
        acc = combine[i % 3](acc, s + d) & 0x7fffffff;         /* indirect, never pauses */
    }
    printf("fnptr: acc=%d\n", acc);
    return 0;
}
