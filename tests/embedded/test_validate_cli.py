"""`hardhouse validate`: the example spec loads in ClickHouse 26.9's own parser, for every
supported modern target, with no passwordless login."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hardhouse.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

ROOT = Path(__file__).resolve().parents[2]
ENV = {"CH_INGEST_PASSWORD": secrets.token_urlsafe(24), "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24)}


@pytest.mark.parametrize("version", ["22.8", "23.8", "24.8", "25.3", "25.8"])
def test_validate_accepts_the_example_for_each_modern_target(tmp_path: Path, version: str) -> None:
    spec = yaml.safe_load((ROOT / "examples" / "spec.yaml").read_text())
    spec["clickhouse_version"] = version
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(main, ["validate", "--spec", str(tmp_path / "spec.yaml"), "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["errors"] == [] and report["passwordless"] == []
    assert report["users"] == ["analyst", "ingest"]
    assert report["engine_version"].startswith("26.")


def test_validate_refuses_a_bad_spec_before_loading_anything(tmp_path: Path) -> None:
    spec = yaml.safe_load((ROOT / "examples" / "spec.yaml").read_text())
    spec["listen_hosts"] = ["0.0.0.0"]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(main, ["validate", "--spec", str(tmp_path / "spec.yaml")], env=ENV)
    assert result.exit_code == 2
    assert "listen_hosts[0]: 0.0.0.0 listens on every interface" in result.output
