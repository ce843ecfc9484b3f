/* A WASI command that sleeps in real time (poll_oneoff clock waits):
 * argv: [ticks [exit code]]. Relative sleeps, then one absolute deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    for (int i = 0; i < n; i++) {
        printf("tick %d\n", i);
        fflush(stdout);
        usleep(5000);
    }
    long long t0 = now_ns();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 20000000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec += 1; ts.tv_nsec -= 1000000000; }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    printf("absolute sleep ok: %d\n", now_ns() - t0 >= 20000000LL);
    return argc > 2 ? atoi(argv[2]) : 0;
}
