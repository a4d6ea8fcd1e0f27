"""`hardhouse controls`: the catalog of controls, as text, JSON or the README's Markdown table."""

from __future__ import annotations

import json

import click

from hardhouse.cli.options import JSON_OPTION
from hardhouse.controls.catalog import CONTROLS
from hardhouse.controls.table import as_dict, markdown_table, text_listing


@click.command("controls")
@JSON_OPTION
@click.option("--markdown", is_flag=True, help="Print the Markdown table README.md embeds.")
def controls_command(as_json: bool, markdown: bool) -> None:
    """List the controls hardhouse enforces and checks: id, severity, title, why, and which
    probe and audit checks verify each. Findings, rendered files, waivers and SARIF rule ids
    all name controls by these ids."""
    if as_json:
        click.echo(json.dumps({"controls": [as_dict(control) for control in CONTROLS]}, indent=2))
    elif markdown:
        click.echo(markdown_table())
    else:
        click.echo(text_listing())
