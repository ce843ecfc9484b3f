// Only direct calls lead to the sleep; indirect calls reach pure functions,
// which is what ASYNCIFY_IGNORE_INDIRECT promises.
#include <emscripten.h>
#include <stdio.h>

static int sq(int x) { return x * x; }
static int neg(int x) { return -x; }
static int (*volatile table[])(int) = {sq, neg};

__attribute__((noinline)) static int wait_and(int x) {
  emscripten_sleep(1);
  return table[x & 1](x);
}

int main(void) {
  int s = 0;
  for (int i = 0; i < 4; i++) s += wait_and(i);
  printf("sum %d\n", s);
  return 0;
}
