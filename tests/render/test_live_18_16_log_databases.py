"""Log databases on Debian's real ClickHouse 18.16: what that server can enforce, and proof
of what it cannot (which is why the spec refuses it there).

18.16 has no GRANT: a user is confined to databases by allow_databases, and kept from
writing only by a read-only profile. So a reader is enforceable (allow-list + readonly),
an insert-only writer is not (the spec refuses writers for 18.16), nor is retention (no
TTL), encrypted disks (no storage_configuration) or query masking (no query_masking_rules).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.clickhouse.driver import ServerException
from hardhouse.render import SQL_FILE, render, sql_statements
from hardhouse.spec import load_spec
from hardhouse.testing.clients import native_client
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.live]

SERVE = "127.0.0.2"
SYNTAX_ERROR, READONLY, DATABASE_ACCESS_DENIED = 62, 164, 291
FAKE_KEY = "sk-live-FAKE9x2Kq7Lm4Wp8Zr3Tn6Vb5Yc1"
TABLE = "logs.log_stream"


@dataclass
class Server:
    native_tls: int
    tls: TlsFiles
    passwords: dict[str, str]

    def query(self, user: str, query: str, **settings: object) -> list[tuple]:  # type: ignore[type-arg]
        client = native_client(
            SERVE, self.native_tls, user=user, password=self.passwords[user], tls=True, ca=self.tls.ca_certificate
        )
        try:
            return client.execute(query, settings=settings or None)  # type: ignore[no-any-return]
        finally:
            client.disconnect()

    def refused(self, user: str, query: str) -> int:
        with pytest.raises(ServerException) as error:
            self.query(user, query)
        return int(error.value.code)


def spec(tls: TlsFiles, https: int, native_tls: int) -> dict:
    return {
        "clickhouse_version": "18.16",
        "listen_hosts": [SERVE],
        "ports": {"https": https, "native_tls": native_tls},
        "tls": {"certificate": str(tls.certificate), "private_key": str(tls.private_key)},
        "users": [
            {"name": "admin", "password_env": "HH_ADMIN", "networks": ["127.0.0.0/8"]},
            {"name": "analyst", "password_env": "HH_ANALYST", "networks": ["127.0.0.0/8"], "profile": "readonly"},
            {"name": "app", "password_env": "HH_APP", "networks": ["127.0.0.0/8"], "databases": ["default"]},
        ],
        "profiles": {"readonly": {"readonly": 1}},
        "log_databases": {
            "logs": {
                "tables": {"log_stream": {"columns": {"ts": "DateTime", "message": "String"}, "time_column": "ts"}},
                "retention_days": None,  # 18.16 has no TTL; the spec refuses any other value
                "readers": ["analyst"],
                "owners": ["admin"],
            }
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    work = tmp_path_factory.mktemp("ch1816-logs")
    tls = write_server_material(work / "tls", [SERVE])
    https, native_tls = free_port(SERVE), free_port(SERVE)
    passwords = {name: secrets.token_urlsafe(24) for name in ("admin", "analyst", "app")}
    files = render(load_spec(spec(tls, https, native_tls)), {f"HH_{n.upper()}": p for n, p in passwords.items()})
    local = LocalClickHouse(work)
    local.install(files)
    local.start([(SERVE, https), (SERVE, native_tls)])
    try:
        running = Server(native_tls, tls, passwords)
        # The deploy's step: the rendered DDL, applied by an owner.
        ddl = next(f for f in files if f.path == SQL_FILE)
        for statement in sql_statements(ddl.content):
            running.query("admin", statement)
        running.query("admin", f"INSERT INTO {TABLE} SELECT now(), 'api_key={FAKE_KEY}'")
        yield running
    finally:
        local.stop()


def test_reader_reads_but_cannot_write_or_drop(server: Server) -> None:
    assert server.query("analyst", f"SELECT count() FROM {TABLE}") == [(1,)]
    assert server.refused("analyst", f"INSERT INTO {TABLE} SELECT now(), 'x'") == READONLY
    assert server.refused("analyst", f"DROP TABLE {TABLE}") == READONLY
    assert server.refused("analyst", f"ALTER TABLE {TABLE} DELETE WHERE 1") == READONLY


def test_other_users_cannot_use_the_log_database(server: Server) -> None:
    assert server.refused("app", f"SELECT count() FROM {TABLE}") == DATABASE_ACCESS_DENIED
    assert server.refused("app", f"INSERT INTO {TABLE} SELECT now(), 'x'") == DATABASE_ACCESS_DENIED
    assert server.refused("app", "USE logs") == DATABASE_ACCESS_DENIED


def test_other_users_do_not_see_the_log_database(server: Server) -> None:
    assert ("logs",) not in server.query("app", "SHOW DATABASES")
    # 18.16 filters its system tables by allow_databases too: not even the names leak.
    assert server.query("app", "SELECT name FROM system.tables WHERE database = 'logs'") == []
    assert server.query("app", "SELECT name FROM system.columns WHERE database = 'logs'") == []


def test_18_16_has_no_table_retention(server: Server) -> None:
    # Why the spec refuses retention_days for 18.16: the TTL clause is a syntax error there.
    query = "CREATE TABLE logs.ttl_probe (ts DateTime) ENGINE = MergeTree ORDER BY ts TTL ts + INTERVAL 1 DAY"
    assert server.refused("admin", query) == SYNTAX_ERROR


def test_18_16_keeps_an_api_key_in_its_query_log(server: Server) -> None:
    # Why the spec refuses query masking for 18.16: it has none, and a key in a query lands
    # in system.query_log as sent. (Modern targets get masking rules; see test_masking.py.)
    server.query("admin", f"SELECT 'api_key={FAKE_KEY}' AS leaked", log_queries=1)
    needle = FAKE_KEY[::-1]  # searched for reversed, so this query's own text does not match
    deadline = time.monotonic() + 20
    found = 0
    while time.monotonic() < deadline and not found:
        server.query("admin", "SYSTEM FLUSH LOGS")
        found = server.query(
            "admin", f"SELECT count() FROM system.query_log WHERE position(query, reverse('{needle}')) > 0"
        )[0][0]
        time.sleep(0.5)
    assert found, "the key should be visible in 18.16's query log"


def test_the_rendered_ddl_is_idempotent(server: Server) -> None:
    files = render(
        load_spec(spec(server.tls, 1, server.native_tls)), {f"HH_{n.upper()}": p for n, p in server.passwords.items()}
    )
    ddl = next(f for f in files if f.path == SQL_FILE)
    for statement in sql_statements(ddl.content):
        server.query("admin", statement)
    assert server.query("admin", f"SELECT count() FROM {TABLE}") == [(1,)]


@pytest.mark.parametrize(
    "element",
    [
        "query_masking_rules",
        "allow_no_password",
        "ssl_certificates",
        "storage_configuration",
        "password_scram_sha256_hex",
    ],
)
def test_18_16_library_has_no_trace_of_the_modern_controls(element: str) -> None:
    # The "absent from 18.16's library" notes in hardhouse.versions.FEATURES: ClickHouse reads
    # each of these by its element name, and 18.16's code does not contain the name at all.
    libraries = sorted(Path("/usr/lib").glob("*/libclickhouse.so.18.16*")) + sorted(
        Path("/usr/lib").glob("libclickhouse.so.18.16*")
    )
    require(bool(libraries), "Debian's libclickhouse 18.16 is not installed")
    assert element.encode() not in libraries[0].read_bytes()
    assert b"from_env" in libraries[0].read_bytes()  # the search itself works: a name 18.16 does read
