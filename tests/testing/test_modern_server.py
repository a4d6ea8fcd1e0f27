"""ModernClickHouse serves a rendered hardhouse configuration with ClickHouse 26.9 (chdb-core) on
loopback, and real clients over the network see it enforced: passwords (516), users.d grants
(497), networks that exclude loopback (516); anonymous `default`
refused with 700 (the fixture's session holds its only slot), although the render removed
`default` and the fixture had to put its own back."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.clickhouse.driver import ServerException
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec
from hardhouse.testing.clients import http_query, native_query, port_open
from hardhouse.testing.modern_server import OVERRIDE, ModernClickHouse, rendered_sql
from tests.provision.scenarios import modern_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

AUTH_FAILED, ACCESS_DENIED, SESSION_LIMIT, REQUIRED_PASSWORD = 516, 497, 700, 194
TABLE = "logs.log_stream"
# Generated per run; looked up inside the helpers, so no assertion message can show one.
PASSWORDS = {
    "CH_INGEST_PASSWORD": secrets.token_urlsafe(24),
    "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24),
    "CH_ADMIN_PASSWORD": secrets.token_urlsafe(24),
}


def rendered() -> list[RenderedFile]:
    """modern_spec (writer ingest, reader analyst, owner admin), the writer and the reader
    allowed from loopback; admin keeps 10.9.9.9 only."""
    data = modern_spec("26.9")
    for user in data["users"]:
        if user["name"] in ("ingest", "analyst"):
            user["networks"] = ["127.0.0.1"]
    return render(load_spec(data), environ=PASSWORDS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModernClickHouse]:
    files = rendered()
    assert any("<default remove=" in f.content for f in files if f.path.startswith("users.d/"))
    modern = ModernClickHouse(tmp_path_factory.mktemp("modern-server"))
    modern.install(files)
    modern.start(rendered_sql(files))
    try:
        yield modern
    finally:
        modern.stop()


def own_password(user: str) -> str:
    return PASSWORDS.get(f"CH_{user.upper()}_PASSWORD", "")


def native_as(server: ModernClickHouse, query: str, user: str) -> list[tuple]:  # type: ignore[type-arg]
    """The rows of a query run as a rendered user with its own password."""
    return native_query(server.host, server.native, query, user=user, password=own_password(user))


def native_code(server: ModernClickHouse, query: str, user: str, wrong: str | None = None) -> int | None:
    """ClickHouse's error code (None: it ran) for user with its own password, or with `wrong`."""
    password = own_password(user) if wrong is None else wrong
    try:
        native_query(server.host, server.native, query, user=user, password=password)
    except ServerException as error:
        return int(error.code)
    return None


def http_code(server: ModernClickHouse, query: str, user: str | None, wrong: str | None = None) -> int | None:
    """Like native_code over HTTP; user None sends no credentials at all."""
    password = own_password(user or "") if wrong is None else wrong
    answer = http_query(server.host, server.http, query, user=user, password=password)
    return None if answer.status == 200 else answer.error_code


def test_a_rendered_user_logs_in_with_its_password_over_native_and_http(server: ModernClickHouse) -> None:
    assert native_as(server, "SELECT currentUser()", "ingest") == [("ingest",)]
    answer = http_query(
        server.host, server.http, "SELECT currentUser(), version()", user="ingest", password=own_password("ingest")
    )
    assert answer.status == 200, answer.error_code
    user, version = answer.body.strip().split("\t")
    assert user == "ingest" and version.startswith("26.9")


def test_a_wrong_password_is_refused_516(server: ModernClickHouse) -> None:
    wrong = secrets.token_urlsafe(24)
    assert native_code(server, "SELECT 1", "ingest", wrong) == AUTH_FAILED
    assert http_code(server, "SELECT 1", "ingest", wrong) == AUTH_FAILED


def test_a_user_whose_networks_exclude_loopback_is_refused_with_its_password(server: ModernClickHouse) -> None:
    assert native_code(server, "SELECT 1", "admin") == AUTH_FAILED


def test_anonymous_default_is_refused_700_not_516(server: ModernClickHouse) -> None:
    """The fixture's in-process session is `default` and holds its only session slot."""
    assert native_code(server, "SELECT 1", "default") == SESSION_LIMIT
    assert http_code(server, "SELECT 1", None) == SESSION_LIMIT
    assert http_code(server, "SELECT 1", "default") == SESSION_LIMIT
    # Any other password fails the check of the fixture's empty one first, as on a server.
    assert native_code(server, "SELECT 1", "default", secrets.token_urlsafe(8)) == AUTH_FAILED
    assert http_code(server, "SELECT 1", "default", secrets.token_urlsafe(8)) == REQUIRED_PASSWORD


def test_users_d_grants_are_enforced(server: ModernClickHouse) -> None:
    """The writer inserts and cannot read back; the reader reads and cannot insert."""
    assert native_code(server, f"INSERT INTO {TABLE} (ts, message) VALUES (now(), 'x')", "ingest") is None
    assert native_code(server, f"SELECT count() FROM {TABLE}", "ingest") == ACCESS_DENIED
    assert http_code(server, f"SELECT count() FROM {TABLE}", "ingest") == ACCESS_DENIED
    assert native_as(server, f"SELECT count() > 0 FROM {TABLE}", "analyst") == [(1,)]
    assert native_code(server, f"INSERT INTO {TABLE} (ts, message) VALUES (now(), 'y')", "analyst") == ACCESS_DENIED


def test_the_fixture_override_sorts_after_every_rendered_file(server: ModernClickHouse) -> None:
    for sub in ("config.d", "users.d"):
        names = sorted(path.name for path in (server.etc / sub).iterdir())
        assert names[-1] == OVERRIDE, names


def test_start_fails_clearly_when_setup_sql_fails(tmp_path: Path) -> None:
    modern = ModernClickHouse(tmp_path)
    modern.install(rendered())
    with pytest.raises(RuntimeError, match="UNKNOWN_DATABASE|Code: 81"):
        modern.start(["INSERT INTO no_such_database.t VALUES (1)"], timeout=30)
    assert modern.process is not None and modern.process.poll() is not None


def test_stop_leaves_no_process_and_no_listener(tmp_path: Path) -> None:
    modern = ModernClickHouse(tmp_path)
    modern.install(rendered())
    modern.start()
    pid = modern.pid
    assert port_open(modern.host, modern.native) and port_open(modern.host, modern.http)
    modern.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not port_open(modern.host, modern.native) and not port_open(modern.host, modern.http)


def test_encrypted_disk_keys_come_from_the_childs_environment(tmp_path: Path) -> None:
    """The rendered encrypted log storage starts only with its key given through `environ`."""
    data = modern_spec("26.9", encryption={"key_env": "CH_LOGS_KEY"})
    files = render(load_spec(data), environ=PASSWORDS)
    modern = ModernClickHouse(tmp_path)
    modern.install(files)
    with pytest.raises(RuntimeError, match="Encryption key must not be empty"):
        modern.start(rendered_sql(files), environ={"CH_LOGS_KEY": ""}, timeout=30)
    with modern:
        modern.start(rendered_sql(files), environ={"CH_LOGS_KEY": secrets.token_hex(32)})
        assert port_open(modern.host, modern.native)
