"""The probe's report as SARIF 2.1.0, for code-scanning dashboards."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from hardhouse.controls.sarif import rule_index, sarif_document
from hardhouse.probe.model import CLIENT_NAME, ScanReport


def render_sarif(report: ScanReport) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per catalog control (the same rule ids as `hardhouse audit`), one
    result per finding, the probe's own check named in the result's properties.

    Network endpoints have no file; each result points at the targets file or inventory the
    host came from when there is one (so code-scanning dashboards can attach it), else at a
    `clickhouse://host:port` URI, and names the endpoint as a logical location.
    """
    index = rule_index()
    results = []
    for endpoint in report.ordered():
        for finding in endpoint.findings:
            source = endpoint.source if endpoint.source and Path(endpoint.source).is_file() else None
            uri = Path(source).as_posix() if source else f"clickhouse://{endpoint.address}"
            fingerprint = hashlib.sha256(
                f"{finding.rule}|{endpoint.address}|{finding.data.get('table', '')}".encode()
            ).hexdigest()
            suppression = (
                {"suppressions": [{"kind": "external", "justification": finding.waiver["reason"]}]}
                if finding.waived and finding.waiver
                else {}
            )
            results.append(
                {
                    **suppression,
                    "ruleId": finding.control,
                    "ruleIndex": index[finding.control],
                    "level": finding.severity.sarif_level,
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
                        "check": finding.rule,
                        "severity": finding.severity.label,
                        "host": endpoint.host,
                        "port": endpoint.port,
                        "service": None if endpoint.service is None else str(endpoint.service),
                        **({"data": finding.data} if finding.data else {}),
                    },
                }
            )
    return sarif_document(
        CLIENT_NAME,
        "https://clickhouse.com/docs/operations/security",
        {
            "executionSuccessful": True,
            "startTimeUtc": report.started,
            "properties": {"targets": report.targets, "endpoints": len(report.endpoints)},
        },
        results,
    )
