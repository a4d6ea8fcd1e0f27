"""Fixtures shared by the deploy tests."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from hardhouse_dev.sandbox import USERS


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """The sandbox spec's password files, made per run (0700 directory, 0600 files)."""
    directory = tmp_path / "secrets"
    directory.mkdir(mode=0o700)
    for name in USERS:
        (directory / name).write_text(secrets.token_urlsafe(24) + "\n")
        (directory / name).chmod(0o600)
    return directory
