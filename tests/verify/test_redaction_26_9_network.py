"""Redaction at ingest on modern ClickHouse over the network, by the deploy's own code: the
provisioner creates the ingest table and view as the owner, then the deploy's least-privilege
checks log in as the writer, whose row goes through the view and is stored redacted (the owner
finds the fake key gone) and whose insert around the view is refused (497). Dropping the view
makes the check fail. The server is 26.9 via chdb-core (hardhouse.testing.modern_server), which
has no TLS listener; the fixture's own TLS front (tls=True) stands in for one, so the deploy's
Session runs unmodified: the password goes out only after the front's certificate validated
against the CA named. The TLS endpoint is the fixture's, not ClickHouse's."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from hardhouse.clickhouse.native import Session
from hardhouse.provision import provision
from hardhouse.reach import readable_passwords, source_address
from hardhouse.render import render
from hardhouse.spec import HardeningSpec, load_spec
from hardhouse.testing.modern_server import HOST, ModernClickHouse
from hardhouse.verify.privileges import log_rights_checks
from tests.provision.scenarios import modern_spec, with_redaction

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

PASSWORDS = {
    name: secrets.token_urlsafe(24) for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD", "CH_ADMIN_PASSWORD")
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HardeningSpec, ModernClickHouse]]:
    server = ModernClickHouse(tmp_path_factory.mktemp("redaction-26-9"), tls=True)
    data = with_redaction(modern_spec("26.9"))
    # The deploy's checks and the provisioner use ports.native_tls: the fixture's TLS front.
    data["ports"] = {"https": server.https, "native_tls": server.native_tls}
    for user in data["users"]:
        user["networks"] = ["127.0.0.1"]
    spec = load_spec(data)
    server.install(render(spec, environ=PASSWORDS))
    server.start()
    try:
        yield spec, server
    finally:
        server.stop()


def _checks(spec: HardeningSpec, server: ModernClickHouse) -> list[Any]:
    passwords, unreadable = readable_passwords(spec, PASSWORDS)
    return log_rights_checks(HOST, server.native_tls, spec, server.ca, passwords, unreadable, source_address(HOST))


def test_the_writers_row_goes_through_the_view_redacted_and_around_it_is_refused(
    served: tuple[HardeningSpec, ModernClickHouse],
) -> None:
    spec, server = served
    report = provision(HOST, spec, ca=server.ca, apply=True, environ=PASSWORDS)
    assert report.ok, report.as_dict()
    assert {o.target for o in report.outcomes if o.outcome == "created"} >= {"logs.log_stream_ingest"}

    checks = _checks(spec, server)
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
    with Session(HOST, server.native_tls, "admin", PASSWORDS["CH_ADMIN_PASSWORD"], server.ca) as admin:
        (view,) = admin.rows("SELECT name FROM system.tables WHERE database = 'logs' AND engine = 'MaterializedView'")
        admin.execute(f"DROP TABLE logs.{view['name']}")
    gone = {c.check: c for c in _checks(spec, server)}["a secret written through the ingest table is stored redacted"]
    assert not gone.ok and "0 rows marked" in gone.detail
