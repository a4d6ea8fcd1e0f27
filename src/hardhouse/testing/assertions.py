"""Assertions a team can call in its own tests against a running ClickHouse.

Each one is a view over `hardhouse probe`'s own report for every listening port (the same
code the CLI, the deploy's verification and this project's tests use), and fails with a
message that says exactly what was reachable; assert_no_secrets_at_rest is `hardhouse scan`'s
run, and says which tables, columns and rules matched (counts, never a value).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path

from hardhouse.clickhouse.tls import labels_below
from hardhouse.probe import Endpoint, EndpointReport, ProbeOptions, run_sync, scan_endpoints
from hardhouse.probe.model import TlsPosture
from hardhouse.probe.tls import quick_postures
from hardhouse.probe.transport import NotTls, Unreachable, close, connect
from hardhouse.terminal import printable

TLS_LABELS = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}
PROBE_TIMEOUT = 5.0  # per connection


@dataclass(frozen=True)
class Target:
    address: str
    ports: tuple[int, ...]
    ca: Path | None = None
    min_tls: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2


def probe_ports(target: Target, *, tls_scan: bool) -> list[EndpointReport]:
    """Every port at once (their TLS scans run side by side), reported in port order."""
    return run_sync(_probe(target, tls_scan=tls_scan))


async def _probe(target: Target, *, tls_scan: bool, logins: bool = True) -> list[EndpointReport]:
    """logins=False leaves out the stock default credentials (the anonymous attempt that
    identifies a native port stays): for a check that reads only which ports speak TLS."""
    # No data listing: a login that gets in is already the finding.
    options = ProbeOptions(ca=target.ca, enumerate=False, tls_scan=tls_scan, timeout=PROBE_TIMEOUT)
    if not logins:
        options.credentials = ()
    reports = await scan_endpoints([Endpoint(target.address, port) for port in target.ports], options)
    return sorted(reports, key=lambda report: target.ports.index(report.port))


async def _speaks_tls(host: str, port: int) -> bool:
    """True when a TLS handshake (any version, any suite) completes on the port."""
    try:
        _, writer = await connect(host, port, tls=True, timeout=PROBE_TIMEOUT)
    except (Unreachable, NotTls):
        return False
    await close(writer)
    return True


async def _probe_and_postures(target: Target) -> tuple[list[EndpointReport], dict[int, TlsPosture]]:
    """The probe's reports and, side by side with it, the quick TLS postures of every port
    that completes a TLS handshake (their handshakes run in the worker child meanwhile)."""

    async def postures() -> dict[int, TlsPosture]:
        speaking = await asyncio.gather(*(_speaks_tls(target.address, port) for port in target.ports))
        ports = [port for port, tls in zip(target.ports, speaking, strict=True) if tls]
        return await asyncio.to_thread(quick_postures, target.address, ports, gather=False) if ports else {}

    ahead = asyncio.create_task(postures())
    try:
        # Which ports are open and speak TLS is all this check reads of the probe's reports:
        # default-credential logins (assert_anonymous_refused's business) are left out.
        reports = await _probe(target, tls_scan=False, logins=False)
    finally:
        found = await ahead
    return reports, found


def assert_anonymous_refused(target: Target) -> None:
    """No port lets a client in without a password, or with a stock default credential."""
    exposures = [
        f"{report.address} ({login.protocol}{' over TLS' if login.tls else ''}): logged in with {login.who}"
        for report in probe_ports(target, tls_scan=False)
        for login in report.accepted_logins
    ]
    if exposures:
        raise AssertionError("anonymous access is possible:\n  " + "\n  ".join(exposures))


def assert_tls_only(target: Target) -> None:
    """Every open port speaks TLS, refuses versions below the minimum, and refuses weak suites.
    Versions and weak suites are found by handshakes (hardhouse.probe.tls.quick_postures), the
    same verdict as the probe's full scan in a fraction of its time."""
    minimum = TLS_LABELS[target.min_tls]
    too_old = labels_below(minimum)
    problems = []
    probed, postures = run_sync(_probe_and_postures(target))
    reports = [report for report in probed if report.state == "open"]
    for report in reports:
        if not report.tls:
            problems.append(f"{report.address} accepts connections without TLS ({report.service or 'unknown service'})")
    # The probe decides which ports speak TLS; one whose early handshake failed (a refusal
    # the probe's own TLS attempt did not meet) is scanned now.
    missing = [report.port for report in reports if report.tls and report.port not in postures]
    if missing:
        postures.update(quick_postures(target.address, missing, gather=False))
    for report in reports:
        if not report.tls:
            continue
        posture = postures[report.port]
        if posture.error:
            problems.append(f"{report.address}: TLS could not be scanned ({posture.error})")
            continue
        for version in posture.accepted_versions:
            if version in too_old:
                problems.append(f"{report.address} negotiated {version} (minimum is {minimum})")
        if posture.weak_suites:
            problems.append(f"{report.address} accepted weak cipher suites: {', '.join(posture.weak_suites)}")
    if problems:
        raise AssertionError("TLS is not enforced:\n  " + "\n  ".join(problems))


def assert_no_secrets_at_rest(
    address: str,
    port: int,
    user: str,
    password: str,
    ca: Path,
    *,
    databases: tuple[str, ...] = (),
    tables: tuple[str, ...] = (),
    max_rows: int | None = None,
    max_seconds: float | None = None,
) -> None:
    """No table of `databases` (default: all but system) holds a secret-shaped value, and every
    one was scanned completely: `hardhouse scan`'s own run (hardhouse.scan.run) as `user` over
    native TLS on `port`, the server counting matches. Fails with table, column, rule and
    counts, never a value; a table not scanned completely fails too (undecided is not clean)."""
    from hardhouse.scan.run import ScanOptions, open_session, scan, session_query
    from hardhouse.scan.sent import DEFAULT_MAX_ROWS, DEFAULT_MAX_SECONDS

    options = ScanOptions(
        databases=databases,
        tables=tables,
        max_rows=max_rows or DEFAULT_MAX_ROWS,
        max_seconds=max_seconds or DEFAULT_MAX_SECONDS,
    )
    with open_session(address, port, user, password, ca, options) as session:
        report = scan(session_query(session), f"{address}:{port}", user, options)
    problems = []
    for table in report.tables:
        problems += [
            f"{table.name}.{match.column}: {match.rows} of {table.examined} rows examined match {match.rule}"
            for match in table.matches
        ]
        if not table.matches and table.failed:
            why = table.reason or "; ".join(f"column {column}: {reason}" for column, reason in table.unscanned)
            problems.append(f"{table.name}: not scanned completely ({why})")
    if problems:
        raise AssertionError("secrets at rest:\n  " + "\n  ".join(printable(problem) for problem in problems))
