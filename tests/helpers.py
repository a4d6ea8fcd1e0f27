"""Helpers shared by the test modules."""

from __future__ import annotations

import os

import pytest


def require(condition: bool, reason: str) -> None:
    """Skip when a dependency is missing on a developer machine; fail in CI, where
    .ci/run installs everything and a skip would hide a test that never ran."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it: see scripts/setup-machine)")
    pytest.skip(reason)
