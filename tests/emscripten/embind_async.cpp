// embind: an async C++ function awaiting a JS promise (val::await).
#include <emscripten.h>
#include <emscripten/bind.h>
#include <emscripten/val.h>
#include <cstdio>

using emscripten::val;

int twice_later(int x) {
  val p = val::global("Promise").call<val>("resolve", val(x * 2));
  int r = p.await().as<int>();
  std::printf("awaited %d\n", r);
  return r;
}

EMSCRIPTEN_BINDINGS(m) { emscripten::function("twice_later", &twice_later); }

int main() {
  std::printf("main %d\n", twice_later(21));
  return 0;
}
