"""The scan as the deploy's opt-in step after verification (hardhouse_scan_secrets), answered in
the deploy's service child like the verification (hardhouse.verify.deployment).

For each log database, the scan logs in as the first of its readers the deploy machine can act
as (its networks include this machine, its password is readable here: hardhouse.reach), over
native TLS with the server's certificate checked against the operator's CA before the password
is sent, and scans that database's tables with each redacted table's own rules. A database no
reader can be scanned from here is reported as not scanned: undecided, never clean.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardhouse.clickhouse.native import ServerError, Unreachable
from hardhouse.helper_requests import ScanRequest
from hardhouse.reach import first_reachable, readable_passwords, source_address
from hardhouse.scan.output import render_json
from hardhouse.scan.run import ScanError, ScanOptions, open_session, scan, session_query
from hardhouse.spec import HardeningSpec, load_spec
from hardhouse.spec.redaction import rules_by_table


def scan_deployment(
    address: str, spec: HardeningSpec, ca: Path | None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """{"reports": [the scan's JSON per database], "errors": [why a database was not scanned]}."""
    environ = os.environ if environ is None else environ
    reports: list[dict[str, Any]] = []
    errors: list[str] = []
    port = spec.ports.native_tls
    if ca is None or port is None:
        why = "no CA names the server's certificate" if ca is None else "ports.native_tls is closed"
        return {"reports": [], "errors": [f"no log database was scanned: the scan logs in over native TLS and {why}"]}
    passwords, unreadable = readable_passwords(spec, environ)
    here = source_address(address)
    rules = rules_by_table(spec)
    for name, database in spec.log_databases.items():
        reader, reasons = first_reachable(spec, database.readers, here, passwords, unreadable)
        if reader is None:
            why = "; ".join(reasons) if reasons else "it has no readers"
            errors.append(f"{name}: not scanned: no reader the deploy machine can log in as ({why})")
            continue
        options = ScanOptions(databases=(name,), rules=rules)
        try:
            with open_session(address, port, reader, passwords[reader], ca, options) as session:
                report = scan(session_query(session), f"{address}:{port}", reader, options)
        except (ScanError, ServerError, Unreachable) as error:
            errors.append(f"{name}: not scanned as {reader}: {error}")
            continue
        reports.append(json.loads(render_json(report)))
    return {"reports": reports, "errors": errors}


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """Kind "scan" (hardhouse.helper_requests.ScanRequest) -> scan_deployment's answer."""
    request = ScanRequest.from_body(body)
    return scan_deployment(request.address, load_spec(request.spec), request.ca_path)
