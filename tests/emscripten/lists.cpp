// C++ names with signatures in the asyncify lists.
#include <emscripten.h>
#include <cstdio>

__attribute__((noinline)) double foo(int a, double b) {
  emscripten_sleep(1);
  return a * b;
}
__attribute__((noinline)) int bar() { return 7; }
__attribute__((noinline)) double caller(int a) { return foo(a, 0.5) + bar(); }

int main() {
  for (int i = 0; i < 3; i++) std::printf("%d: %.2f\n", i, caller(i + 1));
  return 0;
}
