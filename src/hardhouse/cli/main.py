"""The `hardhouse` command: thin click commands over the library.

Exit codes: 0 success, 2 invalid input (a bad spec, a missing secret, a usage error).
"""

from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path
from typing import NoReturn

import click

from hardhouse import __version__
from hardhouse.cli.options import EXIT_INVALID, JSON_OPTION
from hardhouse.render import RenderedFile, render, write_files
from hardhouse.render.write import WriteError
from hardhouse.spec import HardeningSpec, load_spec_file, reference
from hardhouse.spec.errors import Problem, SpecError

SPEC_OPTION = click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Hardening spec (YAML). Passwords are read from the variables or files it names.",
)


# The subcommands in their own modules, loaded only when one of them runs (or --help lists them):
# `hardhouse probe` need not import the audit, nor `hardhouse render` the probe (the command
# started in about 0.5 s of imports before; each test or CI step that runs it paid that).
SUBCOMMANDS = {
    "audit": ("hardhouse.cli.audit", "audit_command"),
    "ca": ("hardhouse.cli.ca", "ca_group"),
    "controls": ("hardhouse.cli.controls", "controls_command"),
    "probe": ("hardhouse.cli.probe", "probe_command"),
    "scan": ("hardhouse.cli.scan", "scan_command"),
    "versions": ("hardhouse.cli.versions", "versions_command"),
}


class Commands(click.Group):
    """A group whose SUBCOMMANDS load on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS and cmd_name not in self.commands:
            module, name = SUBCOMMANDS[cmd_name]
            self.add_command(getattr(import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hardhouse")
def main() -> None:
    """Make a ClickHouse deployment secure by construction, and prove it.

    A hardening spec (YAML) becomes ClickHouse config.d/ and users.d/ files that close the
    plaintext ports, require TLS, restrict listen addresses and per-user networks, and
    store password hashes only. See README.md for the spec reference.
    """


def fail_with(problems: list[Problem], spec_path: Path, as_json: bool, action: str) -> NoReturn:
    if as_json:
        click.echo(
            json.dumps({"ok": False, "spec": str(spec_path), "problems": [p.as_dict() for p in problems]}, indent=2)
        )
    else:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        click.echo(f"hardhouse: {spec_path}: {count}; {action}.", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
    sys.exit(EXIT_INVALID)


def load_and_render(spec_path: Path, as_json: bool, action: str) -> tuple[HardeningSpec, list[RenderedFile]]:
    try:
        spec = load_spec_file(spec_path)
        return spec, render(spec)
    except SpecError as error:
        fail_with(error.problems, spec_path, as_json, action)


def file_summary(file: RenderedFile) -> dict[str, str]:
    # No digest of the content: a users file holds password hashes, and a digest of it printed
    # in a public CI log would let anyone test password guesses offline.
    summary = {"path": file.path, "mode": f"{file.mode:04o}"}
    if file.secret:  # the cluster's plaintext credentials: the server sends them to its peers
        summary["secret"] = "plaintext the server needs; never print or share it"
    return summary


# A render has no host: it cannot know which users a server already has.
UNDECLARED_REMOVE_NOTE = (
    "undeclared_users is remove, but a render has no host to read users from: these files remove no user the "
    "spec does not declare (only the stock readonly). The deploy reads each host's users and removes them by "
    "name; on a server you copy these files to, users it already has stay (hardhouse audit names the ones that "
    "fail a control)"
)


@main.command("render")
@SPEC_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write config.d/ and users.d/ into (e.g. /etc/clickhouse-server).",
)
@JSON_OPTION
def render_command(spec_path: Path, out_dir: Path, as_json: bool) -> None:
    """Render the spec into OUT/config.d/*.xml and OUT/users.d/*.xml.

    All files are written, or none: on any problem nothing under OUT changes. Earlier
    hardhouse files that the spec no longer produces are removed from OUT.
    """
    spec, files = load_and_render(spec_path, as_json, "nothing was written")
    try:
        write_files(files, out_dir)
    except WriteError as error:
        where = f"{error.filename}: " if error.filename else ""
        if error.restored:
            fail_with(
                [
                    Problem(
                        "", f"cannot write to {out_dir}: {where}{error.strerror}", "choose a writable --out directory"
                    )
                ],
                spec_path,
                as_json,
                "nothing was changed",
            )
        fail_with(
            [
                Problem(
                    "",
                    f"writing to {out_dir} failed ({where}{error.strerror}) and undoing it failed too",
                    f"compare {out_dir} with a fresh render before the server restarts",
                )
            ],
            spec_path,
            as_json,
            f"{out_dir} may be partly changed",
        )
    notes = [UNDECLARED_REMOVE_NOTE] if spec.undeclared_users == "remove" else []
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": True,
                    "clickhouse_version": spec.clickhouse_version,
                    "out": str(out_dir),
                    "files": [file_summary(f) for f in files],
                    "notes": notes,
                },
                indent=2,
            )
        )
        return
    click.echo(f"Rendered {len(files)} files for ClickHouse {spec.clickhouse_version} into {out_dir}/:")
    for file in files:
        note = ", plaintext secrets: never print or share it" if file.secret else ""
        click.echo(f"  {file.path}  ({file.mode:04o}{note})")
    for note in notes:
        click.echo(f"Note: {note}", err=True)


@main.command("check")
@SPEC_OPTION
@JSON_OPTION
def check_command(spec_path: Path, as_json: bool) -> None:
    """Validate the spec and its secrets without writing anything (exit 0 when valid)."""
    spec, files = load_and_render(spec_path, as_json, "the spec is not valid")
    if as_json:
        click.echo(
            json.dumps(
                {"ok": True, "clickhouse_version": spec.clickhouse_version, "files": [file_summary(f) for f in files]},
                indent=2,
            )
        )
    else:
        click.echo(
            f"{spec_path}: valid for ClickHouse {spec.clickhouse_version} "
            f"({len(spec.users)} users, {len(files)} files)."
        )


@main.command("reference")
def reference_command() -> None:
    """Print the spec field reference (Markdown) that README.md embeds."""
    click.echo(reference.markdown(), nl=False)


@main.command("validate")
@SPEC_OPTION
@JSON_OPTION
def validate_command(spec_path: Path, as_json: bool) -> None:
    """Load the rendered files into modern ClickHouse's own parser and prove no user can log
    in without a password there.

    Uses the ClickHouse engine embedded in chdb-core (26.9; pip install "hardhouse[validate]"):
    it reports ClickHouse's own error for anything it cannot parse, and tries an
    empty-password login as every user. Exit 0 valid, 1 rejected or passwordless, 2 bad spec.
    """
    from hardhouse.embedded import EmbeddedUnavailable, validate_embedded

    spec, files = load_and_render(spec_path, as_json, "nothing was validated")
    try:
        report = validate_embedded(files)
    except EmbeddedUnavailable as error:
        click.echo(
            f"hardhouse: the embedded ClickHouse engine cannot run: {error}. "
            "Install it with: pip install 'hardhouse[validate]'",
            err=True,
        )
        sys.exit(EXIT_INVALID)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "engine_version": report.engine_version,
                    "errors": report.errors,
                    "users": report.users,
                    "passwordless": report.passwordless,
                    "seconds": report.seconds,
                },
                indent=2,
            )
        )
    else:
        click.echo(
            f"ClickHouse {report.engine_version} (embedded) loaded {len(files)} files "
            f"rendered for {spec.clickhouse_version} in {report.seconds:.1f}s"
        )
        for error in report.errors:
            click.echo(f"  error: {error}")
        click.echo(f"  users: {', '.join(report.users) or 'none'}")
        click.echo(f"  passwordless logins: {', '.join(report.passwordless) or 'none'}")
        click.echo("valid" if report.ok else "NOT valid")
    sys.exit(0 if report.ok else 1)
