"""The scan's report as text, JSON and SARIF. Each names a table, a column, a rule and counts:
the report holds no value of a table, so none can be printed. Names come from the server and
are escaped (hardhouse.terminal)."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from hardhouse.controls.catalog import BY_ID
from hardhouse.controls.sarif import rule_index, sarif_document
from hardhouse.scan.report import CONTROL, SECRETS_AT_REST, ScanReport, Status, TableResult
from hardhouse.terminal import printable

VERDICTS = {
    Status.CLEAN: "clean",
    Status.SECRETS: "SECRETS",
    Status.INCOMPLETE: "UNDECIDED",
    Status.SKIPPED: "skipped",
}


def _examined(table: TableResult) -> str:
    if table.examined is None:
        return "-"
    text = f"{table.examined:,}"
    if table.sample:
        text += f" (SAMPLE {table.sample})"
    elif table.bounded:
        text += " (the --max-rows bound)"
    if table.total_rows is not None:
        text += f" of {table.total_rows:,}"
    return text


def _verdict(table: TableResult) -> str:
    verdict = VERDICTS[table.status]
    if table.waived:
        verdict += " (waived)"
    return verdict


def render_text(report: ScanReport) -> str:
    lines = [
        f"hardhouse scan of {printable(report.endpoint)} as {printable(report.user)}: "
        f"at most {report.max_rows:,} rows and {report.max_seconds:g} s per table",
        f"  read-only: {report.session}",
    ]
    lines += [f"  note: {printable(note)}" for note in report.notes]
    rows = [("TABLE", "COLUMN", "RULE", "MATCHING ROWS", "ROWS EXAMINED", "VERDICT")]
    for table in report.tables:
        name = printable(table.name)
        if table.matches:
            for match in table.matches:
                rows.append(
                    (name, printable(match.column), match.rule, f"{match.rows:,}", _examined(table), _verdict(table))
                )
        else:
            matches = "0" if table.examined is not None else "-"
            rows.append((name, "-", "-", matches, _examined(table), _verdict(table)))
    widths = [min(max(len(row[i]) for row in rows), 48) for i in range(len(rows[0]))]
    lines.append("")
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    explained = [table for table in report.tables if table.reason or table.unscanned or table.waiver]
    if explained:
        lines.append("")
    for table in explained:
        if table.reason:
            lines.append(f"{printable(table.name)}: {_verdict(table).lower()}: {printable(table.reason)}")
        for column, why in table.unscanned:
            lines.append(f"{printable(table.name)}: column {column} not scanned: {printable(why)}")
        if table.waiver:
            state = "expired" if table.waiver.get("expired") else "until"
            reason = printable(str(table.waiver["reason"]))
            lines.append(f"{printable(table.name)}: waiver ({state} {table.waiver['expires']}): {reason}")
    found = [t for t in report.tables if t.status == Status.SECRETS]
    lines.append("")
    lines.append(
        f"{len(report.tables)} tables: {len(found)} with secrets "
        f"({sum(t.matching_rows for t in found):,} matching rows across columns and rules), "
        f"{report.count(Status.INCOMPLETE)} undecided, {report.count(Status.CLEAN)} clean, "
        f"{report.count(Status.SKIPPED)} skipped. "
        + ("FAILED: " + BY_ID[SECRETS_AT_REST.control].title.lower() if report.failed else "OK")
    )
    return "\n".join(lines)


def _table_dict(table: TableResult) -> dict[str, Any]:
    return {
        "database": table.database,
        "table": table.table,
        "engine": table.engine,
        "status": str(table.status),
        "rows_examined": table.examined,
        "max_rows": table.max_rows,
        "total_rows": table.total_rows,
        "sample": table.sample,
        "columns": table.columns,
        "rules": table.rules,
        "matches": [{"column": m.column, "rule": m.rule, "rows": m.rows} for m in table.matches],
        "not_scanned": [{"column": column, "why": why} for column, why in table.unscanned],
        "reason": table.reason or None,
        "seconds": table.seconds,
        "waiver": table.waiver,
    }


def render_json(report: ScanReport) -> str:
    return json.dumps(
        {
            "ok": not report.failed,
            "control": CONTROL,
            "endpoint": report.endpoint,
            "user": report.user,
            "read_only": report.session,
            "max_rows": report.max_rows,
            "max_seconds": report.max_seconds,
            "started": report.started,
            "notes": report.notes,
            "summary": {str(status): report.count(status) for status in Status},
            "tables": [_table_dict(table) for table in report.tables],
        },
        indent=2,
    )


def render_sarif(report: ScanReport) -> dict[str, Any]:
    """One result per (table, column, rule) with matching rows and per undecided table, under
    HH-DATA-4, located at clickhouse://host:port/db/table."""
    index = rule_index()
    level = BY_ID[SECRETS_AT_REST.control].severity.sarif_level
    results = []
    for table in report.tables:
        items: list[tuple[str, str, dict[str, Any]]] = [
            (
                f"{m.column}|{m.rule}",
                f"{table.name}.{m.column}: {m.rows:,} of {table.examined or 0:,} rows examined match {m.rule}",
                {"column": m.column, "rule": m.rule, "matching_rows": m.rows},
            )
            for m in table.matches
        ]
        if table.status == Status.INCOMPLETE:
            why = table.reason or "; ".join(f"column {c} not scanned: {w}" for c, w in table.unscanned)
            items.append(("undecided", f"{table.name}: not scanned completely: {why}", {}))
        for key, message, data in items:
            fingerprint = hashlib.sha256(f"{report.endpoint}|{table.name}|{key}".encode()).hexdigest()
            waived = (
                {"suppressions": [{"kind": "external", "justification": table.waiver["reason"]}]}
                if table.waived and table.waiver
                else {}
            )
            results.append(
                {
                    **waived,
                    "ruleId": CONTROL,
                    "ruleIndex": index[CONTROL],
                    "level": level,
                    "message": {"text": printable(message)},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {
                                    "uri": f"clickhouse://{report.endpoint}/{quote(table.database)}/{quote(table.table)}"
                                }
                            },
                            "logicalLocations": [
                                {"name": table.table, "fullyQualifiedName": table.name, "kind": "resource"}
                            ],
                        }
                    ],
                    "partialFingerprints": {"tableFinding/v1": fingerprint},
                    "properties": {
                        "check": SECRETS_AT_REST.id,
                        "rows_examined": table.examined,
                        "status": str(table.status),
                        **data,
                    },
                }
            )
    return sarif_document(
        "hardhouse scan",
        "https://clickhouse.com/docs/sql-reference/functions/string-search-functions#match",
        {
            "executionSuccessful": True,
            "startTimeUtc": report.started,
            "properties": {"endpoint": report.endpoint, "user": report.user, "tables": len(report.tables)},
        },
        results,
    )
