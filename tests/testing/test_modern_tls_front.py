"""ModernClickHouse(tls=True): the fixture's own TLS front before the 26.9 engine's plaintext
ports. The deploy's Session (a password only to a certificate that validates against the CA
named) logs in through it; a certificate from another CA, or a plaintext client, gets nothing;
the front is bounded and stops with the server. The TLS endpoint is the fixture's, not
ClickHouse's: these tests prove the client's path, not ClickHouse's TLS settings."""

from __future__ import annotations

import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.ca import write_server_material
from hardhouse.clickhouse.native import ServerError, Session, Unreachable
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.testing.clients import port_open
from hardhouse.testing.modern_server import HOST, ModernClickHouse
from hardhouse.testing.tls_front import TlsFront
from tests.provision.scenarios import modern_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

PASSWORDS = {
    name: secrets.token_urlsafe(24) for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD", "CH_ADMIN_PASSWORD")
}
AUTH_FAILED = 516


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModernClickHouse]:
    data = modern_spec("26.9")
    for user in data["users"]:
        user["networks"] = ["127.0.0.1"]
    modern = ModernClickHouse(tmp_path_factory.mktemp("modern-tls"), tls=True)
    modern.install(render(load_spec(data), environ=PASSWORDS))
    modern.start()
    try:
        yield modern
    finally:
        modern.stop()


def test_the_deploys_session_logs_in_through_the_front(server: ModernClickHouse) -> None:
    with Session(HOST, server.native_tls, "analyst", PASSWORDS["CH_ANALYST_PASSWORD"], server.ca) as session:
        (row,) = session.rows("SELECT currentUser() AS user, version() AS version")
    assert row["user"] == "analyst" and row["version"].startswith("26.9")


def test_the_engine_still_judges_the_password(server: ModernClickHouse) -> None:
    with pytest.raises(ServerError) as refused:
        with Session(HOST, server.native_tls, "analyst", secrets.token_urlsafe(16), server.ca) as session:
            session.rows("SELECT 1")
    assert refused.value.code == AUTH_FAILED


def test_a_certificate_from_another_ca_gets_no_session(server: ModernClickHouse, tmp_path: Path) -> None:
    other = write_server_material(tmp_path / "other", [HOST]).ca_certificate
    with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        with Session(HOST, server.native_tls, "analyst", PASSWORDS["CH_ANALYST_PASSWORD"], other) as session:
            session.rows("SELECT 1")


def test_https_answers_through_the_front(server: ModernClickHouse) -> None:
    context = ssl.create_default_context(cafile=str(server.ca))
    with socket.create_connection((HOST, server.https), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=HOST) as tls:
            tls.sendall(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while len(answer) < 4096 and (chunk := tls.recv(4096)):
                answer += chunk
    assert answer.startswith(b"HTTP/1.") and b"Ok." in answer


def test_the_front_is_bounded_in_connections_and_idle_time(tmp_path: Path) -> None:
    """A front to a port that never answers: one connection at most, closed after idle_timeout."""
    with socket.create_server((HOST, 0)) as silent:
        material = write_server_material(tmp_path / "tls", [HOST])
        with TlsFront(HOST, silent.getsockname()[1], material, max_connections=1, idle_timeout=1.0) as front:
            context = ssl.create_default_context(cafile=str(material.ca_certificate))
            first = context.wrap_socket(socket.create_connection((HOST, front.port), timeout=5), server_hostname=HOST)
            second = socket.create_connection((HOST, front.port), timeout=5)
            assert second.recv(1) == b""  # closed at accept: the one slot is taken
            second.close()
            assert front.refused == 1
            started = time.monotonic()
            assert first.recv(1) == b""  # nothing moved for idle_timeout: the front closed it
            assert time.monotonic() - started < 5
            first.close()


def test_stop_closes_the_fronts_with_the_server(tmp_path: Path) -> None:
    modern = ModernClickHouse(tmp_path, tls=True)
    modern.install(render(load_spec(modern_spec("26.9")), environ=PASSWORDS))
    modern.start()
    ports = (modern.native_tls, modern.https)
    assert all(port_open(HOST, port) for port in ports)
    modern.stop()
    assert not any(port_open(HOST, port) for port in ports)
