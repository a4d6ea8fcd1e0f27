"""The audit as SARIF 2.1.0: one rule per catalog control (the same ids as the probe's SARIF),
one result per finding, located at the file and line that decides it so code scanning
annotates that line. Waived findings are kept as suppressed results, never dropped."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from hardhouse.audit.model import AuditReport, Status
from hardhouse.controls.sarif import rule_index, sarif_document


def _uri(report: AuditReport, file: str) -> str:
    """The file as a path relative to the working directory when it can be (code scanning
    resolves URIs against the checkout), else as given."""
    path = Path(report.target) / file if not Path(file).is_absolute() else Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def render_sarif(reports: list[AuditReport]) -> dict[str, Any]:
    index = rule_index()
    results = []
    for report in reports:
        for control in report.controls:
            if control.status not in (Status.FAIL, Status.WAIVED):
                continue
            for finding in control.findings:
                # A finding about something absent (a missing element) points at the main file.
                file = finding.origin.file if finding.origin else (report.files[0] if report.files else ".")
                location: dict[str, Any] = {"artifactLocation": {"uri": _uri(report, file)}}
                if finding.origin is not None:
                    location["region"] = {"startLine": finding.origin.line}
                fingerprint = hashlib.sha256(f"{report.target}|{finding.rule}|{finding.subject}".encode()).hexdigest()
                result: dict[str, Any] = {
                    "ruleId": finding.control,
                    "ruleIndex": index[finding.control],
                    "level": finding.severity.sarif_level,
                    "message": {"text": f"{report.target}: {finding.line()}"},
                    "locations": [{"physicalLocation": location}],
                    "partialFingerprints": {"auditFinding/v1": fingerprint},
                    "properties": {"check": finding.rule, "target": report.target, "severity": finding.severity.label},
                }
                if control.status == Status.WAIVED and control.verdict and control.verdict.waiver:
                    waiver = control.verdict.waiver
                    result["suppressions"] = [
                        {"kind": "external", "justification": f"{waiver.reason} (expires {waiver.expires.isoformat()})"}
                    ]
                results.append(result)
    return sarif_document(
        "hardhouse-audit",
        "https://clickhouse.com/docs/operations/configuration-files",
        {"executionSuccessful": True, "properties": {"targets": [r.target for r in reports]}},
        results,
    )
