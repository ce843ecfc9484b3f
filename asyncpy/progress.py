"""Progress of long steps, reported through a small callback interface.

The pipeline never prints: it tells a `Progress` what it is doing, and the
command line decides what a user sees. Any object with these four methods
will do (a test can record the calls):

    step(message)        a step begins ("analysing", "optimising after")
    start(total, label)  a counted step begins: `total` units of work
    advance(n=1)         n more units are done
    finish()             the counted step is over (also after an error)

A counted step is reported as `start`, any number of `advance` calls
adding up to at most `total`, then `finish`. Calls come from the thread
doing the work and must be cheap: `Terminal` redraws at most ten times a
second, however often `advance` is called.

`as_progress(x)` accepts None (silence), a function of one message (each
step becomes a call; counted steps are not reported), or a `Progress`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    def step(self, message: str) -> None: ...
    def start(self, total: int, label: str) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def finish(self) -> None: ...


class Silent:
    """Reports nothing."""

    def step(self, message: str) -> None:
        pass

    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


class Messages(Silent):
    """Each step (and the label of each counted step) as one call of `say`."""

    def __init__(self, say: Callable[[str], Any]):
        self.say = say

    def step(self, message: str) -> None:
        self.say(message)

    def start(self, total: int, label: str) -> None:
        self.say(label)


def as_progress(p: Progress | Callable[[str], Any] | None) -> Progress:
    if p is None:
        return Silent()
    if isinstance(p, Progress):
        return p
    return Messages(p)


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 function', '2 functions'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


class Terminal:
    """Steps as `prog: message...` lines and counted steps as a progress bar
    (click's, with counts and an estimate) on `file`, but only when `file`
    is a terminal: in a pipe or a log it stays silent."""

    MIN_INTERVAL = 0.1      # seconds between redraws

    def __init__(self, prog: str = "asyncpy", file: TextIO | None = None, enabled: bool | None = None):
        self.prog = prog
        self.file = file if file is not None else sys.stderr
        if enabled is None:
            try:
                enabled = self.file.isatty()
            except (AttributeError, ValueError):
                enabled = False
        self.enabled = enabled
        self._bar: Any = None      # click's ProgressBar while a counted step runs
        self._pending = 0
        self._last = 0.0

    def step(self, message: str) -> None:
        if self.enabled:
            self.finish()
            print(f"{self.prog}: {message}...", file=self.file, flush=True)

    def start(self, total: int, label: str) -> None:
        if not self.enabled:
            return
        self.finish()
        import click

        self._bar = click.progressbar(length=max(total, 1), label=f"{self.prog}: {label}",
                                      file=self.file, show_eta=True, show_pos=True, show_percent=False,
                                      width=24)
        # click draws only on a terminal; `enabled` has decided that already
        # (and a test may force it on a pipe).
        self._bar._is_atty = True
        self._bar.__enter__()
        self._pending, self._last = 0, time.monotonic()

    def advance(self, n: int = 1) -> None:
        if self._bar is None:
            return
        self._pending += n
        now = time.monotonic()
        if now - self._last >= self.MIN_INTERVAL:
            self._bar.update(self._pending)
            self._pending, self._last = 0, now

    def finish(self) -> None:
        bar, self._bar = self._bar, None
        if bar is None:
            return
        if self._pending:
            bar.update(self._pending)
            self._pending = 0
        bar.__exit__(None, None, None)
