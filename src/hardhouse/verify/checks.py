"""Check a running server from the outside against the spec it was hardened with.

Every check is what a client on the network sees: a port that connects or not, a login
that is refused or not, a TLS version that is negotiated or not. The checks are built on
`hardhouse probe`'s own per-endpoint functions (`port_state`, `login`, `tls_posture` in
hardhouse.probe), so the deploy, the tests and the probe judge an endpoint the same way.
It sends only TCP connections, logins (HTTP `SELECT version()` and native Hello packets)
and the probe's TLS scan.

Each kind of check that proves a control is registered against it here, beside its code
(hardhouse.controls.registry); a line of the report names the registered check it is part of,
and its control comes from there. Lines that prove the deploy works rather than a control
(a port the spec opens is open, a user logs in) belong to none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardhouse.clickhouse import codes
from hardhouse.clickhouse.ports import BY_NAME, PORTS
from hardhouse.clickhouse.tls import OLD_LABELS
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Judge, Tool, register
from hardhouse.helper_requests import OutsideRequest
from hardhouse.probe.login import login
from hardhouse.probe.model import LoginResult
from hardhouse.probe.scanner import login_sync, run_sync
from hardhouse.probe.tls import ask_old_versions
from hardhouse.probe.transport import port_state

if TYPE_CHECKING:
    from hardhouse.spec import HardeningSpec

# The plaintext ports a stock ClickHouse opens (or documents); each must be closed unless the spec opens it.
STOCK_PORTS = {port.name: port.stock for port in PORTS if not port.tls and port.stock is not None}
PORT_TIMEOUT = 2.0  # seconds; loopback and container addresses refuse at once


# The checks made here, each registered against the control it proves.
ANONYMOUS_REFUSED = register(Tool.VERIFY, "anonymous refused", ControlId.AUTH_1)
OLD_TLS_REFUSED = {label: register(Tool.VERIFY, f"{label} refused", ControlId.TLS_1) for label in OLD_LABELS}
CLIENT_PORT_CLOSED = register(Tool.VERIFY, "closed", ControlId.PORT_1)
INTERSERVER_PORT_CLOSED = register(Tool.VERIFY, "interserver port closed", ControlId.PORT_2)


@dataclass(frozen=True)
class Check:
    """One line of the verification report."""

    endpoint: str
    check: str  # what was checked, in words: its registered check's id, or a line naming the user or table
    ok: bool
    detail: str
    proves: Judge | None = None  # the registered check this line is part of; None: a line that the deploy works
    # False: not made from here (e.g. a user whose networks exclude this machine). Such a line
    # never fails and is never counted as passed: it says what remains unproven.
    checked: bool = True

    @classmethod
    def of(cls, proves: Judge, endpoint: str, ok: bool, detail: str, *, checked: bool = True) -> Check:
        """A line worded as its registered check's id."""
        return cls(endpoint, proves.id, ok, detail, proves, checked)

    @property
    def control(self) -> ControlId | None:
        """The catalog control this line proves, from its registered check."""
        return None if self.proves is None else self.proves.control

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        del data["proves"]
        data["control"] = "" if self.control is None else str(self.control)
        data["check_id"] = "" if self.proves is None else self.proves.id
        return data


def _login_arguments(kind: str, user: str | None, password: str | None, ca: Path | None) -> dict[str, Any]:
    spec_port = BY_NAME[kind]
    if spec_port.protocol == "http":
        return {"protocol": "http", "tls": spec_port.tls, "user": user, "password": password, "ca": ca}
    return {"protocol": "native", "tls": spec_port.tls, "user": user or "default", "password": password or "", "ca": ca}


def login_as(host: str, port: int, kind: str, user: str | None, password: str | None, ca: Path | None) -> LoginResult:
    """One login on a spec port kind (http, https, native, native_tls); user None = no credentials.
    Over TLS with `ca`, the server's certificate must validate against it before anything is sent."""
    return login_sync(host, port, **_login_arguments(kind, user, password, ca))


def _anonymous_judged(host: str, port: int, kind: str, result: LoginResult) -> Check:
    """The anonymous login (HTTP without credentials, or a native Hello as `default` with an
    empty password) judged. Only ClickHouse's own login refusal proves it refused: no session
    (a port that does not speak TLS, a certificate the CA does not vouch for, a timeout) or any
    other answer decides nothing, and fails."""
    endpoint = f"{host}:{port} ({kind})"
    if result.accepted:
        what = (
            "a query without credentials was answered"
            if BY_NAME[kind].protocol == "http"
            else "user default with an empty password logged in"
        )
        return Check.of(ANONYMOUS_REFUSED, endpoint, False, what)
    if result.code in codes.LOGIN_REFUSALS:
        return Check.of(ANONYMOUS_REFUSED, endpoint, True, result.detail)
    limited = codes.session_limit_only(result.code)
    if limited is not None:
        return Check.of(ANONYMOUS_REFUSED, endpoint, False, f"not refused: {limited}")
    detail = f"not proven: no ClickHouse login refusal ({result.detail})"
    return Check.of(ANONYMOUS_REFUSED, endpoint, False, detail)


async def _observe(
    host: str, open_ports: Mapping[str, int], ca: Path | None
) -> tuple[dict[int, bool], dict[int, LoginResult]]:
    """Whether each spec and stock port accepts connections, and the anonymous login on each
    open spec port that speaks a ClickHouse login: every connection at once (one round trip)."""
    ports = sorted({*open_ports.values(), *STOCK_PORTS.values()})
    states = await asyncio.gather(*(port_state(host, port, PORT_TIMEOUT) for port in ports))
    reachable = {port: state == "open" for port, (state, _) in zip(ports, states, strict=True)}
    kinds = {port: name for name, port in open_ports.items() if BY_NAME[name].login and reachable[port]}
    answers = await asyncio.gather(
        *(login(host, port, **_login_arguments(kind, None, None, ca)) for port, kind in kinds.items())
    )
    return reachable, dict(zip(kinds, answers, strict=True))


def verify_server(
    host: str,
    spec: HardeningSpec,
    *,
    ca: Path | None = None,
) -> list[Check]:
    """All checks for one server address that need no secret: ports, anonymous logins, TLS."""
    return outside_checks(host, spec.ports.open(), ca=ca)


def outside_checks(host: str, open_ports: Mapping[str, int], *, ca: Path | None = None) -> list[Check]:
    """verify_server for the spec's open ports ({spec port name: number}). The deploy makes
    these checks on every run, also when a host's verified-state stamp spares it the logins
    (hardhouse.deploy.snapshot): its helper child answers them without loading the spec model."""
    checks: list[Check] = []
    # Every TLS port's deprecated versions in one scan (one worker child for all of them, and
    # for every host verified at the same moment), asked first: it runs beside the connections.
    asked = [port for name, port in open_ports.items() if BY_NAME[name].tls]
    scan = ask_old_versions(host, asked) if asked else None
    reachable, anonymous = run_sync(_observe(host, open_ports, ca))
    scanned = scan() if scan is not None else {}
    tls_ports: dict[int, str] = {}
    for name, port in open_ports.items():
        checks.append(
            Check(
                f"{host}:{port} ({name})",
                "open as specified",
                reachable[port],
                "accepts connections" if reachable[port] else "connection refused",
            )
        )
        if port in anonymous:
            checks.append(_anonymous_judged(host, port, name, anonymous[port]))
        if reachable[port] and BY_NAME[name].tls:
            tls_ports[port] = name
    for port, name in tls_ports.items():
        accepted = scanned.get(port, "TLS scan: no answer for this port")
        for label, check in OLD_TLS_REFUSED.items():
            if isinstance(accepted, str):  # the scan failed: nothing is proven refused
                checks.append(Check.of(check, f"{host}:{port} ({name})", False, accepted))
                continue
            refused = label not in accepted
            detail = "handshake refused" if refused else f"negotiated {label}"
            checks.append(Check.of(check, f"{host}:{port} ({name})", refused, detail))
    for name, port in STOCK_PORTS.items():
        if name in open_ports or port in open_ports.values():
            continue
        closed = not reachable[port]
        check = INTERSERVER_PORT_CLOSED if BY_NAME[name].protocol == "interserver" else CLIENT_PORT_CLOSED
        detail = "connection refused" if closed else "accepts connections"
        checks.append(Check.of(check, f"{host}:{port} ({name})", closed, detail))
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


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The deploy's helper child (hardhouse.deploy.service), kind "outside"
    (hardhouse.helper_requests.OutsideRequest) -> {"ok", "checks"}. The ports are the open ones
    of a spec the deploy already validated; no password is read or sent."""
    request = OutsideRequest.from_body(body)
    checks = outside_checks(request.address, request.ports, ca=request.ca_path)
    return {"ok": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]}
