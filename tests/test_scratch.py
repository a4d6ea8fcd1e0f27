"""Scratch directories for the trees the audit writes out (hardhouse.scratch)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hardhouse import scratch


def test_scratch_is_private_in_memory_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    if not os.access(scratch.MEMORY_DIR, os.W_OK):
        pytest.skip(f"{scratch.MEMORY_DIR} is not writable on this machine")
    with scratch.scratch("hardhouse-test-") as path:
        assert path.parent == Path(scratch.MEMORY_DIR)
        assert stat.S_IMODE(path.stat().st_mode) == 0o700 and path.stat().st_uid == os.getuid()
        (path / "users.xml").write_text("<clickhouse/>")
    assert not path.exists()


def test_tmpdir_set_by_the_operator_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches its choice: read TMPDIR again
    with scratch.scratch("hardhouse-test-") as path:
        assert path.parent == tmp_path


def test_without_a_memory_directory_the_default_temporary_directory_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(scratch, "MEMORY_DIR", str(tmp_path / "absent"))
    with scratch.scratch("hardhouse-test-") as path:
        assert not str(path).startswith(str(tmp_path / "absent"))
