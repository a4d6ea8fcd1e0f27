"""The opt-in scan for secrets at rest after verification (hardhouse_scan_secrets; HH-DATA-4):
asked of the deploy's service child (hardhouse.scan.deployment), judged here against the
deploy's waivers (a waiver of HH-DATA-4 whose targets name this host, or none)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import FunctionCommand, operation

from hardhouse.controls.ids import ControlId
from hardhouse.controls.waivers import Waiver, judge
from hardhouse.deploy.child import SERVICE
from hardhouse.deploy.messages import fail_with_lines
from hardhouse.deploy.settings import Settings
from hardhouse.helper_requests import ScanRequest

TIMEOUT = 900  # seconds for every log table of one host (each is bounded by the scan's own limits)
FAILING = ("secrets", "incomplete")


def _matches(table: dict[str, Any]) -> str:
    found = ", ".join(f"{m['column']}: {m['rule']} {m['rows']:,}" for m in table["matches"])
    return f"{found} of {table['rows_examined']:,} rows examined" if found else table.get("reason") or "not scanned"


def judged(answer: dict[str, Any], waivers: Sequence[Waiver], host_name: str) -> tuple[list[str], list[str]]:
    """(lines to show, lines that fail the host): per table, its verdict; a waived one says so."""
    shown: list[str] = []
    failing: list[str] = [f"  NOT SCANNED {ControlId.DATA_4} {error}" for error in answer.get("errors", [])]
    for report in answer.get("reports", []):
        for table in report["tables"]:
            name = f"{table['database']}.{table['table']}"
            if table["status"] not in FAILING:
                shown.append(f"scan: {name} {table['status']} ({table['rows_examined'] or 0:,} rows examined)")
                continue
            verdict = judge(list(waivers), ControlId.DATA_4, (host_name, name))
            line = f"{table['status'].upper()} {ControlId.DATA_4} {name} as {report['user']}: {_matches(table)}"
            if verdict.waived:
                shown.append(f"scan: WAIVED {line} (waiver: {verdict.waiver.reason if verdict.waiver else ''})")
            else:
                failing.append(f"  {line}")
    return shown, failing


@operation()
def scan_for_secrets(settings: Settings, ca: Path | None) -> Iterator[Any]:
    """Count secret-shaped rows in the log tables as a reader; fail the host on any not waived.
    Run on every deploy that asks for it (rows change without the configuration changing)."""
    if not host.state.is_executing:
        return
    request = ScanRequest(settings.spec_data, settings.verify_address, str(ca) if ca else None)
    answer, why = SERVICE.call(request.KIND, request.body(), TIMEOUT)
    if answer is None:
        yield FunctionCommand(fail_with_lines, ([f"the scan for secrets at rest did not run: {why}"],), {})
        return
    shown, failing = judged(answer, settings.waivers, host.name)
    for line in shown:
        host.log(line)
    if failing:
        lines = [f"secrets at rest in the log tables ({ControlId.DATA_4}; counts only, no value was read):"]
        lines += failing
        lines.append(
            "Fix: rewrite the rows (hardhouse_rewrite_stored_secrets with redact on the table), delete them, "
            "or waive HH-DATA-4 for this host in hardhouse_waivers"
        )
        yield FunctionCommand(fail_with_lines, (lines,), {})
