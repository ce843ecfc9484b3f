"""What the transform did, per function: pause sites, saved locals and the
size of the frame. `asyncpy transform --json` and the benchmarks print it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FunctionStats:
    name: str
    sites: int
    saved_locals: int
    frame_bytes: int


@dataclass
class TransformReport:
    instrumented: list[FunctionStats] = field(default_factory=list)
    seconds: float = 0.0
    chunks: int = 1     # how many chunks of functions Binaryen held in turn (asyncpy.wasm.chunks)
    chunks_reused: int = 0  # of those, how many came from the rebuild cache (asyncpy.rebuild)

    @property
    def sites(self) -> int:
        return sum(f.sites for f in self.instrumented)
