"""The README's spec reference and the wheel's templates come from the same sources as the code."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from click.testing import CliRunner

from hardhouse.cli import main
from hardhouse.spec import reference

ROOT = Path(__file__).resolve().parents[1]


def test_readme_embeds_the_current_spec_reference() -> None:
    readme = (ROOT / "README.md").read_text()
    assert reference.markdown() in readme, "README's spec reference is stale: run `hardhouse reference` and paste it between the markers"


def test_every_spec_field_is_in_the_reference() -> None:
    table = reference.markdown()
    for field in ("clickhouse_version", "listen_hosts", "ports.http", "tls.min_protocol", "default_user", "users[].networks", "users[].databases", "profiles"):
        assert f"| `{field}` |" in table


def test_help_explains_each_command() -> None:
    for command in ([], ["render"], ["check"], ["reference"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage:" in result.output
    assert "--out" in CliRunner().invoke(main, ["render", "--help"]).output


def test_wheel_ships_the_templates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("hardhouse-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    templates = sorted(p.name for p in (ROOT / "src" / "hardhouse" / "render" / "templates").glob("*.j2"))
    assert sorted(n.split("/")[-1] for n in names if n.startswith("hardhouse/render/templates/")) == templates
