"""Reading files a sandbox can write (its lifecycle logs, exit codes, requests) without trusting them.

Root inside an instance may replace any of them with a link to a host file, a FIFO or a device, or let
one grow without end. So every read here opens without following links and without blocking, accepts
regular files only, and reads a bounded amount; anything else is an UnsafeFile, which fails that instance
with a reason and touches nothing else. The calls block on disk I/O only: run them off the event loop.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

SMALL = 64  # bytes: exit codes and markers


class UnsafeFile(Exception):
    """A file the sandbox controls is not a plain regular file (a link, FIFO, device, directory...)."""


def _open(path: Path) -> int | None:
    """A read-only descriptor of a regular file at `path`, None when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EMLINK):
            raise UnsafeFile(f"{path.name} is a symbolic link") from None
        raise UnsafeFile(f"{path.name} cannot be opened ({err.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafeFile(f"{path.name} is not a regular file")
    return fd


def read_small(path: Path) -> str | None:
    """The text of a small file (an exit code, a marker), None when it does not exist."""
    fd = _open(path)
    if fd is None:
        return None
    try:
        return os.read(fd, SMALL).decode(errors="replace")
    finally:
        os.close(fd)


def exists(path: Path) -> bool:
    """Whether a regular file is there (a marker the sandbox leaves); anything else is UnsafeFile."""
    fd = _open(path)
    if fd is not None:
        os.close(fd)
    return fd is not None


def read_from(path: Path, offset: int, limit: int) -> tuple[bytes, int]:
    """Up to `limit` bytes of a file from `offset` on, and the file's size; (b"", 0) when it is missing."""
    fd = _open(path)
    if fd is None:
        return b"", 0
    try:
        size = os.fstat(fd).st_size
        return os.pread(fd, limit, offset), size
    finally:
        os.close(fd)
