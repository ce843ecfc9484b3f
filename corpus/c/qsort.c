/* libc qsort with a comparator that calls the pausing import env.pause on every
 * 16th comparison: the pause happens inside libc code (qsort) calling back
 * into ours through a function pointer. The result (sorted order) must not
 * depend on what the import returns; the checksum does. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((import_module("env"), import_name("pause"))) int host_pause(int);

static unsigned compares;
static long long paused_sum;

static int cmp(const void *a, const void *b) {
    if ((++compares & 15) == 0) paused_sum += host_pause((int)compares);
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

int main(void) {
    enum { N = 5000 };
    static unsigned v[N];
    unsigned s = 12345;
    for (int i = 0; i < N; i++) { s = s * 1103515245u + 12345u; v[i] = (s >> 8) % 100000; }
    qsort(v, N, sizeof v[0], cmp);
    int sorted = 1;
    unsigned long long h = 0;
    for (int i = 0; i < N; i++) {
        if (i && v[i - 1] > v[i]) sorted = 0;
        h = h * 1000003u + v[i];
    }
    printf("qsort: sorted=%d min=%u max=%u hash=%llu\n", sorted, v[0], v[N - 1], h);
    printf("qsort: compares=%u paused_sum=%lld\n", compares, paused_sum);
    return 0;
}
