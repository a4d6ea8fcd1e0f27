"""The audit report for people: failures first with the file:line that decides each, then what
could not be decided, waived, passed and not-applicable controls, what could not be resolved
offline, and a count. Every line goes through hardhouse.terminal: file names and values come
from the audited tree and may carry control or bidi characters."""

from __future__ import annotations

from hardhouse.audit.model import AuditReport, Status
from hardhouse.controls.catalog import BY_ID
from hardhouse.terminal import printable

ORDER = (Status.FAIL, Status.UNDECIDED, Status.WAIVED, Status.PASS, Status.NOT_APPLICABLE)
LABEL = {
    Status.FAIL: "FAIL",
    Status.UNDECIDED: "UNDECIDED",
    Status.WAIVED: "WAIVED",
    Status.PASS: "pass",
    Status.NOT_APPLICABLE: "n/a",
}


def render_text(report: AuditReport) -> str:
    against = f", against {report.spec}" if report.spec else ""
    names = {"18.16": "ClickHouse 18.16's", "modern": "modern ClickHouse's"}
    dialects = [names.get(d, d) for d in report.dialect.split(" and ")]
    rules = " and ".join(dialects) + " rules" + (", the worse result per control" if len(dialects) > 1 else "")
    why = f": {report.dialect_reason}" if report.dialect_reason else ""
    lines = [f"audit of {report.target} ({len(report.files)} files, read by {rules}{why}{against})"]
    for status in ORDER:
        for result in (r for r in report.controls if r.status == status):
            title = BY_ID[result.id].title
            lines.append(f"  {LABEL[status]:<9} {result.id:<12} {title}" + (f" ({result.note})" if result.note else ""))
            for finding in result.findings:
                lines.append(f"            - {finding.line()}")
            if result.verdict and result.verdict.waiver:
                waiver = result.verdict.waiver
                state = "waived until" if result.verdict.waived else "waiver EXPIRED on"
                lines.append(f"            {state} {waiver.expires.isoformat()}: {waiver.reason}")
    if report.online:
        lines.append(f"  online: {report.online}")
    for item in report.unresolved:
        lines.append(f"  unresolved {item.kind} {item.name!r} at {item.origin}: {item.why}")
    counts = report.counts()
    verdict = "OK" if report.ok else "NOT OK" if report.failed else "NOT DECIDED"
    lines.append(
        f"{counts['fail']} failed, {counts['undecided']} undecided, {counts['waived']} waived, "
        f"{counts['pass']} passed, {counts['not-applicable']} not applicable: {verdict}"
    )
    return "\n".join(printable(line) for line in lines)
