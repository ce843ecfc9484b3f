"""The native walker (walk.c): reading bodies in one C call per function
instead of a Python walk through cffi, about a microsecond per expression
that a 46 MB Go module has 14 million of.

  build:  compiling walk.c with zig on first use, loading it (available()).
  spine:  an instrumented body's spine, sites and liveness (Walker).
  scan:   the analysis's call-graph facts of a body (scan()).
"""

from asyncpy.binaryen.native.build import available, broken, failure, needs_build
from asyncpy.binaryen.native.scan import scan
from asyncpy.binaryen.native.spine import MAX_DEPTH, Refused, Spine, TooDeep, Walker

__all__ = ["MAX_DEPTH", "Refused", "Spine", "TooDeep", "Walker", "available", "broken", "failure",
           "needs_build", "scan"]
