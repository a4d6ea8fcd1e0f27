"""An endpoint to probe, the error a target that cannot be understood is, and the bounded read
every source of targets uses (target lists, inventories, port scanners' outputs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hardhouse import bounded_file

FILE_MAX = 4 * 1024 * 1024  # bytes of a target list or an inventory (scan files have their own cap)


class TargetError(ValueError):
    """A target that cannot be understood: a usage error (exit 2)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    source: str | None = None


def read_bounded_bytes(path: Path, limit: int = FILE_MAX) -> bytes:
    """A regular file's bytes, at most `limit`; never blocks on a FIFO or device."""
    try:
        return bounded_file.read_bounded(path, limit)
    except (bounded_file.CannotOpen, bounded_file.CannotRead) as error:
        raise TargetError(f"{path}: {error.strerror or error.cause}") from None
    except bounded_file.NotRegularFile:
        raise TargetError(f"{path}: not a regular file") from None
    except bounded_file.TooLarge:
        raise TargetError(f"{path}: larger than {limit} bytes; split it") from None


def read_bounded(path: Path, limit: int = FILE_MAX) -> str:
    """A regular file's text (UTF-8), at most `limit` bytes; never blocks on a FIFO or device."""
    data = read_bounded_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TargetError(f"{path}: not UTF-8 text (byte {error.start})") from None
