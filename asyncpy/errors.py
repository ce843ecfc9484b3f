"""Errors a user sees. Each carries one line that says what is wrong and,
where it helps, what to do; the CLI prints it and exits with status 1.

`one_line_errors(prog)` is the one place where both entry points (`asyncpy`
and `asyncpy-wasm-opt`) turn an exception into that line and an exit
status, so they cannot drift apart:

* an `AsyncpyError` (bad input, bad options): `prog: error: ...`, exit 1;
* Ctrl-C (`KeyboardInterrupt`): `prog: interrupted`, exit 130 (128 +
  SIGINT, the shell's convention); the writers have removed their
  temporary files by then;
* a closed stdout (`| head`): silence, exit 1;
* anything else is a bug of ours: `prog: error: internal error: ...`, exit 1,
  or the traceback when ASYNCPY_DEBUG is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class AsyncpyError(Exception):
    """A problem with the input or the options, reported as one line."""


class InputError(AsyncpyError):
    """The input file cannot be read, parsed or validated."""


class UnsupportedError(AsyncpyError):
    """The module uses something asyncpy cannot instrument safely."""


class OutputError(AsyncpyError):
    """The output cannot be written where it was asked for."""


def describe(e: BaseException) -> str | None:
    """The one-line message for an expected failure, None for a bug."""
    if isinstance(e, AsyncpyError):
        return str(e)
    return None


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):    # stderr itself is gone: the exit status still tells
        pass


@contextmanager
def one_line_errors(prog: str, passthrough: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Run the body; turn what it raises into one line on stderr and an exit
    status (see the module docs). SystemExit, and the `passthrough`
    exceptions (a command-line library's own exits), pass through."""
    try:
        yield
    except SystemExit:
        raise
    except BaseException as e:
        code = None if isinstance(e, passthrough) else report(prog, e)
        if code is None:
            raise
        sys.exit(code)


def report(prog: str, e: BaseException) -> int | None:
    """Print the line for `e`; its exit status, or None to let it propagate
    (a bug under ASYNCPY_DEBUG, or a BaseException that is not ours)."""
    if isinstance(e, KeyboardInterrupt):
        _say(f"{prog}: interrupted")
        return EXIT_INTERRUPTED
    if isinstance(e, BrokenPipeError):
        # The reader went away (`asyncpy transform x -o - | head -c 4`). Point
        # stdout at /dev/null so the interpreter's final flush stays quiet.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_ERROR
    if not isinstance(e, Exception):
        return None
    message = describe(e)
    if message is None:
        if os.environ.get("ASYNCPY_DEBUG"):
            return None
        first = (str(e).strip().splitlines() or [""])[0]
        message = f"internal error: {type(e).__name__}: {first} (set ASYNCPY_DEBUG=1 for a traceback)"
    _say(f"{prog}: error: {message}")
    return EXIT_ERROR
