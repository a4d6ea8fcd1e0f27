"""`hardhouse controls`: the catalog of controls with the rules and checks that judge each, as
text, JSON or the README's Markdown table."""

from __future__ import annotations

import json

import click

from hardhouse.audit import cluster_rules, drift, online, user_rules
from hardhouse.audit import rules as audit_rules
from hardhouse.cli.options import JSON_OPTION
from hardhouse.controls import index
from hardhouse.controls.catalog import CONTROLS
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool
from hardhouse.controls.table import as_dict, markdown_table, text_listing
from hardhouse.probe import rulebook
from hardhouse.verify import checks, cluster, deployment, privileges

# Every module that registers judges (hardhouse.controls.registry), imported here, above the
# tools, so that the index is complete; a test keeps this list equal to the modules that
# register. The order is the index's: a control's judges are listed by module in this order.
JUDGE_MODULES = {
    Tool.PROBE: (rulebook,),
    Tool.VERIFY: (checks, deployment, privileges, cluster),
    Tool.AUDIT: (audit_rules, user_rules, cluster_rules, drift, online),
}


def published_index() -> dict[ControlId, index.Checks]:
    """Which rules and checks judge each control, as the README's table lists them."""
    return index.build(JUDGE_MODULES)


@click.command("controls")
@JSON_OPTION
@click.option("--markdown", is_flag=True, help="Print the Markdown table README.md embeds.")
def controls_command(as_json: bool, markdown: bool) -> None:
    """List the controls hardhouse enforces and checks: id, severity, title, why, and which
    probe and audit checks verify each. Findings, rendered files, waivers and SARIF rule ids
    all name controls by these ids."""
    judged = published_index()
    if as_json:
        click.echo(json.dumps({"controls": [as_dict(control, judged[control.id]) for control in CONTROLS]}, indent=2))
    elif markdown:
        click.echo(markdown_table(judged))
    else:
        click.echo(text_listing(judged))
