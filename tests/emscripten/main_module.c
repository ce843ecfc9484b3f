// A main module that calls a sleeping function of a side module.
#include <emscripten.h>
#include <stdio.h>

int side_work(int x);

int main(void) {
  for (int i = 1; i <= 3; i++) {
    emscripten_sleep(1);
    printf("side(%d) = %d\n", i, side_work(i));
  }
  return 0;
}
