/* Two coroutine-like state machines (ping and pong) that take turns; every
 * hand-over goes through the pausing import env.pause, whose result becomes
 * the ball passed to the other side. */
#include <stdio.h>

__attribute__((import_module("env"), import_name("pause"))) int host_pause(int);

struct machine { const char *name; int state, hits, total; };

/* One step of a machine; returns the ball for the other side. */
__attribute__((noinline)) static int step(struct machine *m, int ball) {
    switch (m->state) {
    case 0: m->state = 1; return host_pause(ball) + 1;        /* serve */
    case 1: m->hits++; m->total += ball;
            if (m->hits % 5 == 0) m->state = 2;
            return host_pause(ball * 2 % 997);                /* return */
    default: m->state = 1; return host_pause(ball) ^ 3;        /* smash */
    }
}

int main(void) {
    struct machine ping = {"ping", 0, 0, 0}, pong = {"pong", 0, 0, 0};
    int ball = 1;
    for (int round = 0; round < 30; round++) {
        ball = step(&ping, ball);
        ball = step(&pong, ball);
        if (round % 10 == 9) printf("round %d: ball=%d\n", round + 1, ball);
    }
    printf("%s hits=%d total=%d; %s hits=%d total=%d\n",
           ping.name, ping.hits, ping.total, pong.name, pong.hits, pong.total);
    return 0;
}
