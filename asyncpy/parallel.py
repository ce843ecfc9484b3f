"""Per-function work on two cores, for big modules.

Reading facts out of a Binaryen module is a Python walk over every
expression, and Python runs one thread at a time; but a forked child shares
the parent's memory, the module already read included, copy-on-write, so
it can walk half of the functions while the parent walks the other half,
with nothing to load or merge but the (small) results, which come back
pickled through a temporary file.

The child only reads the module (it never writes Binaryen memory, so the
parent's module is untouched), leaves with `os._exit` (no atexit handlers,
no flushing of the parent's buffers), and any failure in it (an exception,
a crash) makes the parent do that half itself: the result is the same,
only slower. `ASYNCPY_JOBS=1` turns it off.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import traceback

# Below this much work a fork costs more than it saves.
MIN_ITEMS = 64


def jobs() -> int:
    env = os.environ.get("ASYNCPY_JOBS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return min(2, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return min(2, os.cpu_count() or 1)


def map_split(work, items: list) -> list:
    """work(part) -> one result per item of part; returns work(items),
    computed by this process and a forked child, each on every other item
    (sizes vary a lot along a module, from the runtime to user code:
    dealing them out alternately balances the halves)."""
    if jobs() < 2 or len(items) < MIN_ITEMS or not hasattr(os, "fork"):
        return work(items)
    mine, theirs = list(range(0, len(items), 2)), list(range(1, len(items), 2))
    fd, path = tempfile.mkstemp(prefix="asyncpy-part-", suffix=".pickle")
    os.close(fd)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                out = work([items[i] for i in theirs])
                with open(path, "wb") as f:
                    pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
                code = 0
            except BaseException:
                try:
                    with open(path, "wb") as f:
                        pickle.dump(traceback.format_exc(), f)
                except BaseException:
                    pass
            finally:
                os._exit(code)
        try:
            here = work([items[i] for i in mine])
        except BaseException:
            _reap(pid)
            raise
        ok = _reap(pid)
        there = None
        if ok:
            try:
                with open(path, "rb") as f:
                    there = pickle.load(f)
            except Exception:
                there = None
        if not isinstance(there, list) or len(there) != len(theirs):
            there = work([items[i] for i in theirs])  # the child failed: do its half here
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    out: list = [None] * len(items)
    for i, r in zip(mine, here):
        out[i] = r
    for i, r in zip(theirs, there):
        out[i] = r
    return out


def _reap(pid: int) -> bool:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return False
        return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
