"""The one way hardhouse reads a file it was handed (a spec, a waivers file, a password or key
file, a configuration file under audit, a target list, a port scanner's output): a regular file,
opened without blocking, judged on the opened descriptor, and read up to a limit in bytes.

- Opening never blocks: O_NONBLOCK, so a FIFO with no writer cannot stall the command, and
  O_NOCTTY, so a terminal device never becomes the controlling terminal.
- The type and size are judged with fstat on the descriptor that is then read, so nothing can be
  swapped between the check and the read. FIFOs, devices, sockets and directories are refused.
- The limit is kept by counting the bytes read, not by trusting st_size alone: a file growing
  while it is read (a log, /proc, a hostile writer) is refused at limit + 1 bytes.
- Symbolic links are followed unless the caller says not to (a mounted secret is often one).

Each refusal is its own exception carrying what went wrong; its text names the path as the
caller shows it and the limit, and a caller with words of its own (the spec loader, the
password reader, which never shows the path) builds its message from the fields. Policies of
one caller (a secret readable only by its owner) stay with that caller, passed in as `judge`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


class FileRefused(Exception):
    """A file that was not read; `shown` is the path as the caller shows it, `limit` the bound."""

    def __init__(self, shown: str, limit: int, reason: str) -> None:
        super().__init__(f"{shown}: {reason}")
        self.shown = shown
        self.limit = limit


class CannotOpen(FileRefused):
    """The path could not be opened; `cause` is the OSError (or ValueError for a NUL byte)."""

    def __init__(self, shown: str, limit: int, cause: OSError | ValueError) -> None:
        self.cause = cause
        self.strerror: str | None = getattr(cause, "strerror", None)
        self.missing = isinstance(cause, FileNotFoundError)
        reason = "does not exist" if self.missing else f"cannot be read ({self.strerror or cause})"
        super().__init__(shown, limit, reason)


class NotRegularFile(FileRefused):
    """A FIFO, device, socket, directory, or (when links are not followed) a symbolic link."""

    def __init__(self, shown: str, limit: int, kind: str) -> None:
        self.kind = kind
        super().__init__(shown, limit, f"is {kind}, not a regular file")


class TooLarge(FileRefused):
    """More than `limit` bytes; `size` is what fstat said, or None when the file grew past the
    limit while it was read."""

    def __init__(self, shown: str, limit: int, size: int | None) -> None:
        self.size = size
        said = f"{size} bytes, " if size is not None else ""
        super().__init__(shown, limit, f"{said}larger than the limit of {limit} bytes")


class CannotRead(FileRefused):
    """Opened, but a read failed; `cause` is the OSError."""

    def __init__(self, shown: str, limit: int, cause: OSError) -> None:
        self.cause = cause
        self.strerror: str | None = cause.strerror
        super().__init__(shown, limit, f"cannot be read ({cause.strerror or cause})")


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words ("a FIFO", "a directory", ...)."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_bounded(
    path: str | Path,
    limit: int,
    *,
    shown_as: str | None = None,
    follow_symlinks: bool = True,
    judge: Callable[[os.stat_result], None] | None = None,
) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them, or a FileRefused.

    `judge` sees the opened file's stat after its type is checked and before its size is, and
    may raise the caller's own exception (it propagates unchanged)."""
    shown = str(path) if shown_as is None else shown_as
    flags = _OPEN_FLAGS | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if not follow_symlinks and error.errno == errno.ELOOP:
            raise NotRegularFile(shown, limit, "a symbolic link") from None
        raise CannotOpen(shown, limit, error) from None
    except ValueError as error:  # a NUL byte in the path
        raise CannotOpen(shown, limit, error) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(shown, limit, file_kind(info.st_mode))
        if judge is not None:
            judge(info)
        if info.st_size > limit:
            raise TooLarge(shown, limit, info.st_size)
        chunks, size = [], 0
        while size <= limit:  # until end of file, never past limit + 1
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise TooLarge(shown, limit, None)
        return b"".join(chunks)
    except OSError as error:
        raise CannotRead(shown, limit, error) from None
    finally:
        os.close(fd)
