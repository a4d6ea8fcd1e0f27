"""The deploy's verification against Debian's ClickHouse 18.16: users log in only from their
networks, proven without ever sending a password where refusal is expected, and no password
at all to a server whose certificate was not verified against the operator's CA."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.render import render
from hardhouse.spec import HardeningSpec, load_spec
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from hardhouse.verify import deployment
from hardhouse.verify.checks import outside_checks
from hardhouse.verify.deployment import verify_deployment
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.live]

SERVE = "127.0.0.2"  # the server; this machine reaches it from 127.0.0.1


@dataclass
class Server:
    tls: TlsFiles
    https: int
    native_tls: int
    environ: dict[str, str]

    def spec(self, analyst_networks: list[str]) -> HardeningSpec:
        return load_spec(
            {
                "clickhouse_version": "18.16",
                "listen_hosts": [SERVE],
                "ports": {"http": None, "native": None, "https": self.https, "native_tls": self.native_tls},
                "tls": {"certificate": str(self.tls.certificate), "private_key": str(self.tls.private_key)},
                "users": [
                    {"name": "admin", "password_env": "HH_ADMIN", "networks": ["127.0.0.1"]},
                    {"name": "ingest", "password_env": "HH_INGEST", "networks": ["127.0.0.3"]},
                    {
                        "name": "analyst",
                        "password_env": "HH_ANALYST",
                        "networks": analyst_networks,
                        "profile": "readonly",
                    },
                ],
            }
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    work = tmp_path_factory.mktemp("verify")
    tls = write_server_material(work / "tls", [SERVE])
    environ = {name: secrets.token_urlsafe(24) for name in ("HH_ADMIN", "HH_INGEST", "HH_ANALYST")}
    found = Server(tls, free_port(SERVE), free_port(SERVE), environ)
    local = LocalClickHouse(work)
    # The server as deployed: analyst may come from 127.0.0.0/29, which includes this machine.
    local.install(render(found.spec(["127.0.0.0/29"]), environ))
    local.start([(SERVE, found.https), (SERVE, found.native_tls)])
    try:
        yield found
    finally:
        local.stop()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str | None, Path | None]]:
    """Every (user, password, ca) the verification logs in with; the logins still happen."""
    calls: list[tuple[str | None, str | None, Path | None]] = []
    real = deployment.login_as

    def spy(host: str, port: int, kind: str, user: str | None, password: str | None, ca: Path | None) -> Any:
        calls.append((user, password, ca))
        return real(host, port, kind, user, password, ca)

    monkeypatch.setattr(deployment, "login_as", spy)
    return calls


def test_users_log_in_only_from_their_networks_and_refusals_need_no_password(server: Server, sent: list) -> None:
    checks = verify_deployment(
        SERVE, server.spec(["127.0.0.0/29"]), ca=server.tls.ca_certificate, environ=server.environ
    )
    failed = [c for c in checks if not c.ok]
    assert not failed, failed
    by_name = {c.check: c for c in checks}
    assert by_name["user admin logs in from 127.0.0.1"].ok
    refusal = by_name["user ingest refused from 127.0.0.1"]
    assert "code 195" in refusal.detail and "before any password check" in refusal.detail
    passwords = {password for _, password, _ in sent}
    assert server.environ["HH_INGEST"] not in passwords, "a real password was sent where refusal was expected"
    assert all(ca == server.tls.ca_certificate for _, _, ca in sent)


def test_a_user_reachable_against_the_spec_is_caught(server: Server, sent: list) -> None:
    """The spec says analyst may only come from 127.0.0.3; the server lets 127.0.0.1 in."""
    checks = verify_deployment(SERVE, server.spec(["127.0.0.3"]), ca=server.tls.ca_certificate, environ=server.environ)
    (failed,) = [c for c in checks if not c.ok]
    assert failed.check == "user analyst refused from 127.0.0.1" and "code 193" in failed.detail
    assert server.environ["HH_ANALYST"] not in {password for _, password, _ in sent}


def test_without_a_ca_no_password_is_sent(server: Server, sent: list) -> None:
    checks = verify_deployment(SERVE, server.spec(["127.0.0.0/29"]), ca=None, environ=server.environ)
    failed = [c for c in checks if not c.ok]
    assert [c.check for c in failed] == ["users log in only from their networks"] and "verify_ca" in failed[0].detail
    assert not set(server.environ.values()) & {password for _, password, _ in sent}


def test_a_server_the_ca_does_not_vouch_for_gets_no_password(server: Server, tmp_path: Path) -> None:
    impostor_ca = write_server_material(tmp_path, [SERVE]).ca_certificate  # a CA that did not sign the server
    checks = verify_deployment(SERVE, server.spec(["127.0.0.0/29"]), ca=impostor_ca, environ=server.environ)
    login = next(c for c in checks if c.check == "user admin logs in from 127.0.0.1")
    assert not login.ok and "certificate verify failed" in login.detail


def test_anonymous_access_is_proven_refused_only_by_clickhouses_own_refusal(server: Server, tmp_path: Path) -> None:
    """What the deploy checks from outside on every run (a trusted host too). A refusal counts
    only when ClickHouse itself refuses the login: a server whose certificate the CA does not
    vouch for, or a spec port answered by something that is not ClickHouse's login (here the
    HTTPS port where the native TLS one should be), leaves the check failed, not passed."""
    ports = {"https": server.https, "native_tls": server.native_tls}
    proven = {(c.endpoint, c.check): c for c in outside_checks(SERVE, ports, ca=server.tls.ca_certificate)}
    assert all(c.ok for c in proven.values()), proven
    for kind, port in ports.items():
        check = proven[(f"{SERVE}:{port} ({kind})", "anonymous refused")]
        assert check.ok and check.control == "HH-AUTH-1" and "code 19" in check.detail, check
    impostor_ca = write_server_material(tmp_path, [SERVE]).ca_certificate
    undecided = [c for c in outside_checks(SERVE, ports, ca=impostor_ca) if c.check == "anonymous refused"]
    assert len(undecided) == 2
    for check in undecided:
        assert not check.ok and check.detail.startswith("not proven: no ClickHouse login refusal"), check
        assert "certificate verify failed" in check.detail
    (wrong,) = [
        c
        for c in outside_checks(SERVE, {"native_tls": server.https}, ca=server.tls.ca_certificate)
        if c.check == "anonymous refused"
    ]
    assert not wrong.ok and wrong.detail.startswith("not proven: no ClickHouse login refusal"), wrong
