"""The README's generated tables (spec reference, versions, controls) and the wheel's templates
come from the same sources as the code."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from hardhouse.cli import main
from hardhouse.cli.controls import published_index
from hardhouse.clickhouse import versions_table
from hardhouse.clickhouse.versions import FEATURES
from hardhouse.controls import table
from hardhouse.spec import reference

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("generate", "command"),
    [
        pytest.param(reference.markdown, "hardhouse reference", id="spec reference"),
        pytest.param(versions_table.markdown_table, "hardhouse versions --markdown", id="versions"),
        pytest.param(lambda: table.markdown_table(published_index()), "hardhouse controls --markdown", id="controls"),
    ],
)
def test_readme_embeds_each_generated_table(generate: Callable[[], str], command: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert generate() in readme, f"a README table is stale: run `{command}` and paste it over the old one"


def test_the_versions_table_has_every_gate_and_no_bare_xml() -> None:
    lines = versions_table.markdown_table().splitlines()
    for name, feature in FEATURES.items():
        assert f"| `{name}` | {feature.since}+ |" in "\n".join(lines)
    rows = "\n".join(lines[1:-1])  # between the markers, which are HTML comments
    assert "<" not in re.sub(r"`[^`]*`", "", rows), "XML outside a code span would read as HTML"


def test_every_spec_field_is_in_the_reference() -> None:
    table = reference.markdown()
    for field in (
        "clickhouse_version",
        "listen_hosts",
        "ports.http",
        "tls.min_protocol",
        "default_user",
        "users[].networks",
        "users[].databases",
        "profiles",
    ):
        assert f"| `{field}` |" in table


def test_help_explains_each_command() -> None:
    for command in ([], ["render"], ["check"], ["reference"], ["versions"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage:" in result.output
    assert "--out" in CliRunner().invoke(main, ["render", "--help"]).output


def test_wheel_ships_the_templates_and_host_scripts(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("hardhouse-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    templates = sorted(p.name for p in (ROOT / "src" / "hardhouse" / "render" / "templates").glob("*.j2"))
    assert sorted(n.split("/")[-1] for n in names if n.startswith("hardhouse/render/templates/")) == templates
    # The scripts that run on hosts, and the libraries they carry.
    scripts = sorted(str(p.relative_to(ROOT / "src")) for p in (ROOT / "src" / "hardhouse" / "deploy").rglob("*.sh"))
    assert scripts and sorted(n for n in names if n.endswith(".sh")) == scripts


def test_the_old_import_paths_are_gone() -> None:
    """hardhouse.probe's flat names and hardhouse.deploy_ops were shims for the layout before 0.1; gone."""
    import importlib

    import pytest

    import hardhouse.probe as probe

    with pytest.raises(AttributeError, match="DEFAULT_PORTS"):
        probe.DEFAULT_PORTS  # noqa: B018
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hardhouse.deploy_ops")


def test_importing_the_pytest_plugin_changes_no_environment_variable() -> None:
    code = (
        "import os; before = dict(os.environ); import hardhouse.testing.plugin, hardhouse.testing.containers; "
        "assert dict(os.environ) == before, set(os.environ) ^ set(before)"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("TESTCONTAINERS")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_no_module_is_over_500_lines_without_saying_why() -> None:
    for path in (ROOT / "src" / "hardhouse").rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 500:
            assert "over 500 lines because" in text.split('"""', 2)[1], f"{path} is long and does not say why"


def test_every_benchmark_still_runs_its_help() -> None:
    """Benchmarks are not tests, but they must not rot: each one imports and explains itself."""
    for script in sorted((ROOT / "bench").glob("*.py")):
        result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "usage:" in result.stdout, f"{script.name}: {result.stderr[-500:]}"


def test_every_path_the_contributors_guide_names_exists() -> None:
    """CONTRIBUTING.md walks the layout: a file or directory it names that moved is a stale guide."""
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    tops = "src/hardhouse|tests|scripts|hardhouse|" + "|".join(p.name for p in (ROOT / "src/hardhouse").iterdir())
    named = set(re.findall(rf"`((?:{tops})/[^`*<> ]*)`", guide))
    named |= set(re.findall(r"\b((?:tests|src/hardhouse)/[\w/.-]+\w)", guide))
    assert named, "the guide names no path: this test would pass on anything"
    missing = []
    for path in sorted(named):
        candidates = [ROOT / path, ROOT / "src" / path, ROOT / "src" / "hardhouse" / path]
        if not any(candidate.exists() for candidate in candidates):
            missing.append(path)
    assert missing == []
