// Sleeps at several depths: through nested calls f(g(x)), recursion and a
// function pointer, so that unwinding and rewinding cross every kind of call.
#include <emscripten.h>
#include <stdio.h>

static int twice(int x) { return 2 * x; }
static int plus_one(int x) { return x + 1; }

static int nap(int x) {
  emscripten_sleep(1);
  return x + 10;
}

static int deep(int n) {
  if (n == 0) return nap(0);
  return plus_one(twice(deep(n - 1)));  // a call nested in a call
}

typedef int (*op)(int);
static op ops[] = {twice, nap, plus_one};

int main(void) {
  int acc = 0;
  for (int i = 0; i < 3; i++) {
    acc += deep(i);
    acc = ops[i % 3](acc);
    printf("step %d acc %d\n", i, acc);
  }
  printf("done %d\n", plus_one(twice(acc)));
  return 0;
}
