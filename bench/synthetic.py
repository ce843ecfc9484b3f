"""A synthetic module with the shape that makes asyncify blow up: many
functions, a few of them with thousands of locals, most on a pause path
(4,666 of the 8,000 are instrumented, 9 of the 12 big ones: a big leaf
pauses only when its index is a multiple of 3, like every leaf).

Binaryen issue #8927 reports its pass never finishing on a 344 KB module
with 7,943 functions and 80,012 locals; this generator makes one of that
kind (8,000 functions, 80,000 locals in all, 12 functions with 5,000+ each)
that also runs: `_start` walks a binary call tree of the functions, the
leaves call `env.pause`, and the result is printed through WASI, so the
bench can check every transform's output against the original's.

    python -m bench.synthetic [OUT.wasm]     # default: the corpus cache
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

FUNCTIONS = 8000
BIG = 12                # functions with BIG_LOCALS+ locals, spread over the tree
BIG_LOCALS = 5000
SMALL_LOCALS = 2        # locals of every other function


def _func(i: int, n: int, big: bool) -> str:
    """f_i(x) = its children's results (and a pause at every third leaf),
    mixed with its own locals, all live across those calls."""
    nloc = BIG_LOCALS + 7 * i % 97 if big else SMALL_LOCALS
    kids = [k for k in (2 * i + 1, 2 * i + 2) if k < n]
    body = [f"(local.set {1 + k} (i32.add (local.get 0) (i32.const {k * 7 + i})))" for k in range(nloc)]
    calls = [f"(local.set 1 (i32.add (local.get 1) (call $f{k} (i32.add (local.get 0) (i32.const {k})))))"
             for k in kids]
    if not kids and i % 3 == 0:
        calls.append("(local.set 1 (i32.add (local.get 1) (call $pause (local.get 1))))")
    mix = [f"(local.set 1 (i32.xor (i32.rotl (local.get 1) (i32.const 5)) (local.get {1 + k})))"
           for k in range(1, nloc)]
    return (f'(func $f{i} (param i32) (result i32) (local{" i32" * nloc})\n'
            + "\n".join(body + calls + mix) + "\n(local.get 1))")


def wat(n: int = FUNCTIONS, big: int = BIG) -> str:
    # Big functions sit at evenly spread places of the call tree (the last
    # few are leaves).
    bigs = {max(1, (j + 1) * n // (big + 1)) for j in range(big)}
    funcs = [_func(i, n, i in bigs) for i in range(n)]
    # _start: print f0(1) as 8 hex digits and a newline.
    start = """
(func $_start (export "_start")
  (local $v i32) (local $k i32) (local $d i32)
  (local.set $v (call $f0 (i32.const 1)))
  (loop $l
    (local.set $d (i32.and
      (i32.shr_u (local.get $v) (i32.shl (i32.sub (i32.const 7) (local.get $k)) (i32.const 2)))
      (i32.const 15)))
    (i32.store8 (i32.add (i32.const 100) (local.get $k))
      (i32.add (local.get $d)
        (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10)))))
    (local.set $k (i32.add (local.get $k) (i32.const 1)))
    (br_if $l (i32.lt_u (local.get $k) (i32.const 8))))
  (i32.store8 (i32.const 108) (i32.const 10))
  (i32.store (i32.const 0) (i32.const 100))
  (i32.store (i32.const 4) (i32.const 9))
  (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))
"""
    return ('(module\n'
            '(import "env" "pause" (func $pause (param i32) (result i32)))\n'
            '(import "wasi_snapshot_preview1" "fd_write"'
            ' (func $fd_write (param i32 i32 i32 i32) (result i32)))\n'
            '(memory (export "memory") 2)\n'
            + "\n".join(funcs) + start + ")\n")


def build(out: Path | None = None) -> Path:
    """The module, cached by a hash of this generator."""
    import wasmtime

    from corpus.build import cache_dir

    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    out = out or cache_dir() / f"synthetic-locals-{key}.wasm"
    if out.exists():
        return out
    print(f"building {out.name} ({FUNCTIONS} functions)...", file=sys.stderr, flush=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_bytes(wasmtime.wat2wasm(wat()))
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
