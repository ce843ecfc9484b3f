"""Writing an output file: the one writer every command uses.

What is at the output path decides how it is written, the way a user of
`wasm-opt -o` or a shell redirection expects:

* nothing yet, or a regular file: the data goes to a temporary file in the
  same directory, is flushed to disk, and is renamed over the path. An
  existing output is replaced only by a complete new one (a full disk, a
  crash or Ctrl-C leave the old file whole) and keeps its mode;
* a symbolic link (or a chain of them): written through. Its target is
  replaced as above, in the target's directory; the link stays a link;
* a character device or a FIFO (`/dev/null`, `/dev/stdout`, a named pipe):
  a plain write, no rename (a rename would put a regular file in place of
  the device node);
* `-`: standard output;
* anything else (a directory, a socket, a block device), a read-only file
  or file system, a missing directory: an `OutputError` naming the path.

`output_target` decides that before any work is done (the commands call it
first), and `write_output` decides it again when writing, since the path
may have changed meanwhile. The input is never the output: a path that is
the input file (by device and inode, so through links too) is refused.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from asyncpy.errors import OutputError


class How(Enum):
    STDOUT = "stdout"       # `-`
    REPLACE = "replace"     # temporary file + rename
    STREAM = "stream"       # plain write: character device, FIFO


@dataclass(frozen=True)
class OutputTarget:
    path: Path              # as the user gave it (for messages)
    real: Path              # where the bytes go: symlinks resolved
    how: How
    exists: bool


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def _fail(path: Path, why: str) -> OutputError:
    return OutputError(f"cannot write {path}: {why}")


def output_target(path: str | os.PathLike, *, input: str | os.PathLike | None = None) -> OutputTarget:
    """How `path` would be written; an `OutputError` if it cannot be (see
    the module docs). `input`, if given, must not be the same file."""
    if str(path) == "-":
        return OutputTarget(Path("-"), Path("-"), How.STDOUT, True)
    p = Path(path)
    try:
        st = os.stat(p)                 # through symlinks
    except FileNotFoundError:
        st = None
    except OSError as e:                # ELOOP, ENOTDIR, EACCES on the way
        raise _fail(p, e.strerror or str(e)) from None
    real = Path(os.path.realpath(p))    # a dangling link: the target it would create
    if st is not None:
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            if not os.access(real, os.W_OK):
                raise _fail(p, "permission denied")
            return OutputTarget(p, real, How.STREAM, True)
        if not stat.S_ISREG(st.st_mode):
            raise _fail(p, f"it is {_kind(st.st_mode)} (asyncpy replaces only regular files, "
                           "and writes into character devices and FIFOs)")
        if input is not None and str(input) != "-":
            try:
                ist = os.stat(input)
                if (ist.st_dev, ist.st_ino) == (st.st_dev, st.st_ino):
                    raise OutputError(f"the output {p} would overwrite the input (it is the same file); "
                                      "choose another -o")
            except OSError:
                pass
    parent = real.parent
    if not parent.is_dir():
        raise _fail(p, f"no directory {parent}")
    try:
        read_only_fs = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
    except OSError:
        read_only_fs = False
    if read_only_fs:
        raise _fail(p, f"directory {parent} is on a read-only file system")
    if st is not None and not os.access(real, os.W_OK):
        raise _fail(p, "the file is read-only")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _fail(p, f"directory {parent} is not writable")
    return OutputTarget(p, real, How.REPLACE, st is not None)


def write_output(path: str | os.PathLike, data: bytes, *, input: str | os.PathLike | None = None) -> None:
    """Write `data` to `path` as the module docs say; an `OutputError` (one
    line) if that fails, with an existing file left as it was."""
    target = output_target(path, input=input)
    if target.how is How.STDOUT:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    elif target.how is How.STREAM:
        _write_stream(target, data)
    else:
        _replace(target, data)


def _write_stream(target: OutputTarget, data: bytes) -> None:
    try:
        # No O_CREAT, no O_TRUNC: the node is there and is not ours to change.
        fd = os.open(target.real, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise _fail(target.path, e.strerror or str(e)) from None
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as e:
        raise _fail(target.path, e.strerror or str(e)) from None
    finally:
        os.close(fd)


def _replace(target: OutputTarget, data: bytes) -> None:
    real = target.real
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except OSError as e:
        raise _fail(target.path, e.strerror or str(e)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())    # a full disk shows here at the latest, before the rename
        try:        # keep an existing output's mode (and owner, where we may)
            old = os.stat(real)
            os.chmod(tmp, stat.S_IMODE(old.st_mode))
            if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.chown(tmp, old.st_uid, old.st_gid)
                except OSError:
                    pass
        except FileNotFoundError:   # a new file: the usual 0666 & ~umask
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, real)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            kept = "; the existing file is unchanged" if target.exists else ""
            if e.errno == errno.ENOSPC:
                raise _fail(target.path, f"no space left on device{kept}") from None
            raise _fail(target.path, f"{e.strerror or e}{kept}") from None
        raise
