"""Redaction at ingest on modern ClickHouse over the network, by the deploy's own code: the
provisioner creates the ingest table and view as the owner, then the deploy's least-privilege
checks log in as the writer, whose row goes through the view and is stored redacted (the owner
finds the fake key gone) and whose insert around the view is refused (497). Dropping the view
makes the check fail. The server is 26.9 via chdb-core (hardhouse.testing.modern_server), which
has no TLS listener: the sessions here are the deploy's Session without TLS, everything else is
the code the deploy runs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client

from hardhouse.clickhouse.native import CONNECT_TIMEOUT, QUERY_TIMEOUT, Session
from hardhouse.provision import provision
from hardhouse.reach import readable_passwords, source_address
from hardhouse.render import render
from hardhouse.spec import HardeningSpec, load_spec
from hardhouse.testing.local_server import free_port
from hardhouse.testing.modern_server import HOST, ModernClickHouse
from hardhouse.verify.privileges import log_rights_checks
from tests.provision.scenarios import modern_spec, with_redaction

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

PASSWORDS = {
    name: secrets.token_urlsafe(24) for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD", "CH_ADMIN_PASSWORD")
}
UNUSED_CA = Path("/nonexistent/ca.crt")  # the plain sessions below never read it


class PlainSession(Session):
    """The deploy's Session over plaintext native (clickhouse-local serves no TLS). Tests only."""

    def __init__(
        self, address: str, port: int, user: str, password: str, ca: Path, query_timeout: float = QUERY_TIMEOUT
    ):
        self.endpoint = f"{address}:{port}"
        self.user = user
        self._client = Client(
            address,
            port=port,
            user=user,
            password=password,
            connect_timeout=CONNECT_TIMEOUT,
            send_receive_timeout=query_timeout,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HardeningSpec, int]]:
    port = free_port(HOST)
    data = with_redaction(modern_spec("26.9"))
    data["ports"] = {"https": 8443, "native_tls": port}  # the deploy's checks use the native TLS port
    for user in data["users"]:
        user["networks"] = ["127.0.0.1"]
    spec = load_spec(data)
    server = ModernClickHouse(tmp_path_factory.mktemp("redaction-26-9"), native=port)
    server.install(render(spec, environ=PASSWORDS))
    server.start()
    try:
        yield spec, port
    finally:
        server.stop()


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hardhouse.provision.apply.Session", PlainSession)
    monkeypatch.setattr("hardhouse.verify.privileges.Session", PlainSession)


def _checks(spec: HardeningSpec, port: int) -> list[Any]:
    passwords, unreadable = readable_passwords(spec, PASSWORDS)
    return log_rights_checks(HOST, port, spec, UNUSED_CA, passwords, unreadable, source_address(HOST))


def test_the_writers_row_goes_through_the_view_redacted_and_around_it_is_refused(
    served: tuple[HardeningSpec, int], plain: None
) -> None:
    spec, port = served
    report = provision(HOST, spec, ca=UNUSED_CA, apply=True, environ=PASSWORDS)
    assert report.ok, report.as_dict()
    assert {o.target for o in report.outcomes if o.outcome == "created"} >= {"logs.log_stream_ingest"}

    checks = _checks(spec, port)
    failed = [(c.check, c.detail) for c in checks if not c.ok]
    assert failed == []
    lines = {c.check: c for c in checks}
    stored = lines["a secret written through the ingest table is stored redacted"]
    assert stored.control == "HH-DATA-3" and stored.checked
    assert "written as writer ingest into log_stream_ingest, stored with the fake api_key rewritten" in stored.detail
    around = lines["writer ingest cannot write around the redaction into logs.log_stream"]
    assert around.control == "HH-DATA-3" and "refused with 497" in around.detail
    assert lines["writer ingest cannot read logs.log_stream"].ok

    # Without the view, the writer's row never reaches the table: the check must fail.
    with PlainSession(HOST, port, "admin", PASSWORDS["CH_ADMIN_PASSWORD"], UNUSED_CA) as admin:
        (view,) = admin.rows("SELECT name FROM system.tables WHERE database = 'logs' AND engine = 'MaterializedView'")
        admin.execute(f"DROP TABLE logs.{view['name']}")
    gone = {c.check: c for c in _checks(spec, port)}["a secret written through the ingest table is stored redacted"]
    assert not gone.ok and "0 rows marked" in gone.detail
