"""SARIF rule descriptors from the catalog: the probe's and the audit's SARIF both use the
control id as the rule id, so a dashboard shows one rule per control whichever tool found it."""

from __future__ import annotations

from typing import Any

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
