"""The example a team copies into its pipeline (examples/ci/) runs, and passes, as shipped."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]


def test_example_pipeline_test_passes_on_the_example_spec(tmp_path: Path, clickhouse_image_name: str) -> None:
    spec = yaml.safe_load((ROOT / "examples" / "spec.yaml").read_text())
    spec["clickhouse_version"] = "18.16"  # the local image's server; the workflow pins 24.8 for the official one
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    env = {
        **os.environ,
        "HARDHOUSE_SPEC": str(tmp_path / "spec.yaml"),
        "HARDHOUSE_CLICKHOUSE_IMAGE": clickhouse_image_name,
        "CH_INGEST_PASSWORD": secrets.token_urlsafe(24),
        "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "examples" / "ci" / "test_clickhouse_hardening.py"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD"):
        assert env[name] not in result.stdout + result.stderr
