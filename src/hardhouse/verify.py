"""Check a running server from the outside against the spec it was hardened with.

Every check is what a client on the network sees: a port that connects or not, a login
that is refused or not, a TLS version that is negotiated or not. It sends only logins,
`SELECT 1` and TLS handshakes.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from clickhouse_driver.errors import Error as DriverError
from clickhouse_driver.errors import ServerException

from hardhouse.clients import http_query, native_query, port_open, tls_handshake
from hardhouse.spec import HardeningSpec

# The ports a stock ClickHouse opens (or documents) and what speaks on them.
STOCK_PORTS = {"http": 8123, "native": 9000, "interserver_http": 9009, "mysql": 9004, "postgresql": 9005, "grpc": 9100}
HTTP_KINDS = {"http": False, "https": True}
NATIVE_KINDS = {"native": False, "native_tls": True}
OLD_TLS = {"TLSv1.0": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}


@dataclass(frozen=True)
class Check:
    endpoint: str
    check: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def anonymous_check(host: str, port: int, kind: str, ca: Path | None) -> Check:
    endpoint = f"{host}:{port} ({kind})"
    try:
        if kind in HTTP_KINDS:
            answer = http_query(host, port, "SELECT 1", tls=HTTP_KINDS[kind], ca=ca)
            if answer.status == 200:
                return Check(endpoint, "anonymous refused", False, "a query without credentials was answered")
            return Check(endpoint, "anonymous refused", True, f"HTTP {answer.status}, code {answer.error_code}")
        native_query(host, port, "SELECT 1", user="default", password="", tls=NATIVE_KINDS[kind], ca=ca)
        return Check(endpoint, "anonymous refused", False, "user default with an empty password logged in")
    except ServerException as error:
        return Check(endpoint, "anonymous refused", True, f"code {error.code}")
    except (OSError, DriverError) as error:
        return Check(endpoint, "anonymous refused", True, f"no session: {type(error).__name__}")


def user_check(host: str, port: int, kind: str, user: str, password: str, ca: Path | None) -> Check:
    endpoint = f"{host}:{port} ({kind})"
    try:
        if kind in HTTP_KINDS:
            answer = http_query(host, port, "SELECT 1", user=user, password=password, tls=HTTP_KINDS[kind], ca=ca)
            ok = answer.status == 200 and answer.body.strip() == "1"
            return Check(endpoint, f"user {user} logs in", ok, "SELECT 1 answered" if ok else f"HTTP {answer.status}, code {answer.error_code}")
        native_query(host, port, "SELECT 1", user=user, password=password, tls=NATIVE_KINDS[kind], ca=ca)
        return Check(endpoint, f"user {user} logs in", True, "SELECT 1 answered")
    except ServerException as error:
        return Check(endpoint, f"user {user} logs in", False, f"code {error.code}")
    except (OSError, DriverError) as error:
        return Check(endpoint, f"user {user} logs in", False, f"{type(error).__name__}: {error}")


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
        reachable = port_open(host, port)
        checks.append(Check(f"{host}:{port} ({name})", "open as specified", reachable, "accepts connections" if reachable else "connection refused"))
        if reachable and (name in HTTP_KINDS or name in NATIVE_KINDS):
            checks.append(anonymous_check(host, port, name, ca))
        if reachable and name in ("https", "native_tls"):
            for label, version in OLD_TLS.items():
                negotiated = tls_handshake(host, port, version=version)
                checks.append(Check(f"{host}:{port} ({name})", f"{label} refused", negotiated is None, "handshake refused" if negotiated is None else f"negotiated {negotiated}"))
    for name, port in STOCK_PORTS.items():
        if name in open_ports or port in open_ports.values():
            continue
        closed = not port_open(host, port)
        checks.append(Check(f"{host}:{port} ({name})", "closed", closed, "connection refused" if closed else "accepts connections"))
    for user, password in (passwords or {}).items():
        kind = "native_tls" if "native_tls" in open_ports else next(iter(open_ports))
        checks.append(user_check(host, open_ports[kind], kind, user, password, ca))
    return checks


def verify_not_listening(host: str, spec: HardeningSpec) -> list[Check]:
    """An address the spec does not list must not serve any of the spec's ports."""
    checks = []
    for name, port in spec.ports.open().items():
        closed = not port_open(host, port)
        checks.append(Check(f"{host}:{port} ({name})", "unlisted address refuses", closed, "connection refused" if closed else "accepts connections"))
    return checks


def report_text(checks: list[Check]) -> str:
    width = max((len(c.endpoint) for c in checks), default=0)
    lines = [f"  {'PASS' if c.ok else 'FAIL'}  {c.endpoint:<{width}}  {c.check}: {c.detail}" for c in checks]
    failed = sum(not c.ok for c in checks)
    lines.append(f"{len(checks)} checks: {len(checks) - failed} passed, {failed} failed")
    return "\n".join(lines)
