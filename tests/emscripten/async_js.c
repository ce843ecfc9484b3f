// EM_ASYNC_JS: an import that returns a Promise, awaited through asyncify.
#include <emscripten.h>
#include <stdio.h>

EM_ASYNC_JS(int, later, (int x), {
  await new Promise(resolve => setTimeout(resolve, 1));
  return x * 3;
});

int main(void) {
  int total = 0;
  for (int i = 1; i <= 3; i++) {
    total += later(i);
    printf("i=%d total=%d\n", i, total);
  }
  return 0;
}
