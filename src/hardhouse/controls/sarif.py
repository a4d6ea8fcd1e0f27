"""SARIF from the catalog: the probe's and the audit's SARIF both use the control id as the
rule id, so a dashboard shows one rule per control whichever tool found it, and share one
document shape (sarif_document)."""

from __future__ import annotations

from typing import Any

from hardhouse import __version__
from hardhouse.controls.catalog import CONTROLS

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif_rules() -> list[dict[str, Any]]:
    return [
        {
            "id": control.id,
            "name": control.sarif_name,
            "shortDescription": {"text": control.title},
            "fullDescription": {"text": control.rationale},
            "help": {"text": control.rationale + "\nReferences: " + "; ".join(control.references)},
            "defaultConfiguration": {"level": control.severity.sarif_level},
            "properties": {
                "security-severity": control.severity.security_severity,
                "tags": ["security", "clickhouse"],
            },
        }
        for control in CONTROLS
    ]


def rule_index() -> dict[str, int]:
    return {control.id: i for i, control in enumerate(CONTROLS)}


def sarif_document(
    tool: str, information_uri: str, invocation: dict[str, Any], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of `tool`: the catalog's rules, one invocation, the results."""
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool,
                        "version": __version__,
                        "informationUri": information_uri,
                        "rules": sarif_rules(),
                    }
                },
                "invocations": [invocation],
                "results": results,
            }
        ],
    }
