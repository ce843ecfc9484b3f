"""Per-function work on two cores, for big modules.

Reading facts out of a Binaryen module is a walk over every expression.
In C (asyncpy.binaryen.native) it takes a fraction of a second and is not
split; the Python walk, the fallback when the native walker cannot be
built, runs one thread at a time, so there a forked child shares
the parent's memory, the module already read included, copy-on-write, so
it can walk half of the functions while the parent walks the other half,
with nothing to load or merge but the (small) results, which come back
pickled through a temporary file. Instrumenting works the same way, but
the child's results are whole functions: they come back as a binary of the
module in which only they have bodies, and are copied into the parent's
module (instrument_split).

A child changes only its own copy of the module, leaves with `os._exit` (no atexit handlers,
no flushing of the parent's buffers), and any failure in it (an exception,
a crash) makes the parent do that half itself: the result is the same,
only slower. `ASYNCPY_JOBS=1` turns it off; the instrumentation split is
only on with `ASYNCPY_JOBS=2` (it costs memory: see instrument_jobs).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import tempfile
import time

# Below this much work a fork costs more than it saves.
MIN_ITEMS = 64

# What happened, for tests and --verbose reports: splits done, and halves a
# child failed to deliver (done again by the parent).
stats = {"splits": 0, "child_failures": 0}


def instrument_jobs() -> int:
    """Instrumenting on two cores is opt-in (ASYNCPY_JOBS=2): the parent
    reads the child's half back, so its peak memory grows by about half the
    module (CUE: 1.02 GB -> 1.6 GB), and on a busy machine the wall time
    barely moves (CUE, load 10 on 2 cores: 732 s -> 708 s). On an idle
    machine the parent's CPU time about halves."""
    env = os.environ.get("ASYNCPY_JOBS")
    try:
        return max(1, int(env)) if env else 1
    except ValueError:
        return 1


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
    mine, here, theirs, there = fork_half(items, work, work)
    if not isinstance(there, list) or len(there) != len(theirs):
        stats["child_failures"] += 1
        there = work([items[i] for i in theirs])  # the child failed: do its half here
    return _merge(len(items), mine, here, theirs, there)


def instrument_split(module, names: list[str], run, progress=None) -> list:
    """run(names, progress) instruments those functions of `module` in place
    and returns one result (picklable) per name. Here it runs on two cores:
    a forked child instruments every other function of its copy of the
    module and hands them back as a binary (binaryen.functions_binary),
    whose bodies the parent copies into its own module while it has done
    the rest. Results come back in the order of `names`; so does the
    output, whichever process instrumented a function.

    Only with ASYNCPY_JOBS=2 (see instrument_jobs). Sequential when that
    cannot pay (few functions) or cannot be
    done safely (Binaryen's thread pool already running in this process:
    see binaryen.fork_safe). A child that fails or hangs is killed and its
    half done here."""
    from asyncpy import binaryen as B

    if instrument_jobs() < 2 or len(names) < MIN_FUNCTIONS or not hasattr(os, "fork") or not B.fork_safe():
        return run(names, progress)

    def child(part):
        results = run(part, None)
        return results, B.functions_binary(module, part)

    # The child cannot report (two processes on one terminal), but it works
    # at about our pace: each function done here counts for two.
    paced = _Paced(progress, len(names)) if progress is not None else None
    mine, here, theirs, there = fork_half(names, child, lambda part: run(part, paced))
    part = [names[i] for i in theirs]
    if isinstance(there, tuple) and len(there) == 2 and len(there[0]) == len(theirs):
        results, data = there
        B.adopt_functions(module, data, part)
        if paced is not None:
            paced.complete()
    else:
        stats["child_failures"] += 1
        results = run(part, None)  # the child failed: do its half here
        if paced is not None:
            paced.complete()
    return _merge(len(names), mine, here, theirs, results)


class _Paced:
    """Advances a progress object twice per unit, never past `total`."""

    def __init__(self, progress, total: int):
        self.progress, self.left = progress, total

    def advance(self, n: int = 1) -> None:
        n = min(2 * n, self.left)
        if n > 0:
            self.left -= n
            self.progress.advance(n)

    def complete(self) -> None:
        if self.left > 0:
            self.progress.advance(self.left)
            self.left = 0


# Below this many functions to instrument, forking, writing and reading a
# module costs more than the half of the work it saves.
MIN_FUNCTIONS = 2000


def _merge(n: int, mine, here, theirs, there) -> list:
    out: list = [None] * n
    for i, r in zip(mine, here, strict=False):
        out[i] = r
    for i, r in zip(theirs, there, strict=False):
        out[i] = r
    return out


def fork_half(items: list, child_work, parent_work):
    """Deal `items` out alternately; child_work(their items) runs in a
    forked child, parent_work(my items) here. Returns (my indices, my
    result, their indices, their result), the last None if the child
    failed, crashed or outlived a generous deadline (then it is killed)."""
    mine, theirs = list(range(0, len(items), 2)), list(range(1, len(items), 2))
    stats["splits"] += 1
    fd, path = tempfile.mkstemp(prefix="asyncpy-part-", suffix=".pickle")
    os.close(fd)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                out = child_work([items[i] for i in theirs])
                with open(path, "wb") as f:
                    pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
                code = 0
            except BaseException:
                pass
            finally:
                os._exit(code)
        t0 = time.monotonic()
        try:
            here = parent_work([items[i] for i in mine])
        except BaseException:
            _kill(pid)
            raise
        # The halves are alike, so the child should finish about when we
        # did; past a few times that, something is wrong (a hang).
        deadline = time.monotonic() + 60 + 3 * (time.monotonic() - t0)
        ok = _wait(pid, deadline)
        there = None
        if ok:
            try:
                with open(path, "rb") as f:
                    there = pickle.load(f)
            except Exception:
                there = None
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    return mine, here, theirs, there


def _wait(pid: int, deadline: float) -> bool:
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except InterruptedError:
            continue
        except ChildProcessError:
            return False
        if done:
            return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if time.monotonic() > deadline:
            _kill(pid)
            return False
        time.sleep(0.02)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (OSError, ChildProcessError):
        pass
