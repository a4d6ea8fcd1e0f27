"""What reached a server's disk: a bounded search of its data directory for text."""

from __future__ import annotations

from pathlib import Path

FILE_MAX = 64 * 1024 * 1024  # a test server's part files are small; a larger file is not read whole


def files_holding(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """needle -> the files under root whose bytes contain it (each file read at most FILE_MAX)."""
    found: dict[str, list[str]] = {needle: [] for needle in needles}
    encoded = [(needle, needle.encode()) for needle in needles]
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as handle:
            content = handle.read(FILE_MAX)
        for needle, raw in encoded:
            if raw in content:
                found[needle].append(str(path.relative_to(root)))
    return found
