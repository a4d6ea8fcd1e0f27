"""`hardhouse controls`: the catalog of controls with the rules and checks that judge each, as
text, JSON or the README's Markdown table."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from types import ModuleType

import click

from hardhouse.cli.options import JSON_OPTION
from hardhouse.controls import index
from hardhouse.controls.catalog import CONTROLS
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool
from hardhouse.controls.table import as_dict, markdown_table, text_listing

# Every module that registers judges (hardhouse.controls.registry), imported when the index is
# built, above the tools, so that the index is complete; a test keeps this list equal to the
# modules that register. The order is the index's: a control's judges are listed by module in
# this order. By name: every other command would otherwise load the probe and the verification
# at start-up for nothing.
JUDGE_MODULES = {
    Tool.PROBE: ("hardhouse.probe.rulebook",),
    Tool.VERIFY: (
        "hardhouse.verify.checks",
        "hardhouse.verify.deployment",
        "hardhouse.verify.privileges",
        "hardhouse.verify.reader_limits",
        "hardhouse.verify.redaction",
        "hardhouse.verify.cluster",
    ),
    Tool.AUDIT: (
        "hardhouse.audit.rules",
        "hardhouse.audit.user_rules",
        "hardhouse.audit.grant_rules",
        "hardhouse.audit.cluster_rules",
        "hardhouse.audit.drift",
        "hardhouse.audit.online",
    ),
    Tool.SCAN: ("hardhouse.scan.report",),
}


def judge_modules() -> dict[Tool, Sequence[ModuleType]]:
    """JUDGE_MODULES imported (which registers their judges)."""
    return {tool: tuple(importlib.import_module(name) for name in names) for tool, names in JUDGE_MODULES.items()}


def published_index() -> dict[ControlId, index.Checks]:
    """Which rules and checks judge each control, as the README's table lists them."""
    return index.build(judge_modules())


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
