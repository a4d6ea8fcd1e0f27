"""The audit report for people: failures first with the file:line that decides each, then
waived, passed and not-applicable controls, what could not be resolved offline, and a count."""

from __future__ import annotations

from hardhouse.audit.model import AuditReport, Status
from hardhouse.controls.catalog import BY_ID
from hardhouse.spec.errors import printable

ORDER = (Status.FAIL, Status.WAIVED, Status.PASS, Status.NOT_APPLICABLE)
LABEL = {Status.FAIL: "FAIL", Status.WAIVED: "WAIVED", Status.PASS: "pass", Status.NOT_APPLICABLE: "n/a"}


def render_text(report: AuditReport) -> str:
    # The target and spec are paths as the user gave them: escaped for the terminal.
    against = f", against {printable(report.spec)}" if report.spec else ""
    merged = f"{len(report.files)} files merged by ClickHouse {report.dialect}'s rules{against}"
    lines = [f"audit of {printable(report.target)} ({merged})"]
    for status in ORDER:
        for result in (r for r in report.controls if r.status == status):
            title = BY_ID[result.id].title
            lines.append(f"  {LABEL[status]:<6} {result.id:<11} {title}" + (f" ({result.note})" if result.note else ""))
            for finding in result.findings:
                lines.append(f"         - {finding.line()}")
            if result.verdict and result.verdict.waiver:
                waiver = result.verdict.waiver
                state = "waived until" if result.verdict.waived else "waiver EXPIRED on"
                lines.append(f"         {state} {waiver.expires.isoformat()}: {waiver.reason}")
    if report.online:
        lines.append(f"  online: {report.online}")
    for item in report.unresolved:
        lines.append(f"  unresolved {item.kind} {item.name!r} at {item.origin}: {item.why}")
    counts = report.counts()
    lines.append(
        f"{counts['fail']} failed, {counts['waived']} waived, {counts['pass']} passed, "
        f"{counts['not-applicable']} not applicable: {'OK' if report.ok else 'NOT OK'}"
    )
    return "\n".join(lines)
