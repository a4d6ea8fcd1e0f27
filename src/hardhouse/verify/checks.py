"""Check a running server from the outside against the spec it was hardened with.

Every check is what a client on the network sees: a port that connects or not, a login
that is refused or not, a TLS version that is negotiated or not. The checks are built on
`hardhouse probe`'s own per-endpoint functions (`port_state`, `login`, `tls_posture` in
hardhouse.probe), so the deploy, the tests and the probe judge an endpoint the same way.
It sends only TCP connections, logins (HTTP `SELECT version()` and native Hello packets)
and the probe's TLS scan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from hardhouse.clickhouse.ports import BY_NAME, PORTS
from hardhouse.clickhouse.tls import OLD_LABELS
from hardhouse.probe import LoginResult, login_sync, port_state_sync
from hardhouse.probe.tls import old_versions_accepted
from hardhouse.spec import HardeningSpec

# The plaintext ports a stock ClickHouse opens (or documents); each must be closed unless the spec opens it.
STOCK_PORTS = {port.name: port.stock for port in PORTS if not port.tls and port.stock is not None}
PORT_TIMEOUT = 2.0  # seconds; loopback and container addresses refuse at once


@dataclass(frozen=True)
class Check:
    endpoint: str
    check: str
    ok: bool
    detail: str
    control: str = ""  # the catalog control this check proves ("" for a check that the deploy works)
    # False: not made from here (e.g. a user whose networks exclude this machine). Such a line
    # never fails and is never counted as passed: it says what remains unproven.
    checked: bool = True

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def login_as(host: str, port: int, kind: str, user: str | None, password: str | None, ca: Path | None) -> LoginResult:
    """One login on a spec port kind (http, https, native, native_tls); user None = no credentials.
    Over TLS with `ca`, the server's certificate must validate against it before anything is sent."""
    spec_port = BY_NAME[kind]
    if spec_port.protocol == "http":
        return login_sync(host, port, protocol="http", tls=spec_port.tls, user=user, password=password, ca=ca)
    return login_sync(
        host, port, protocol="native", tls=spec_port.tls, user=user or "default", password=password or "", ca=ca
    )


def anonymous_check(host: str, port: int, kind: str, ca: Path | None) -> Check:
    """HTTP without credentials, or a native Hello as `default` with an empty password."""
    endpoint = f"{host}:{port} ({kind})"
    result = login_as(host, port, kind, None, None, ca)
    if result.accepted:
        what = (
            "a query without credentials was answered"
            if BY_NAME[kind].protocol == "http"
            else "user default with an empty password logged in"
        )
        return Check(endpoint, "anonymous refused", False, what, "HH-AUTH-1")
    return Check(endpoint, "anonymous refused", True, result.detail, "HH-AUTH-1")


def _reachable(host: str, port: int) -> bool:
    return port_state_sync(host, port, PORT_TIMEOUT)[0] == "open"


def verify_server(
    host: str,
    spec: HardeningSpec,
    *,
    ca: Path | None = None,
) -> list[Check]:
    """All checks for one server address that need no secret: ports, anonymous logins, TLS."""
    checks: list[Check] = []
    open_ports = spec.ports.open()
    tls_ports: dict[int, str] = {}
    for name, port in open_ports.items():
        reachable = _reachable(host, port)
        checks.append(
            Check(
                f"{host}:{port} ({name})",
                "open as specified",
                reachable,
                "accepts connections" if reachable else "connection refused",
            )
        )
        if reachable and BY_NAME[name].login:
            checks.append(anonymous_check(host, port, name, ca))
        if reachable and BY_NAME[name].tls:
            tls_ports[port] = name
    # Every TLS port's deprecated versions in one scan (one worker child for all of them).
    scanned = old_versions_accepted(host, list(tls_ports)) if tls_ports else {}
    for port, name in tls_ports.items():
        accepted = scanned.get(port, "TLS scan: no answer for this port")
        for label in OLD_LABELS:
            if isinstance(accepted, str):  # the scan failed: nothing is proven refused
                checks.append(Check(f"{host}:{port} ({name})", f"{label} refused", False, accepted, "HH-TLS-1"))
                continue
            refused = label not in accepted
            checks.append(
                Check(
                    f"{host}:{port} ({name})",
                    f"{label} refused",
                    refused,
                    "handshake refused" if refused else f"negotiated {label}",
                    "HH-TLS-1",
                )
            )
    for name, port in STOCK_PORTS.items():
        if name in open_ports or port in open_ports.values():
            continue
        closed = not _reachable(host, port)
        control = "HH-PORT-2" if BY_NAME[name].protocol == "interserver" else "HH-PORT-1"
        detail = "connection refused" if closed else "accepts connections"
        checks.append(Check(f"{host}:{port} ({name})", "closed", closed, detail, control))
    return checks


def report_text(checks: list[Check]) -> str:
    width = max((len(c.endpoint) for c in checks), default=0)
    lines = [f"  {_label(c)}  {c.control or '-':<11}  {c.endpoint:<{width}}  {c.check}: {c.detail}" for c in checks]
    made = [c for c in checks if c.checked]
    failed = sum(not c.ok for c in made)
    skipped = f", {len(checks) - len(made)} not checked from here" if len(made) < len(checks) else ""
    lines.append(f"{len(made)} checks: {len(made) - failed} passed, {failed} failed{skipped}")
    return "\n".join(lines)


def _label(check: Check) -> str:
    if not check.checked:
        return "SKIP"
    return "PASS" if check.ok else "FAIL"
