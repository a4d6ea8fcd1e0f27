"""`hardhouse audit`: the click command over hardhouse.audit (registered in hardhouse.cli).

Exit codes: 0 every applicable control holds (or is waived), 1 one fails, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hardhouse.audit.merge import ConfigTreeError, Dialect
from hardhouse.audit.output import render_json, render_sarif, render_text
from hardhouse.audit.run import audit_tree
from hardhouse.cli.options import EXIT_INVALID
from hardhouse.controls.waivers import load_waivers
from hardhouse.spec import load_spec_file
from hardhouse.spec.errors import SpecError

EXIT_OK, EXIT_FAILED = 0, 1


def _fail(message: str) -> None:
    click.echo(f"hardhouse audit: {message}", err=True)
    sys.exit(EXIT_INVALID)


@click.command("audit")
@click.argument("config_dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="CONFIG_DIR...")
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Drift mode: also compare the effective configuration with what this spec renders. "
    "Password variables it names are read only to compare hashes; unset ones are skipped.",
)
@click.option(
    "--waivers",
    "waivers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file of waivers (control, reason, expires, optional targets); see README.",
)
@click.option(
    "--dialect",
    type=click.Choice([d.value for d in Dialect]),
    help="Whose merge rules to apply. Default: from --spec's clickhouse_version, else guessed "
    "from config.xml (a <yandex> root means 18.16).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
@click.option("--sarif", "as_sarif", is_flag=True, help="Print SARIF 2.1.0 (findings located at file and line).")
def audit_command(
    config_dirs: tuple[Path, ...],
    spec_path: Path | None,
    waivers_path: Path | None,
    dialect: str | None,
    as_json: bool,
    as_sarif: bool,
) -> None:
    """Judge ClickHouse configuration trees (e.g. /etc/clickhouse-server) against hardhouse's
    controls, reading them offline exactly as ClickHouse merges them.

    Reads config.xml, its config.d/ and conf.d/, the users file it names with its users.d/,
    and include_from files inside the tree; from_env and from_zk substitutions are reported
    as not resolvable offline. Every finding names the control, the effective value and the
    file:line that decides it. Nothing is changed and nothing is sent anywhere.

    Exit codes: 0 every applicable control holds or is waived, 1 one fails, 2 bad input.
    """
    if as_json and as_sarif:
        _fail("choose one of --json and --sarif")
    try:
        spec = load_spec_file(spec_path) if spec_path else None
        waivers = load_waivers(waivers_path) if waivers_path else []
    except SpecError as error:
        for problem in error.problems:
            click.echo(f"  - {problem}", err=True)
        _fail("bad input; nothing was audited")
        return
    reports = []
    for config_dir in config_dirs:
        try:
            reports.append(
                audit_tree(
                    config_dir,
                    spec=spec,
                    spec_name=str(spec_path) if spec_path else None,
                    waivers=waivers,
                    dialect=Dialect(dialect) if dialect else None,
                )
            )
        except ConfigTreeError as error:
            _fail(str(error))
        except SpecError as error:
            for problem in error.problems:
                click.echo(f"  - {problem}", err=True)
            _fail("the spec cannot be rendered to compare with; nothing was audited")
    if as_json:
        click.echo(render_json(reports))
    elif as_sarif:
        click.echo(json.dumps(render_sarif(reports), indent=2))
    else:
        click.echo("\n\n".join(render_text(report) for report in reports))
    sys.exit(EXIT_OK if all(report.ok for report in reports) else EXIT_FAILED)
