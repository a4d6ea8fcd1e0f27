"""Each subcommand's module loads when it runs, not with the command (hardhouse.cli.main.SUBCOMMANDS)."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from hardhouse.cli import main
from hardhouse.cli.main import SUBCOMMANDS


def loaded_after(*args: str) -> set[str]:
    """The hardhouse modules a fresh interpreter holds after running `hardhouse ARGS`."""
    code = (
        "import sys\nfrom hardhouse.cli import main\n"
        f"try:\n    main({list(args)!r})\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('hardhouse.'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return set(result.stdout.split())


def test_a_subcommand_loads_its_own_module_and_not_the_others() -> None:
    versions = loaded_after("versions", "--help")
    assert "hardhouse.cli.versions" in versions
    assert not {"hardhouse.cli.audit", "hardhouse.cli.probe", "hardhouse.audit.run"} & versions
    render = loaded_after("render", "--help")
    assert not {module for module, _ in SUBCOMMANDS.values()} & render


def test_help_lists_every_subcommand_with_its_summary() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:", 1)[1].splitlines() if line.strip()}
    assert set(SUBCOMMANDS) <= listed and {"render", "check", "validate", "reference"} <= listed
    assert CliRunner().invoke(main, ["nonsense"]).exit_code == 2  # an unknown command is still a usage error
