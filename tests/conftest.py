"""Fixtures shared by every test package: valid spec data, passwords, and the ClickHouse image
the container tests run against (built locally from Debian packages unless
HARDHOUSE_CLICKHOUSE_IMAGE names one)."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from tests.helpers import PASSWORDS, VALID_SPEC, require


@pytest.fixture
def spec_dict() -> dict[str, Any]:
    return copy.deepcopy(VALID_SPEC)


@pytest.fixture
def environ() -> dict[str, str]:
    return dict(PASSWORDS)


@pytest.fixture(scope="session")
def clickhouse_image_name() -> str:
    """Overrides the plugin's fixture: the local Debian 18.16 image, built on first use."""
    from hardhouse.testing.containers import IMAGE_VARIABLE

    configured = os.environ.get(IMAGE_VARIABLE)
    if configured:
        return configured
    from hardhouse_dev.images import ImageError, ensure_docker_engine, ensure_image

    try:
        ensure_docker_engine()
        return ensure_image("clickhouse")
    except (ImageError, OSError) as error:
        require(False, f"no Docker engine or image: {error}")
        raise
