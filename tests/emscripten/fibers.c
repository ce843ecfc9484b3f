// Two fibers swapping with the main context (emscripten_fiber_swap).
#include <emscripten/fiber.h>
#include <stdio.h>
#include <stdlib.h>

static emscripten_fiber_t main_fiber, worker;
static char main_stack[4096], worker_stack[16384];
static char main_astack[8192], worker_astack[8192];

static int depth(int n) {
  if (n == 0) {
    emscripten_fiber_swap(&worker, &main_fiber);
    return 1;
  }
  return depth(n - 1) + 1;
}

static void worker_entry(void *arg) {
  int n = *(int *)arg;
  for (int i = 0; i < 3; i++) printf("worker %d got %d\n", i, depth(n + i));
  emscripten_fiber_swap(&worker, &main_fiber);
}

int main(void) {
  int n = 2;
  emscripten_fiber_init_from_current_context(&main_fiber, main_astack, sizeof main_astack);
  emscripten_fiber_init(&worker, worker_entry, &n, worker_stack, sizeof worker_stack,
                        worker_astack, sizeof worker_astack);
  for (int i = 0; i < 4; i++) {
    printf("main %d\n", i);
    emscripten_fiber_swap(&main_fiber, &worker);
  }
  printf("main done\n");
  return 0;
}
