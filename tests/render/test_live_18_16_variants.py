"""More 18.16 servers: the locked default user with a TLS 1.3 minimum, and a deliberately
weakened configuration that the same checks must catch (proof that they can fail)."""

from __future__ import annotations

import secrets
import ssl
from pathlib import Path

import pytest

from hardhouse.ca import write_server_material
from hardhouse.clickhouse.driver import ServerException
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.testing.clients import http_query, native_query, tls_handshake
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from hardhouse.verify.checks import verify_server
from tests.helpers import require, weaken
from tests.render.test_live_18_16 import (
    ADDRESS_NOT_ALLOWED,
    PASSWORD_REQUIRED,
    SERVE,
    spec_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.live]

WEAK_SUITES = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"


def start(work: Path, spec_overrides: dict, tls_overrides: dict | None = None, tamper=lambda files: files):  # type: ignore[no-untyped-def]
    tls = write_server_material(work / "tls", [SERVE])
    https, native_tls = free_port(SERVE), free_port(SERVE)
    environ = {name: secrets.token_urlsafe(24) for name in ("HH_ADMIN", "HH_INGEST", "HH_ANALYST")}
    spec_dict = spec_for(tls, https, native_tls, **spec_overrides)
    spec_dict["tls"].update(tls_overrides or {})
    spec = load_spec(spec_dict)
    server = LocalClickHouse(work)
    server.install(tamper(render(spec, environ)))
    server.start([(SERVE, https), (SERVE, native_tls)])
    return server, spec, tls, https, native_tls, environ


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory):
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    work = tmp_path_factory.mktemp("locked")
    server, spec, tls, https, native_tls, environ = start(work, {"default_user": "lock"}, {"min_protocol": "tlsv1_3"})
    with server:
        yield server, https, native_tls, environ


def test_locked_default_user_refuses_an_empty_password(locked) -> None:  # type: ignore[no-untyped-def]
    _, _, native_tls, _ = locked
    with pytest.raises(ServerException) as refused:
        native_query(SERVE, native_tls, "SELECT 1", user="default", password="", tls=True)
    assert refused.value.code == PASSWORD_REQUIRED


def test_locked_default_user_is_refused_from_outside_loopback(locked) -> None:  # type: ignore[no-untyped-def]
    _, https, _, _ = locked
    answer = http_query(SERVE, https, "SELECT 1", user="default", password="", tls=True, source="127.0.0.5")
    assert answer.status != 200 and answer.error_code == ADDRESS_NOT_ALLOWED, answer


def test_tls_1_3_minimum_refuses_tls_1_2(locked) -> None:  # type: ignore[no-untyped-def]
    _, https, native_tls, environ = locked
    for port in (https, native_tls):
        assert tls_handshake(SERVE, port, version=ssl.TLSVersion.TLSv1_2) is None
        assert tls_handshake(SERVE, port, version=ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    # and a real client still works over TLS 1.3
    assert native_query(SERVE, native_tls, "SELECT 1", user="admin", password=environ["HH_ADMIN"], tls=True) == [(1,)]


@pytest.fixture(scope="module")
def weakened(tmp_path_factory: pytest.TempPathFactory):
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    work = tmp_path_factory.mktemp("weakened")
    server, spec, tls, https, native_tls, environ = start(work, {}, tamper=weaken)
    with server:
        yield spec, tls, https, native_tls


def test_checks_report_the_exposures_of_a_weakened_config(weakened) -> None:  # type: ignore[no-untyped-def]
    spec, tls, https, native_tls = weakened
    failed = {(c.endpoint, c.check) for c in verify_server(SERVE, spec, ca=tls.ca_certificate) if not c.ok}
    assert failed == {
        (f"{SERVE}:{https} (https)", "anonymous refused"),
        (f"{SERVE}:{native_tls} (native_tls)", "anonymous refused"),
        (f"{SERVE}:{https} (https)", "TLSv1.0 refused"),
        (f"{SERVE}:{https} (https)", "TLSv1.1 refused"),
        (f"{SERVE}:{native_tls} (native_tls)", "TLSv1.0 refused"),
        (f"{SERVE}:{native_tls} (native_tls)", "TLSv1.1 refused"),
    }
    assert tls_handshake(SERVE, https, version=ssl.TLSVersion.TLSv1_2, ciphers=WEAK_SUITES) is not None
    # What the anonymous check saw: the stock default user reading data.
    assert http_query(SERVE, https, "SELECT 1", tls=True).status == 200
