"""`hardhouse versions`: the features a target version needs, as text or the README's Markdown table."""

from __future__ import annotations

import click

from hardhouse.clickhouse.versions_table import markdown_table, text_listing


@click.command("versions")
@click.option("--markdown", is_flag=True, help="Print the Markdown table README.md embeds.")
def versions_command(markdown: bool) -> None:
    """List what needs a ClickHouse newer than 18.16: each feature, the version it needs, and
    how that was verified. A spec that asks for one on an older target is refused with the
    version it needs; everything else renders on every supported version."""
    click.echo(markdown_table() if markdown else text_listing())
