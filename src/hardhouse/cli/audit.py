"""`hardhouse audit`: the click command over hardhouse.audit (registered in hardhouse.cli).

An argument is a configuration directory, or @INVENTORY.py: every host of that pyinfra
inventory, its tree fetched over SSH (hardhouse.deploy.audit_hosts) and audited here.

Exit codes: 0 every applicable control holds (or is waived) on every tree, 1 one fails,
2 bad input, or a host that could not be audited while none failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from hardhouse.audit.merge import ConfigTreeError, Dialect
from hardhouse.audit.model import AuditReport
from hardhouse.audit.online import OnlineUnsupported, Query, native_query_function, refusal_text
from hardhouse.audit.output import render_json, render_sarif, render_text
from hardhouse.audit.run import audit_tree
from hardhouse.cli.options import EXIT_INVALID
from hardhouse.clickhouse.native import ServerError
from hardhouse.controls.waivers import Waiver, load_waivers, parse_waivers
from hardhouse.spec import HardeningSpec, load_spec, load_spec_file
from hardhouse.spec.errors import SpecError, bounded_text
from hardhouse.terminal import printable

EXIT_OK, EXIT_FAILED = 0, 1


def _fail(message: str) -> None:
    # Messages name paths as given (and parser text): escaped, so no control character reaches a terminal.
    click.echo(f"hardhouse audit: {printable(message)}", err=True)
    sys.exit(EXIT_INVALID)


SERVER_INCLUDE = Path("/etc/metrika.xml")
SERVER_CONFIG_DIR = Path("/etc/clickhouse-server")


def _default_include(given: str | None) -> dict[str, Any] | None:
    """--default-include as audit_tree's arguments; None when not given."""
    if given is None:
        return None
    if given == "none":
        return {"assume_no_default_include": True}
    path = Path(given)
    if not path.is_file():
        _fail(f"--default-include {given}: not a file; give a copy of the server's /etc/metrika.xml, or none")
    return {"default_include": path}


def _this_machine(config_dir: Path, installed_at: Path | None, given: dict[str, Any] | None) -> dict[str, Any]:
    """What a directory audit learns from this machine when the directory is this machine's own
    /etc/clickhouse-server (the server that reads it is here): its /etc/metrika.xml (unless
    --default-include says) and its clickhouse-server package's version, as over SSH."""
    if installed_at is not None or config_dir.resolve() != SERVER_CONFIG_DIR.resolve():
        return dict(given or {})
    found: dict[str, Any] = {"server": installed_version()}
    if given is not None:
        found.update(given)
    elif SERVER_INCLUDE.is_file():
        found["default_include"] = SERVER_INCLUDE
    elif not SERVER_INCLUDE.exists():
        found["assume_no_default_include"] = True
    return found


def installed_version() -> str | None:
    """This machine's clickhouse-server package version (Debian's dpkg), if any."""
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "clickhouse-server"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    version = done.stdout.strip()[:100]
    return version if done.returncode == 0 and version.isprintable() else None


class OnlineError(Exception):
    """The running server could not be asked (connection, TLS verification, login, query)."""


def _online_query(
    online: str, user: str | None, password_env: str | None, ca: Path | None, config_dirs: tuple[Path, ...]
) -> Query:
    missing = [name for name, value in (("--user", user), ("--password-env", password_env), ("--ca", ca)) if not value]
    if missing:
        _fail(f"--online needs {', '.join(missing)} (the password goes only to a server whose certificate validates)")
    if len(config_dirs) != 1 or str(config_dirs[0]).startswith("@"):
        _fail("--online compares one server with one CONFIG_DIR")
    host, _, port = online.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        _fail(f"--online {online!r}: give HOST:PORT of the server's native TLS port (e.g. db1:9440)")
    password = os.environ.get(str(password_env))
    if password is None:
        _fail(f"--password-env {password_env}: the variable is not set")
    assert user is not None and ca is not None and password is not None
    query = native_query_function(host.strip("[]"), int(port), user, password, ca)

    def guarded(sql: str) -> list[dict[str, Any]]:
        try:
            return query(sql)
        except OnlineUnsupported:
            raise
        except ServerError as error:  # ClickHouse answered: its code, named
            raise OnlineError(bounded_text(refusal_text(error), 400)) from None
        except Exception as error:  # the driver's network, TLS and server errors: a clear line, no traceback
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise OnlineError(bounded_text(first_line, 300)) from None

    return guarded


def _audit_inventory(
    path: Path,
    *,
    spec: HardeningSpec | None,
    spec_name: str | None,
    spec_from_inventory: bool,
    waivers: list[Waiver],
    dialect: Dialect | None,
) -> tuple[list[AuditReport], list[tuple[str, str]]]:
    """Every host of the inventory: its report, or (host, why it was not audited)."""
    # Imported here: the deploy side loads pyinfra, which a local audit does not need.
    from hardhouse.deploy.audit import AuditFetchError, audit_archive
    from hardhouse.deploy.audit_hosts import InventoryError, fetch_inventory_trees

    reports: list[AuditReport] = []
    not_audited: list[tuple[str, str]] = []
    try:
        for tree in fetch_inventory_trees(path, with_spec=spec_from_inventory):
            if tree.archive is None:
                not_audited.append((tree.host, tree.error or "no answer"))
                continue
            host_spec, host_waivers = spec, waivers
            if spec_from_inventory:
                if tree.spec is None:
                    why = f"its host data cannot be used: {tree.spec_error}" if tree.spec_error else "no hardhouse_spec"
                    not_audited.append((tree.host, f"no spec to compare with: {why}"))
                    continue
                try:
                    host_spec = load_spec(tree.spec)
                except SpecError as error:
                    why = "; ".join(f"hardhouse_spec.{p}" for p in error.problems)
                    not_audited.append((tree.host, f"its hardhouse_spec is not valid: {why}"))
                    continue
                try:
                    host_waivers = waivers + parse_waivers(tree.waivers)
                except SpecError as error:
                    why = "; ".join(f"hardhouse_{p}" for p in error.problems)
                    not_audited.append((tree.host, f"its hardhouse_waivers are not valid: {why}"))
                    continue
            try:
                reports.append(
                    audit_archive(
                        tree.archive,
                        target=tree.host,
                        config_dir=tree.config_dir,
                        spec=host_spec,
                        spec_name=spec_name,
                        waivers=host_waivers,
                        dialect=dialect,
                        server_version=tree.server_version,
                        include=tree.include,
                        include_absent=tree.include_absent,
                    )
                )
            except AuditFetchError as error:
                not_audited.append((tree.host, str(error)))
            except SpecError as error:
                not_audited.append((tree.host, "the spec cannot be rendered: " + "; ".join(map(str, error.problems))))
    except InventoryError as error:
        _fail(str(error))
    return sorted(reports, key=lambda r: r.target), sorted(not_audited)


@click.command("audit")
@click.argument(
    "config_dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="CONFIG_DIR|@INVENTORY.py..."
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Drift mode: also compare the effective configuration with what this spec renders. "
    "Password variables it names are read only to compare hashes; unset ones are skipped.",
)
@click.option(
    "--spec-from-inventory",
    is_flag=True,
    help="Drift mode for @INVENTORY.py hosts: compare each host with its own hardhouse_spec, and accept "
    "its hardhouse_waivers (beside --waivers), from the inventory's host and group data, as the deploy does.",
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
    help="The server's ClickHouse: whose merge and reading rules apply. Default: from --spec's "
    "clickhouse_version, --online's server, or the installed package (an @INVENTORY host's, or this "
    "machine's for its own /etc/clickhouse-server); when none says, the tree is judged by both and each "
    "control takes the worse result.",
)
@click.option(
    "--default-include",
    metavar="FILE|none",
    help="What the server has at /etc/metrika.xml, the file incl= reads when include_from is not set: "
    "a copy of it, or `none` when it does not exist. Without it, what incl= takes from there cannot be "
    "decided and the controls that read it are undecided (a tree given as /etc/clickhouse-server reads "
    "this machine's own /etc/metrika.xml; @INVENTORY hosts send theirs).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
@click.option(
    "--installed-at",
    type=click.Path(path_type=Path),
    help="Where a copied tree lives on its server (e.g. /etc/clickhouse-server): absolute paths under it "
    "(users_config, include_from) are read from the copy.",
)
@click.option(
    "--online",
    metavar="HOST:PORT",
    help="Also ask the running server (native protocol over TLS) for its accounts: users created through "
    "SQL show in no file. Needs --user, --password-env and --ca; one CONFIG_DIR.",
)
@click.option("--user", "online_user", help="Account for --online (read-only is enough: it reads system.users).")
@click.option(
    "--password-env",
    metavar="VARIABLE",
    help="Environment variable holding --user's password (never given on the command line).",
)
@click.option(
    "--ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA certificate the server's certificate must validate against before the password is sent.",
)
@click.option("--sarif", "as_sarif", is_flag=True, help="Print SARIF 2.1.0 (findings located at file and line).")
def audit_command(
    config_dirs: tuple[Path, ...],
    spec_path: Path | None,
    spec_from_inventory: bool,
    waivers_path: Path | None,
    dialect: str | None,
    default_include: str | None,
    as_json: bool,
    installed_at: Path | None,
    online: str | None,
    online_user: str | None,
    password_env: str | None,
    ca: Path | None,
    as_sarif: bool,
) -> None:
    """Judge ClickHouse configuration trees (e.g. /etc/clickhouse-server) against hardhouse's
    controls, reading them offline exactly as ClickHouse merges them.

    Reads config.xml, its config.d/ and conf.d/, the users file it names with its users.d/,
    and include_from files inside the tree. Every finding names the control, the effective
    value and the file:line that decides it. Nothing is changed; a directory is read here and
    nothing is sent anywhere.

    @INVENTORY.py audits every host of a pyinfra inventory over SSH: pyinfra loads the file
    (its code runs, as with pyinfra itself) and runs one read-only command per host that sends
    back the .xml/.conf/.yaml/.yml files under hardhouse_config_dir (default
    /etc/clickhouse-server; never TLS keys), the host's /etc/metrika.xml and its
    clickhouse-server package version, at most 8 MiB, encrypted so that no pyinfra log shows
    them. Each host is audited here as a local tree, reported under its inventory name. A host
    that cannot be reached or read is listed as not audited, with the reason.

    Values are read as ClickHouse reads them (raw text, ${...} substitution, Poco keys, address
    patterns by prefix, glibc's numeric address forms). What cannot be decided offline (an
    environment variable, an include file only the server has, a host name, a YAML file)
    fails its control as UNDECIDED, naming what to do; it never passes.

    Exit codes: 0 every applicable control holds or is waived on every tree and host, 1 one
    fails, 2 bad input, or a control could not be decided (or a host could not be audited)
    while none failed: an incomplete audit cannot pass.
    """
    if as_json and as_sarif:
        _fail("choose one of --json and --sarif")
    if spec_from_inventory and spec_path:
        _fail("choose one of --spec and --spec-from-inventory")
    if spec_from_inventory and not any(str(d).startswith("@") for d in config_dirs):
        _fail("--spec-from-inventory needs an @INVENTORY.py argument")
    online_query = _online_query(online, online_user, password_env, ca, config_dirs) if online else None
    includes = _default_include(default_include)
    try:
        spec = load_spec_file(spec_path) if spec_path else None
        waivers = load_waivers(waivers_path) if waivers_path else []
    except SpecError as error:
        for problem in error.problems:
            click.echo(f"  - {problem}", err=True)
        _fail("bad input; nothing was audited")
        return
    reports: list[AuditReport] = []
    not_audited: list[tuple[str, str]] = []
    for config_dir in config_dirs:
        if str(config_dir).startswith("@"):
            inventory = Path(str(config_dir)[1:])
            spec_name = str(spec_path) if spec_path else None
            found, missed = _audit_inventory(
                inventory,
                spec=spec,
                spec_name=f"{inventory} host data" if spec_from_inventory else spec_name,
                spec_from_inventory=spec_from_inventory,
                waivers=waivers,
                dialect=Dialect(dialect) if dialect else None,
            )
            reports += found
            not_audited += missed
            continue
        try:
            reports.append(
                audit_tree(
                    config_dir,
                    spec=spec,
                    spec_name=str(spec_path) if spec_path else None,
                    waivers=waivers,
                    dialect=Dialect(dialect) if dialect else None,
                    online=online_query,
                    installed_at=installed_at,
                    **_this_machine(config_dir, installed_at, includes),
                )
            )
        except ConfigTreeError as error:
            _fail(str(error))
        except OnlineError as error:
            _fail(f"--online: the server could not be asked: {error}")
        except SpecError as error:
            for problem in error.problems:
                click.echo(f"  - {problem}", err=True)
            _fail("the spec cannot be rendered to compare with; nothing was audited")
    if as_json:
        document = json.loads(render_json(reports))
        if not_audited:
            document["ok"] = False
            document["not_audited"] = [{"target": target, "error": why} for target, why in not_audited]
        click.echo(json.dumps(document, indent=2))
    elif as_sarif:
        sarif = render_sarif(reports)
        if not_audited:
            invocation = sarif["runs"][0]["invocations"][0]
            invocation["executionSuccessful"] = False
            invocation["toolExecutionNotifications"] = [
                {"level": "error", "message": {"text": f"{target}: not audited: {why}"}} for target, why in not_audited
            ]
        click.echo(json.dumps(sarif, indent=2))
    else:
        blocks = [render_text(report) for report in reports]
        blocks += [f"audit of {target}: NOT AUDITED: {why}" for target, why in not_audited]
        click.echo("\n\n".join(blocks))
    if any(report.failed for report in reports):
        sys.exit(EXIT_FAILED)
    # Nothing failed, but an undecided control or a host not audited cannot count as passing.
    undecided = any(report.undecided for report in reports)
    sys.exit(EXIT_INVALID if not_audited or undecided else EXIT_OK)
