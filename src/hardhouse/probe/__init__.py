"""`hardhouse probe`: find exposed ClickHouse endpoints from the network, the way an attacker
would, and judge what a client gets there.

Layout, the way a scan flows:
  endpoint     an endpoint, TargetError, the bounded read of target files
  targets      target strings, lists and pyinfra inventories -> endpoints; scanfiles: masscan/nmap output
  wire/        the bytes of HTTP, the native Hello, MySQL's greeting, PostgreSQL's SSLRequest
  transport    bounded TCP/TLS exchanges on asyncio
  login        one login attempt -> LoginResult
  enumerate    what a login could list (names and counts, never rows)
  tls          the TLS scan (sslyze), in a worker child; sslyze_load: what of sslyze it loads
  worker       blocking clients in a child the deadline can kill, memory capped
  scanner      observe one endpoint (then judge it), or a fleet
  rulebook     RULES and NOTES: what a finding or note can be, each rule with its control
  rules        judge(): observations in, findings and notes out (pure)
  model        states, services, results; text: bounding server-supplied text
  output/      text, JSON, SARIF; sent: what the probe sends, for --help

The per-endpoint functions (`login`, `port_state`, `tls_posture`) are the ones the deploy's
and the tests' verification use (hardhouse.verify), so "probe says clean" and "verify says
clean" cannot drift apart.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# The public API, imported on first use: a worker child (hardhouse.probe.worker) imports this
# package too, and each TLS scan should not pay for the scanner, the targets and the output.
_PUBLIC: dict[str, str] = {
    "QueryError": "hardhouse.probe.enumerate",
    "collect_inventory": "hardhouse.probe.enumerate",
    "sensitive_reason": "hardhouse.probe.enumerate",
    "login": "hardhouse.probe.login",
    "CertificateInfo": "hardhouse.probe.model",
    "DataInventory": "hardhouse.probe.model",
    "EndpointReport": "hardhouse.probe.model",
    "Finding": "hardhouse.probe.model",
    "LoginResult": "hardhouse.probe.model",
    "Note": "hardhouse.probe.model",
    "ScanReport": "hardhouse.probe.model",
    "Service": "hardhouse.probe.model",
    "Severity": "hardhouse.probe.model",
    "State": "hardhouse.probe.model",
    "TableInfo": "hardhouse.probe.model",
    "TlsPosture": "hardhouse.probe.model",
    "render_json": "hardhouse.probe.output",
    "render_sarif": "hardhouse.probe.output",
    "render_text": "hardhouse.probe.output",
    "RULES": "hardhouse.probe.rulebook",
    "Rule": "hardhouse.probe.rulebook",
    "Judgement": "hardhouse.probe.rules",
    "NOTES": "hardhouse.probe.rulebook",
    "judge": "hardhouse.probe.rules",
    "tls_judgement": "hardhouse.probe.rules",
    "DEFAULT_CREDENTIALS": "hardhouse.probe.scanner",
    "ProbeOptions": "hardhouse.probe.scanner",
    "login_sync": "hardhouse.probe.scanner",
    "port_state_sync": "hardhouse.probe.scanner",
    "probe_endpoint": "hardhouse.probe.scanner",
    "probe_endpoint_sync": "hardhouse.probe.scanner",
    "run_scan": "hardhouse.probe.scanner",
    "run_sync": "hardhouse.probe.scanner",
    "scan": "hardhouse.probe.scanner",
    "scan_endpoints": "hardhouse.probe.scanner",
    "WHAT_IS_SENT": "hardhouse.probe.sent",
    "DEFAULT_MAX_HOSTS": "hardhouse.probe.targets",
    "Endpoint": "hardhouse.probe.endpoint",
    "TargetError": "hardhouse.probe.endpoint",
    "expand_targets": "hardhouse.probe.targets",
    "parse_target": "hardhouse.probe.targets",
    "scan_tls": "hardhouse.probe.tls",
    "tls_posture": "hardhouse.probe.scanner",
    "port_state": "hardhouse.probe.transport",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'hardhouse.probe' has no attribute {name!r}")
