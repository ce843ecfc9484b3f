"""Build examples/sleepers.c (a WASI command) and run it with
`asyncpy run --host examples/sleepers_host.py`.

    python examples/sleepers.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from examples.run import HERE, build

if __name__ == "__main__":
    wasm = build(HERE / "sleepers.c", reactor=False)
    sys.exit(subprocess.run([sys.executable, "-m", "asyncpy.cli", "run", str(wasm),
                             "--host", str(HERE / "sleepers_host.py")], check=False).returncode)
