"""The probe's report as SARIF 2.1.0, for code-scanning dashboards."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from hardhouse import __version__
from hardhouse.probe.model import CLIENT_NAME, ScanReport, Severity
from hardhouse.probe.rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.8",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def render_sarif(report: ScanReport) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per finding kind, one result per finding.

    Network endpoints have no file; each result points at the targets file or inventory the
    host came from when there is one (so code-scanning dashboards can attach it), else at a
    `clickhouse://host:port` URI, and names the endpoint as a logical location.
    """
    rules = list(RULES.values())
    index = {rule.id: i for i, rule in enumerate(rules)}
    results = []
    for endpoint in report.ordered():
        for finding in endpoint.findings:
            source = endpoint.source if endpoint.source and Path(endpoint.source).is_file() else None
            uri = Path(source).as_posix() if source else f"clickhouse://{endpoint.address}"
            fingerprint = hashlib.sha256(
                f"{finding.rule}|{endpoint.address}|{finding.data.get('table', '')}".encode()
            ).hexdigest()
            results.append(
                {
                    "ruleId": finding.rule,
                    "ruleIndex": index[finding.rule],
                    "level": _SARIF_LEVEL[finding.severity],
                    "message": {"text": f"{endpoint.address} ({endpoint.service}): {finding.message}"},
                    "locations": [
                        {
                            "physicalLocation": {"artifactLocation": {"uri": uri}},
                            "logicalLocations": [
                                {
                                    "name": endpoint.address,
                                    "fullyQualifiedName": f"{endpoint.address}/{endpoint.service}",
                                    "kind": "resource",
                                }
                            ],
                        }
                    ],
                    "partialFingerprints": {"endpointFinding/v1": fingerprint},
                    "properties": {
                        "severity": finding.severity.label,
                        "host": endpoint.host,
                        "port": endpoint.port,
                        "service": None if endpoint.service is None else str(endpoint.service),
                        **({"data": finding.data} if finding.data else {}),
                    },
                }
            )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": CLIENT_NAME,
                        "version": __version__,
                        "informationUri": "https://clickhouse.com/docs/operations/security",
                        "rules": [
                            {
                                "id": rule.id,
                                "name": "".join(word.capitalize() for word in rule.id.split("-")),
                                "shortDescription": {"text": rule.title},
                                "fullDescription": {"text": rule.title},
                                "help": {"text": rule.help},
                                "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
                                "properties": {
                                    "security-severity": _SECURITY_SEVERITY[rule.severity],
                                    "tags": ["security", "clickhouse"],
                                },
                            }
                            for rule in rules
                        ],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "startTimeUtc": report.started,
                        "properties": {"targets": report.targets, "endpoints": len(report.endpoints)},
                    }
                ],
                "results": results,
            }
        ],
    }
