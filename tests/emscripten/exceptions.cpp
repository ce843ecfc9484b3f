// C++ exceptions thrown after a sleep and caught through invoke_* imports.
#include <emscripten.h>
#include <cstdio>
#include <stdexcept>

__attribute__((noinline)) int risky(int x) {
  emscripten_sleep(1);
  if (x % 2) throw std::runtime_error("odd");
  return x * 10;
}

int main() {
  for (int i = 0; i < 4; i++) {
    try {
      std::printf("%d -> %d\n", i, risky(i));
    } catch (const std::exception &e) {
      std::printf("%d threw %s\n", i, e.what());
    }
  }
  return 0;
}
