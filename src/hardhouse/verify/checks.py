"""Check a running server from the outside against the spec it was hardened with.

Every check is what a client on the network sees: a port that connects or not, a login
that is refused or not, a TLS version that is negotiated or not. The checks are built on
`hardhouse probe`'s own per-endpoint functions (`port_state`, `login`, `tls_posture` in
hardhouse.probe), so the deploy, the tests and the probe judge an endpoint the same way.
It sends only TCP connections, logins (HTTP `SELECT version()` and native Hello packets)
and the probe's TLS scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from hardhouse.probe import LoginResult, login_sync, port_state_sync, tls_posture
from hardhouse.spec import HardeningSpec

# The ports a stock ClickHouse opens (or documents) and what speaks on them.
STOCK_PORTS = {"http": 8123, "native": 9000, "interserver_http": 9009, "mysql": 9004, "postgresql": 9005, "grpc": 9100}
HTTP_KINDS = {"http": False, "https": True}
NATIVE_KINDS = {"native": False, "native_tls": True}
OLD_TLS = ("TLSv1.0", "TLSv1.1")
PORT_TIMEOUT = 2.0  # seconds; loopback and container addresses refuse at once


@dataclass(frozen=True)
class Check:
    endpoint: str
    check: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def login_as(host: str, port: int, kind: str, user: str | None, password: str | None, ca: Path | None) -> LoginResult:
    """One login on a spec port kind (http, https, native, native_tls); user None = no credentials."""
    if kind in HTTP_KINDS:
        return login_sync(host, port, protocol="http", tls=HTTP_KINDS[kind], user=user, password=password, ca=ca)
    return login_sync(host, port, protocol="native", tls=NATIVE_KINDS[kind], user=user or "default", password=password or "", ca=ca)


def anonymous_check(host: str, port: int, kind: str, ca: Path | None) -> Check:
    """HTTP without credentials, or a native Hello as `default` with an empty password."""
    endpoint = f"{host}:{port} ({kind})"
    result = login_as(host, port, kind, None, None, ca)
    if result.accepted:
        what = "a query without credentials was answered" if kind in HTTP_KINDS else "user default with an empty password logged in"
        return Check(endpoint, "anonymous refused", False, what)
    return Check(endpoint, "anonymous refused", True, result.detail)


def user_check(host: str, port: int, kind: str, user: str, password: str, ca: Path | None) -> Check:
    endpoint = f"{host}:{port} ({kind})"
    result = login_as(host, port, kind, user, password, ca)
    return Check(endpoint, f"user {user} logs in", result.accepted, "login answered" if result.accepted else result.detail)


def _reachable(host: str, port: int) -> bool:
    return port_state_sync(host, port, PORT_TIMEOUT)[0] == "open"


def verify_server(
    host: str,
    spec: HardeningSpec,
    *,
    ca: Path | None = None,
    passwords: Mapping[str, str] | None = None,
) -> list[Check]:
    """All checks for one server address; passwords (user -> plaintext) enable login checks."""
    checks: list[Check] = []
    open_ports = spec.ports.open()
    for name, port in open_ports.items():
        reachable = _reachable(host, port)
        checks.append(Check(f"{host}:{port} ({name})", "open as specified", reachable, "accepts connections" if reachable else "connection refused"))
        if reachable and (name in HTTP_KINDS or name in NATIVE_KINDS):
            checks.append(anonymous_check(host, port, name, ca))
        if reachable and name in ("https", "native_tls"):
            accepted = tls_posture(host, port, ca=ca).accepted_versions
            for label in OLD_TLS:
                refused = label not in accepted
                checks.append(Check(f"{host}:{port} ({name})", f"{label} refused", refused, "handshake refused" if refused else f"negotiated {label}"))
    for name, port in STOCK_PORTS.items():
        if name in open_ports or port in open_ports.values():
            continue
        closed = not _reachable(host, port)
        checks.append(Check(f"{host}:{port} ({name})", "closed", closed, "connection refused" if closed else "accepts connections"))
    for user, password in (passwords or {}).items():
        kind = "native_tls" if "native_tls" in open_ports else next(iter(open_ports))
        checks.append(user_check(host, open_ports[kind], kind, user, password, ca))
    return checks


def report_text(checks: list[Check]) -> str:
    width = max((len(c.endpoint) for c in checks), default=0)
    lines = [f"  {'PASS' if c.ok else 'FAIL'}  {c.endpoint:<{width}}  {c.check}: {c.detail}" for c in checks]
    failed = sum(not c.ok for c in checks)
    lines.append(f"{len(checks)} checks: {len(checks) - failed} passed, {failed} failed")
    return "\n".join(lines)
