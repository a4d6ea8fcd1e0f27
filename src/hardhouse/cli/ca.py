"""`hardhouse ca ...`: the toolkit's small CA for sandboxes and tests (thin commands over
hardhouse.ca_store). Production deployments bring their own certificates.

Exit codes: 0 success, 2 invalid input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hardhouse.ca.store import CaError, ensure_ca, ensure_server, list_certificates
from hardhouse.cli.options import EXIT_INVALID, JSON_OPTION

DIR_OPTION = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="CA directory on this machine (created 0700; the CA key is kept there, 0600).",
)


def _fail(message: str) -> None:
    click.echo(f"hardhouse ca: {message}", err=True)
    sys.exit(EXIT_INVALID)


@click.group("ca")
def ca_group() -> None:
    """A throwaway certificate authority for sandboxes and tests.

    `init` makes the CA once; `issue` gives a host a server certificate for its addresses
    and keeps it while it covers the addresses asked for and is not near expiry (so re-deploys change
    nothing). The pyinfra deploy does the same by itself when its host data says
    hardhouse_tls_source: sandbox-ca.
    """


@ca_group.command("init")
@DIR_OPTION
@JSON_OPTION
def init_command(directory: Path, as_json: bool) -> None:
    """Create the CA in DIR (kept if it exists) and print where its certificate is."""
    try:
        ensure_ca(directory)
    except (CaError, OSError) as error:
        _fail(str(error))
    if as_json:
        click.echo(json.dumps({"ok": True, "ca_certificate": str(directory / "ca.crt")}, indent=2))
    else:
        click.echo(f"CA certificate: {directory / 'ca.crt'} (give it to clients to verify servers)")


@ca_group.command("issue")
@DIR_OPTION
@click.option("--name", required=True, help="Host name; the files go to DIR/hosts/NAME/.")
@click.option("--ip", "addresses", multiple=True, help="IP address the server is reached at (repeatable).")
@click.option("--dns", "dns_names", multiple=True, help="DNS name the server is reached at (repeatable).")
@JSON_OPTION
def issue_command(
    directory: Path, name: str, addresses: tuple[str, ...], dns_names: tuple[str, ...], as_json: bool
) -> None:
    """Issue a server certificate for NAME, or keep the stored one if it covers these addresses."""
    try:
        ensure_server(directory, name, addresses, dns_names)
    except (CaError, ValueError, OSError) as error:
        _fail(str(error))
    host_dir = directory / "hosts" / name
    result = {
        "ok": True,
        "certificate": str(host_dir / "server.crt"),
        "private_key": str(host_dir / "server.key"),
        "ca_certificate": str(directory / "ca.crt"),
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(
            f"certificate: {result['certificate']}\nprivate key: {result['private_key']} (0600)\n"
            f"CA:          {result['ca_certificate']}"
        )


@ca_group.command("list")
@DIR_OPTION
@JSON_OPTION
def list_command(directory: Path, as_json: bool) -> None:
    """List the CA and the server certificates in DIR (subject, SANs, expiry)."""
    if not (directory / "ca.crt").exists():
        _fail(f"{directory} holds no CA; create one with: hardhouse ca init --dir {directory}")
    summaries = list_certificates(directory)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in summaries], indent=2))
        return
    for summary in summaries:
        sans = ", ".join(summary.addresses + summary.dns_names) or "-"
        click.echo(
            f"{summary.path}\n  subject {summary.subject}\n  SANs    {sans}\n"
            f"  expires {summary.not_after:%Y-%m-%d %H:%M} UTC"
        )
