"""The settings sections on Debian's real ClickHouse 18.16: what its limits enforce and what it
cannot do.

18.16 loads the rendered server limits and the per-user concurrency cap, and a client sees
them: a second query by the same user is refused (202), a third query server-wide too, and
the idle keep-alive time is announced in every HTTP answer. A render without the cap lets the
second query run. 18.16 has no settings constraints (it refuses to start on a profile that has
them), no TTL on its query_log and no session_log: what readonly levels give instead is shown
from a client (readonly 1 refuses SET with 164; a writer can SET its limit away).
"""

from __future__ import annotations

import dataclasses
import http.client
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.clickhouse.driver import ServerException
from hardhouse.probe.transport import tls_context
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec
from hardhouse.testing.clients import native_client, native_query
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.live]

SERVE = "127.0.0.2"
UNKNOWN_SETTING, READONLY, TOO_MANY_QUERIES = 115, 164, 202
SLOW = "SELECT sleep(3)"  # 18.16 caps sleep() at 3 seconds per block
KEEP_ALIVE = 7
USERS = ("admin", "ingest", "analyst", "reporter")


@dataclass
class Server:
    server: LocalClickHouse
    tls: TlsFiles
    https: int
    native_tls: int
    passwords: dict[str, str]

    def query(self, user: str, query: str) -> Any:
        return native_query(
            SERVE,
            self.native_tls,
            query,
            user=user,
            password=self.passwords[user],
            tls=True,
            ca=self.tls.ca_certificate,
        )

    def client(self, user: str) -> Any:
        """A native session (SET lasts until disconnect)."""
        return native_client(
            SERVE, self.native_tls, user=user, password=self.passwords[user], tls=True, ca=self.tls.ca_certificate
        )

    def refused(self, user: str, query: str) -> int | None:
        """The error code the server answers, or None when the query ran."""
        try:
            self.query(user, query)
        except ServerException as error:
            return int(error.code)
        return None


def depth_spec(tls: TlsFiles, https: int, native_tls: int) -> dict[str, Any]:
    return {
        "clickhouse_version": "18.16",
        "listen_hosts": [SERVE],
        "ports": {"https": https, "native_tls": native_tls},
        "tls": {"certificate": str(tls.certificate), "private_key": str(tls.private_key)},
        "users": [
            {"name": name, "password_env": f"HH_{name.upper()}", "networks": ["127.0.0.0/8"], "profile": profile}
            for name, profile in (
                ("admin", "default"),
                ("ingest", "writer"),
                ("analyst", "readonly"),
                ("reporter", "reporting"),
            )
        ],
        "profiles": {
            "writer": {"max_execution_time": 300},
            "readonly": {"readonly": 1},
            "reporting": {"readonly": 2, "max_execution_time": 60},
        },
        "server_limits": {
            "max_concurrent_queries": 2,
            "max_concurrent_queries_for_user": 1,
            "keep_alive_timeout": KEEP_ALIVE,
        },
    }


def start(work: Path, tamper: Callable[[list[RenderedFile]], list[RenderedFile]] = lambda files: files) -> Server:
    tls = write_server_material(work / "tls", [SERVE])
    https, native_tls = free_port(SERVE), free_port(SERVE)
    passwords = {user: secrets.token_urlsafe(24) for user in USERS}
    environ = {f"HH_{user.upper()}": password for user, password in passwords.items()}
    server = LocalClickHouse(work)
    server.install(tamper(render(load_spec(depth_spec(tls, https, native_tls)), environ)))
    server.start([(SERVE, https), (SERVE, native_tls)])
    return Server(server, tls, https, native_tls, passwords)


def with_ttl_probe(files: list[RenderedFile]) -> list[RenderedFile]:
    """The hardened files plus what a modern render writes for retention, to see 18.16 ignore it."""
    probe = RenderedFile(
        "config.d/zz-probe-query-log-ttl.xml",
        "<clickhouse><query_log><ttl>event_date + INTERVAL 30 DAY DELETE</ttl></query_log></clickhouse>\n",
    )
    return [*files, probe]


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    running = start(tmp_path_factory.mktemp("depth"), with_ttl_probe)
    try:
        yield running
    finally:
        running.server.stop()


def while_running(server: Server, holders: list[str], action: Callable[[], Any]) -> Any:
    """Run SLOW as each holder at once and, while they run, action(); return what it returns."""
    answers: dict[str, Any] = {}

    def hold(user: str) -> None:
        answers[user] = server.refused(user, SLOW)

    threads = [threading.Thread(target=hold, args=(user,)) for user in holders]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # the slow queries have started (sleep(3) holds each for 3 s)
        return action()
    finally:
        for thread in threads:
            thread.join(timeout=30)
        assert answers == {user: None for user in holders}, answers


def test_a_second_query_by_the_same_user_is_refused_and_another_users_runs(hardened: Server) -> None:
    # ingest holds its one slot: its second query is refused, admin's runs.
    def second_queries() -> list[int | None]:
        return [hardened.refused("ingest", "SELECT 1"), hardened.refused("admin", "SELECT 1")]

    assert while_running(hardened, ["ingest"], second_queries) == [TOO_MANY_QUERIES, None]


def test_a_query_beyond_the_server_wide_cap_is_refused(hardened: Server) -> None:
    # ingest's and analyst's slow queries fill max_concurrent_queries = 2. A third query waits
    # queue_max_wait_ms (5 s by default) for a slot before it is refused: admin does not wait.
    def third() -> Any:
        client = hardened.client("admin")
        try:
            with pytest.raises(ServerException, match="Too many simultaneous queries. Maximum: 2") as refused:
                # Sent with the query packet: 18.16 reads it before admitting the query.
                client.execute("SELECT 1", settings={"queue_max_wait_ms": 0})
        finally:
            client.disconnect()
        return refused.value.code

    assert while_running(hardened, ["ingest", "analyst"], third) == TOO_MANY_QUERIES


def test_the_idle_keep_alive_time_is_the_rendered_one(hardened: Server) -> None:
    connection = http.client.HTTPSConnection(
        SERVE, hardened.https, timeout=10, context=tls_context(hardened.tls.ca_certificate)
    )
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        assert response.getheader("Keep-Alive") == f"timeout={KEEP_ALIVE}", response.getheaders()
    finally:
        connection.close()


def test_18_16_loads_the_server_limits(hardened: Server) -> None:
    preprocessed = (hardened.server.data / "preprocessed_configs" / "config.xml").read_text()
    assert "<max_connections>1024</max_connections>" in preprocessed
    assert "<max_concurrent_queries>2</max_concurrent_queries>" in preprocessed
    settings = dict(
        hardened.query(
            "ingest", "SELECT name, value FROM system.settings WHERE name = 'max_concurrent_queries_for_user'"
        )
    )
    assert settings == {"max_concurrent_queries_for_user": "1"}


def test_readonly_1_refuses_set_on_18_16(hardened: Server) -> None:
    assert hardened.refused("analyst", "SET max_execution_time = 10") == READONLY
    assert hardened.refused("analyst", "SELECT 1 SETTINGS max_execution_time = 10") == READONLY
    assert hardened.refused("analyst", "SET log_queries = 1") == READONLY
    # 18.16 lets a readonly user SET a setting to the value it already has (clients send their
    # settings), so switching off the query log that 18.16 leaves off goes through.
    assert hardened.refused("analyst", "SET log_queries = 0") is None


def test_readonly_2_keeps_writes_out_but_lets_the_user_lift_its_limits_on_18_16(hardened: Server) -> None:
    assert hardened.refused("reporter", "CREATE TABLE default.t (a UInt8) ENGINE = Memory") == READONLY
    assert hardened.refused("reporter", "SET readonly = 0") == READONLY
    assert hardened.refused("reporter", "SET max_execution_time = 0") is None


def test_without_constraints_a_writer_lifts_its_own_limit_on_18_16(hardened: Server) -> None:
    # What 18.16 cannot enforce: readonly 2 or 0 lets the user SET any limit away, so a spec
    # asking for constraints there is refused (tests/render/test_settings.py).
    assert hardened.refused("ingest", "SET max_execution_time = 0") is None


def test_18_16_ignores_a_ttl_on_query_log_and_has_no_session_log(hardened: Server) -> None:
    client = hardened.client("admin")
    try:
        client.execute("SET log_queries = 1")  # 18.16 logs no query by default
        client.execute("SELECT 1")
        client.execute("SYSTEM FLUSH LOGS")
    finally:
        client.disconnect()
    create = hardened.query("admin", "SHOW CREATE TABLE system.query_log")[0][0]
    assert "MergeTree" in create and "TTL" not in create
    tables = {row[0] for row in hardened.query("admin", "SELECT name FROM system.tables WHERE database = 'system'")}
    assert "query_log" in tables and "session_log" not in tables and "text_log" not in tables


def test_18_16_refuses_every_login_whose_profile_has_constraints(tmp_path: Path) -> None:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")

    def add_constraints(files: list[RenderedFile]) -> list[RenderedFile]:
        locked = (
            "<clickhouse><profiles><writer><constraints><max_execution_time><max>300</max></max_execution_time>"
            "</constraints></writer></profiles></clickhouse>\n"
        )
        return [*files, RenderedFile("users.d/zz-probe-constraints.xml", locked)]

    # (On the default profile 18.16 does not even start: the server reads it at start.)
    broken = start(tmp_path, add_constraints)
    try:
        with pytest.raises(ServerException, match="Unknown setting constraints") as refused:
            broken.query("ingest", "SELECT 1")
        assert refused.value.code == UNKNOWN_SETTING
        assert broken.query("admin", "SELECT 1") == [(1,)]
    finally:
        broken.server.stop()


def test_control_without_the_caps_the_same_queries_run(tmp_path: Path) -> None:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")

    def weaken(files: list[RenderedFile]) -> list[RenderedFile]:
        out = []
        for file in files:
            content = file.content
            if file.path.endswith("zz-hardhouse-settings.xml"):
                content = content.replace("<max_concurrent_queries_for_user>1<", "<max_concurrent_queries_for_user>0<")
            if file.path.endswith("zz-hardhouse-limits.xml"):
                content = content.replace("<max_concurrent_queries>2<", "<max_concurrent_queries>0<")
            out.append(dataclasses.replace(file, content=content))
        assert out != files
        return out

    weak = start(tmp_path, weaken)
    try:
        assert while_running(weak, ["ingest"], lambda: weak.refused("ingest", "SELECT 1")) is None

        def third() -> Any:
            client = weak.client("admin")
            try:
                return client.execute("SELECT 1", settings={"queue_max_wait_ms": 0})
            finally:
                client.disconnect()

        assert while_running(weak, ["ingest", "analyst"], third) == [(1,)]
    finally:
        weak.server.stop()
