"""`hardhouse scan`: the click command over hardhouse.scan (registered in hardhouse.cli).

Exit codes: 0 every table scanned is clean (or waived), 1 secrets found or a table not scanned
completely (undecided is not clean), 2 bad input or no session (one line naming the option).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from hardhouse.cli.options import EXIT_INVALID
from hardhouse.controls.waivers import load_waivers
from hardhouse.scan.sent import DEFAULT_MAX_ROWS, DEFAULT_MAX_SECONDS, WHAT_IS_SENT
from hardhouse.spec.errors import SpecError
from hardhouse.terminal import printable

if TYPE_CHECKING:
    from hardhouse.scan.run import ScanOptions

EXIT_CLEAN, EXIT_FOUND = 0, 1
DEFAULT_PORT = 9440
NAME_OPTION_MAX = 255


def _fail(message: str) -> NoReturn:
    click.echo(f"hardhouse scan: {printable(message)}", err=True)
    sys.exit(EXIT_INVALID)


def _names(values: tuple[str, ...], option: str) -> tuple[str, ...]:
    for value in values:
        if not value or len(value.encode()) > NAME_OPTION_MAX or not value.isprintable():
            _fail(f"{option} {value!r}: give a name of 1-{NAME_OPTION_MAX} printable characters")
    return tuple(dict.fromkeys(values))


def _password(password_env: str | None, password_file: Path | None) -> str | None:
    from hardhouse.render.credentials import read_password_file

    if password_env and password_file:
        _fail("give one of --password-env and --password-file")
    if password_env:
        if password_env not in os.environ:
            _fail(f"--password-env {password_env}: the variable is not set")
        return os.environ[password_env]
    if password_file:
        secret, problem, fix = read_password_file(str(password_file), "--password-file")
        if problem:
            _fail(f"--password-file: {problem}; {fix}")
        return secret
    return None


def _from_spec(spec_path: Path, user: str | None, databases: tuple[str, ...]) -> tuple[ScanOptions, str, str | None]:
    """The spec's log databases and redaction rules, the user (default: the first reader) and
    that user's password from the spec's source (None when the spec gives none)."""
    from hardhouse.render.credentials import read_secret
    from hardhouse.scan.run import ScanOptions
    from hardhouse.spec import load_spec_file
    from hardhouse.spec.redaction import rules_by_table

    try:
        spec = load_spec_file(spec_path)
    except SpecError as error:
        more = f" (and {len(error.problems) - 1} more)" if len(error.problems) > 1 else ""
        _fail(f"--spec {spec_path}: {error.problems[0]}{more}")
    if not spec.log_databases:
        _fail(f"--spec {spec_path}: the spec has no log_databases to scan")
    rules = rules_by_table(spec)
    readers = [reader for database in spec.log_databases.values() for reader in database.readers]
    user = user or (readers[0] if readers else None)
    if user is None:
        _fail(f"--spec {spec_path}: no log database has a reader; give --user")
    users = {entry.name: (index, entry) for index, entry in enumerate(spec.users)}
    password = None
    if user in users:
        index, entry = users[user]
        if entry.password_env or entry.password_file:
            password, problem = read_secret(entry, f"users[{index}]", os.environ)
            if problem:
                _fail(f"--spec {spec_path}: {problem}")
    options = ScanOptions(databases=databases or tuple(spec.log_databases), rules=rules)
    return options, user, password, spec.ports.native_tls


@click.command("scan", context_settings={"help_option_names": ["-h", "--help"]}, epilog=WHAT_IS_SENT)
@click.option("--host", required=True, help="Server address or name (the certificate must name it).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help=f"Native TLS port [default: the spec's, else {DEFAULT_PORT}]."
)
@click.option("--user", help="A reader (read-only user) to log in as [default with --spec: the first log reader].")
@click.option("--password-env", metavar="NAME", help="Environment variable holding the user's password.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the password (mode 600, as ssh requires of keys).",
)
@click.option(
    "--ca",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA certificate the server's certificate must chain to; no CA, no login.",
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Hardening spec: its log databases, each redacted table's own rules, the reader's password source.",
)
@click.option(
    "--database",
    "databases",
    multiple=True,
    help="Scan this database (repeatable) [default: the spec's log databases, else all but system].",
)
@click.option("--table", "tables", multiple=True, help="Scan only tables of this name (repeatable).")
@click.option(
    "--max-rows",
    default=DEFAULT_MAX_ROWS,
    show_default=True,
    type=click.IntRange(1, 10**10),
    help="Rows examined per table at most (a SAMPLE of them where the table has a sampling key).",
)
@click.option(
    "--max-seconds",
    default=DEFAULT_MAX_SECONDS,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds per table (max_execution_time where the session may set it; the client waits 5 s more).",
)
@click.option(
    "--waivers",
    "waivers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML waivers: control HH-DATA-4, targets db.table (or the host). A waived table does not fail the scan.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.option("--sarif", "as_sarif", is_flag=True, help="Print a SARIF 2.1.0 report (control HH-DATA-4).")
def scan_command(
    host: str,
    port: int | None,
    user: str | None,
    password_env: str | None,
    password_file: Path | None,
    ca: Path,
    spec_path: Path | None,
    databases: tuple[str, ...],
    tables: tuple[str, ...],
    max_rows: int,
    max_seconds: float,
    waivers_path: Path | None,
    as_json: bool,
    as_sarif: bool,
) -> None:
    """Count secret-shaped values already stored in log tables, without reading one.

    Logs in as a reader over native TLS and, for every table of the chosen
    databases and every text column (String, Nullable, LowCardinality, FixedString,
    Array and Map of them), has ClickHouse count the rows matching each rule:
    hardhouse's built-in shapes (API keys, GitHub/Slack/AWS tokens, private keys,
    JWTs, bearer tokens, passwords in URLs, password=/token=/api_key= pairs) plus,
    with --spec, a redacted table's own rules. Bounded per table by --max-rows and
    --max-seconds; read-only on the server.

    The report names table, column, rule, matching rows and rows examined: never a
    value. Exit status: 0 clean, 1 secrets found or a table not scanned completely
    (timed out, refused, a type it cannot look inside: undecided is not clean),
    2 bad input or no session.
    """
    from hardhouse.scan.output import render_json, render_sarif, render_text
    from hardhouse.scan.run import ScanError, ScanOptions, open_session, scan, session_query

    if as_json and as_sarif:
        _fail("choose one of --json and --sarif")
    databases, tables = _names(databases, "--database"), _names(tables, "--table")
    try:
        waivers = load_waivers(waivers_path) if waivers_path else []
    except SpecError as error:
        _fail(f"--waivers {waivers_path}: {error.problems[0]}")
    password = _password(password_env, password_file)
    options = ScanOptions(databases=databases)
    if spec_path is not None:
        options, user, spec_password, spec_port = _from_spec(spec_path, user, databases)
        password = password if password is not None else spec_password
        port = port or spec_port
    if user is None:
        _fail("--user: give the reader to log in as (or --spec with a log database reader)")
    if password is None:
        _fail(f"--password-env or --password-file: no password for {user} (the spec names no source for it)")
    options = ScanOptions(
        databases=options.databases, tables=tables, max_rows=max_rows, max_seconds=max_seconds, rules=options.rules
    )
    port = port or DEFAULT_PORT
    try:
        with open_session(host.strip("[]"), port, user, password, ca, options) as session:
            report = scan(session_query(session), f"{host}:{port}", user, options)
    except ScanError as error:
        _fail(str(error))
    report.apply_waivers(waivers)
    if as_sarif:
        click.echo(json.dumps(render_sarif(report), indent=2))
    elif as_json:
        click.echo(render_json(report))
    else:
        click.echo(render_text(report))
    sys.exit(EXIT_FOUND if report.failed else EXIT_CLEAN)
