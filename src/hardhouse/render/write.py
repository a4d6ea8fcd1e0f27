"""Put rendered files in place under an output directory: all of them, or none.

Each new file is first written to a temporary name in its own target directory (so the final
rename never crosses a filesystem, even when users.d is a mount of its own), every file it
replaces or removes is first linked to a backup name beside it, and only then are the renames
and removals done. If any step fails, everything done so far is undone: the directory is
byte-for-byte what it was. Concurrent writers to one directory are serialized with a lock on
the directory itself (no lock file is left behind).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hardhouse.render.build import FILE_PREFIX, RenderedFile

SUBDIRS = ("config.d", "users.d", "sql")
TEMP_SUFFIX = ".hardhouse-tmp"  # not .xml/.conf/.sql: ClickHouse never reads a half-written file


class WriteError(OSError):
    """Writing failed. `restored` says whether the directory is as it was before."""

    def __init__(self, error: OSError, restored: bool):
        super().__init__(error.errno, error.strerror, error.filename)
        self.restored = restored


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _make_dir(path: Path, created: list[Path]) -> None:
    missing = []
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        candidate.mkdir(exist_ok=True)
        created.append(candidate)


def _temp_beside(target: Path, content: bytes | None, mode: int) -> Path:
    """A new file in target's directory holding `content` (or a hard link/copy of target)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        if content is None:
            os.close(fd)
            fd = -1
            os.unlink(name)
            try:
                os.link(target, name, follow_symlinks=False)  # a backup costs nothing where hard links exist
            except OSError:
                shutil.copy2(target, name, follow_symlinks=False)
        else:
            os.fchmod(fd, mode)  # created 0600 by mkstemp; never wider than the final mode meanwhile
            os.write(fd, content)
            os.fsync(fd)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise
    if fd >= 0:
        os.close(fd)
    return Path(name)


def write_files(files: list[RenderedFile], out_dir: str | Path) -> list[Path]:
    """Write the files under out_dir and drop stale hardhouse files there, all or nothing.
    Raises WriteError (an OSError) when it could not; see its `restored`."""
    out = Path(out_dir)
    created: list[Path] = []
    try:
        _make_dir(out, created)
    except OSError as error:
        _remove_dirs(created)
        raise WriteError(error, restored=True) from None
    with _locked(out):
        return _write_locked(files, out, created)


def _write_locked(files: list[RenderedFile], out: Path, created: list[Path]) -> list[Path]:
    temps: dict[Path, Path] = {}  # target -> new content, beside it
    backups: dict[Path, Path] = {}  # target -> its previous content, beside it
    done: list[Path] = []  # targets already replaced or removed
    try:
        stale: list[Path] = []
        for subdir in SUBDIRS:
            wanted = {Path(f.path).name for f in files if f.path.startswith(f"{subdir}/")}
            # config.d/ and users.d/ always exist where ClickHouse looks; sql/ only when used.
            if subdir == "sql" and not wanted and not (out / subdir).is_dir():
                continue
            _make_dir(out / subdir, created)
            stale += [
                p
                for p in sorted((out / subdir).glob(f"{FILE_PREFIX}*"))
                if p.suffix in (".xml", ".sql") and p.name not in wanted and not p.is_dir()
            ]
        for file in files:
            target = out / file.path
            temps[target] = _temp_beside(target, file.content.encode("utf-8"), file.mode)
        for target in [*temps, *stale]:
            if target.exists() or target.is_symlink():
                backups[target] = _temp_beside(target, None, 0)
        for target, temp in temps.items():
            os.replace(temp, target)
            done.append(target)
        for target in stale:
            target.unlink()
            done.append(target)
    except OSError as error:
        restored = _undo(done, temps, backups)
        if restored:
            _remove_dirs(created)
        raise WriteError(error, restored) from None
    for backup in backups.values():
        backup.unlink(missing_ok=True)
    return list(temps)


def _undo(done: list[Path], temps: dict[Path, Path], backups: dict[Path, Path]) -> bool:
    """Put every target back as it was; True when that worked."""
    restored = True
    for target in reversed(done):
        try:
            if target in backups:
                os.replace(backups.pop(target), target)
            else:
                target.unlink(missing_ok=True)
        except OSError:
            restored = False
    for leftover in [*temps.values(), *backups.values()]:
        try:
            leftover.unlink(missing_ok=True)
        except OSError:
            restored = False
    return restored


def _remove_dirs(created: list[Path]) -> None:
    for directory in reversed(created):
        try:
            directory.rmdir()
        except OSError:
            pass
