"""The probe's report as a table, worst first, one line per endpoint (notes last on it)."""

from __future__ import annotations

from hardhouse.probe.model import EndpointReport, Finding, ScanReport, Severity, State


def _summary_line(endpoint: EndpointReport) -> str:
    parts: list[str] = []
    accepted = endpoint.accepted_logins
    if accepted:
        parts.append("login: " + ", ".join(dict.fromkeys(login.who for login in accepted)))
    if endpoint.inventory is not None:
        inventory = endpoint.inventory
        parts.append(
            f"readable: {len(inventory.databases)} databases, {len(inventory.tables)} tables, "
            f"{inventory.total_rows} rows"
        )
        sensitive = inventory.sensitive_tables
        if sensitive:
            parts.append(
                "sensitive: "
                + ", ".join(
                    f"{t.qualified}" + (f" ({', '.join(t.sensitive_columns)})" if t.sensitive_columns else "")
                    for t in sensitive[:5]
                )
                + (f" +{len(sensitive) - 5}" if len(sensitive) > 5 else "")
            )
    if endpoint.clickhouse and not accepted and endpoint.logins:
        codes = sorted({str(login.code) for login in endpoint.logins if login.code is not None})
        parts.append("logins refused" + (f" (codes {', '.join(codes)})" if codes else ""))
    if endpoint.tls_posture is not None:
        if endpoint.tls_posture.accepted_versions:
            parts.append("TLS " + "/".join(v.replace("TLSv", "") for v in endpoint.tls_posture.accepted_versions))
        if endpoint.tls_posture.error:
            parts.append(f"TLS scan: {endpoint.tls_posture.error}")
    for finding in endpoint.findings:
        if finding.rule not in ("anonymous-access", "default-credentials", "sensitive-data-readable"):
            parts.append(finding.message if finding.severity >= Severity.MEDIUM else finding.rule)
    parts.extend(f"note: {note.id}" for note in endpoint.notes)
    if not endpoint.clickhouse and endpoint.state == State.OPEN:
        parts.append("not ClickHouse" + (f": {endpoint.banner}" if endpoint.banner else ""))
    if endpoint.error:
        parts.append(endpoint.error)
    return "; ".join(parts) or "-"


def _waiver_note(finding: Finding) -> str:
    if finding.waiver is None:
        return ""
    state = "waived until" if finding.waived else "waiver EXPIRED on"
    return f" ({state} {finding.waiver['expires']}: {finding.waiver['reason']})"


def render_text(report: ScanReport, *, show_closed: bool = False, verbose: bool = False) -> str:
    counts = report.counts()
    shown = [e for e in report.ordered() if show_closed or e.state != State.CLOSED]
    header = ("SEVERITY", "ENDPOINT", "STATE", "SERVICE", "VERSION", "WHAT A CLIENT GETS")
    rows = [
        (
            e.severity.label if e.severity is not None else "-",
            e.address,
            str(e.state),
            str(e.service or "-"),
            e.version or "-",
            _summary_line(e),
        )
        for e in shown
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]

    lines = [line(header)]
    for endpoint, row in zip(shown, rows, strict=True):
        lines.append(line(row))
        if verbose:
            lines.extend(
                f"    - [{f.severity.label}] {f.control} {f.rule}: {f.message}{_waiver_note(f)}"
                for f in endpoint.findings
            )
            lines.extend(f"    - [note] {note.id}: {note.message}" for note in endpoint.notes)
    hidden = len(report.endpoints) - len(shown)
    states = ", ".join(
        f"{counts[s]} {s}"
        for s in (State.OPEN, State.CLOSED, State.FILTERED, State.UNREACHABLE, State.ERROR)
        if counts.get(s)
    )
    verdict = (
        f"EXPOSED: {counts['exposed']} endpoint(s) at or above {report.fail_on.label}"
        if report.exposed
        else f"nothing at or above {report.fail_on.label}"
    )
    lines.append("")
    lines.append(
        f"{counts['endpoints']} endpoints on {counts['hosts']} hosts in {report.duration:.1f}s: {states}; "
        f"{counts['clickhouse']} ClickHouse; {verdict}"
        + (f" ({hidden} closed not listed; --show-closed lists them)" if hidden else "")
    )
    return "\n".join(lines)
