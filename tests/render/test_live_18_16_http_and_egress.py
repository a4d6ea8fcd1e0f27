"""The http and egress sections on Debian's live 18.16: what a client is told (stack traces,
CORS) and what a read-only user may reach (table functions), each against the rendered set and
against a deliberately weakened one that the same assertion must catch.

164 is READONLY; 193 is a wrong password. The rendered spec is test_live_18_16's (TLS ports
only, admin from loopback, ingest as writer, analyst read-only).
"""

from __future__ import annotations

import dataclasses
import http.client
import secrets
import urllib.parse
from pathlib import Path

import pytest

from hardhouse.ca import write_server_material
from hardhouse.probe.scanner import login_sync
from hardhouse.probe.transport import tls_context
from hardhouse.probe.wire.http import basic_auth
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec
from hardhouse.testing.clients import native_client
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import require
from tests.render.test_live_18_16 import SERVE, spec_for

pytestmark = [pytest.mark.integration, pytest.mark.live]

READONLY, WRONG_PASSWORD, DATABASE_ACCESS_DENIED = 164, 193, 291
RESPONSES = "users.d/zz-hardhouse-responses.xml"
ORIGIN = "https://attacker.example"
# Every table function 18.16 has among url, file, s3, remote, mysql, postgresql (it has no s3
# and no postgresql); each points at a closed loopback port or a missing file.
TABLE_FUNCTIONS = [
    "SELECT count() FROM url('http://127.0.0.1:1/x.csv', CSV, 'a String')",
    "SELECT count() FROM file('x.csv', CSV, 'a String')",
    "SELECT count() FROM remote('127.0.0.1:1', system.one)",
    "SELECT count() FROM mysql('127.0.0.1:1', 'd', 't', 'u', 'p')",
]


def without_responses(files: list[RenderedFile]) -> list[RenderedFile]:
    """The weakened set: the responses concern dropped, stock stack traces again."""
    return [f for f in files if f.path != RESPONSES]


def cors_everywhere(files: list[RenderedFile]) -> list[RenderedFile]:
    """The weakened set: every profile sends the wildcard CORS header."""
    return [
        dataclasses.replace(f, content=f.content.replace("<add_http_cors_header>0<", "<add_http_cors_header>1<"))
        for f in files
    ]


@dataclasses.dataclass
class Server:
    https: int
    native_tls: int
    ca: Path
    environ: dict[str, str]


def serve(work: Path, tamper=lambda files: files):  # type: ignore[no-untyped-def]
    tls = write_server_material(work / "tls", [SERVE])
    https, native_tls = free_port(SERVE), free_port(SERVE)
    environ = {name: secrets.token_urlsafe(24) for name in ("HH_ADMIN", "HH_INGEST", "HH_ANALYST")}
    spec_dict = spec_for(tls, https, native_tls)
    # ingest may log in from loopback here too: the table-function contrast needs a non-read-only user
    spec_dict["users"][1]["networks"] = ["127.0.0.0/29"]
    # file()'s own directory, with one file in it and a marked file beside it (HH-FILES-1).
    user_files = work / "user_files"
    user_files.mkdir()
    (user_files / "inside.csv").write_text("1\n2\n3\n")
    (work / "outside.csv").write_text("hardhouse-outside\n")
    spec_dict["egress"] = {"user_files_path": str(user_files)}
    server = LocalClickHouse(work)
    server.install(tamper(render(load_spec(spec_dict), environ)))
    server.start([(SERVE, https), (SERVE, native_tls)])
    return server, Server(https, native_tls, tls.ca_certificate, environ)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    server, info = serve(tmp_path_factory.mktemp("surface"))
    with server:
        yield info


@pytest.fixture(scope="module")
def weakened(tmp_path_factory: pytest.TempPathFactory):
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    server, info = serve(tmp_path_factory.mktemp("surface-weak"), lambda files: cors_everywhere(files))
    with server:
        yield info


@pytest.fixture(scope="module")
def stock_traces(tmp_path_factory: pytest.TempPathFactory):
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    server, info = serve(tmp_path_factory.mktemp("surface-traces"), without_responses)
    with server:
        yield info


def https_get(info: Server, user: str, params: dict[str, str]) -> tuple[int, dict[str, str], str]:
    """GET /?query=... over HTTPS as `user`, sending an Origin header as a browser would."""
    connection = http.client.HTTPSConnection(SERVE, info.https, timeout=10, context=tls_context(info.ca))
    try:
        headers = {"Origin": ORIGIN, "Authorization": basic_auth(user, info.environ[f"HH_{user.upper()}"])}
        connection.request("GET", "/?" + urllib.parse.urlencode(params), headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def native_answer(info: Server, user: str, query: str) -> tuple[int | None, list]:  # type: ignore[type-arg]
    """(None, rows) when the query is answered, else (the server's error code, [])."""
    client = native_client(SERVE, info.native_tls, user=user, password=info.environ[f"HH_{user.upper()}"], tls=True)
    try:
        return None, client.execute(query)
    except Exception as error:  # the server's refusal, with its code
        return getattr(error, "code", -1), []
    finally:
        client.disconnect()


def native_code(info: Server, user: str, query: str) -> int | None:
    return native_answer(info, user, query)[0]


# ---------------------------------------------------------------- HH-LEAK-1: stack traces


def refused_login(info: Server):  # type: ignore[no-untyped-def]
    return login_sync(SERVE, info.native_tls, protocol="native", tls=True, user="analyst", password="wrong-password")


def test_a_refused_native_login_gets_no_stack_trace(rendered) -> None:  # type: ignore[no-untyped-def]
    answer = refused_login(rendered)
    assert answer.code == WRONG_PASSWORD and not answer.accepted
    assert not answer.stack_trace


def test_without_the_responses_file_the_refused_login_carries_one(stock_traces) -> None:  # type: ignore[no-untyped-def]
    answer = refused_login(stock_traces)
    assert answer.code == WRONG_PASSWORD
    assert answer.stack_trace  # 18.16's stock answer: binary offsets for anyone who knocks


# ---------------------------------------------------------------- HH-HTTP-1: CORS


@pytest.mark.parametrize("user", ["ingest", "analyst"])
def test_no_wildcard_cors_header_unless_asked(rendered, user) -> None:  # type: ignore[no-untyped-def]
    status, headers, _ = https_get(rendered, user, {"query": "SELECT 1"})
    assert status == 200
    assert "access-control-allow-origin" not in headers


def test_a_read_only_user_cannot_ask_for_it_per_request(rendered) -> None:  # type: ignore[no-untyped-def]
    status, headers, body = https_get(rendered, "analyst", {"query": "SELECT 1", "add_http_cors_header": "1"})
    assert status != 200 and f"Code: {READONLY}" in body
    assert "access-control-allow-origin" not in headers


def test_a_writable_session_still_can_which_needs_a_constraint(rendered) -> None:  # type: ignore[no-untyped-def]
    # What 18.16 cannot refuse (it has no settings constraints): a non-read-only session asks for it.
    status, headers, _ = https_get(rendered, "ingest", {"query": "SELECT 1", "add_http_cors_header": "1"})
    assert status == 200 and headers.get("access-control-allow-origin") == "*"


def test_weakened_profiles_send_it_unasked(weakened) -> None:  # type: ignore[no-untyped-def]
    status, headers, _ = https_get(weakened, "analyst", {"query": "SELECT 1"})
    assert status == 200 and headers.get("access-control-allow-origin") == "*"


# ---------------------------------------------------------------- HH-EGRESS-2: table functions


@pytest.mark.parametrize("query", TABLE_FUNCTIONS)
def test_a_read_only_user_is_refused_every_table_function(rendered, query) -> None:  # type: ignore[no-untyped-def]
    assert native_code(rendered, "analyst", query) == READONLY


@pytest.mark.parametrize("query", TABLE_FUNCTIONS)
def test_a_writable_user_reaches_past_the_check(rendered, query) -> None:  # type: ignore[no-untyped-def]
    # The contrast that makes the test able to fail: without readonly, 18.16 tries the file or
    # the connection (and fails on the missing file or the closed port), it does not refuse.
    assert native_code(rendered, "ingest", query) not in (None, READONLY)


# ---------------------------------------------------------------- HH-FILES-1: file() confined


def test_file_reads_inside_its_own_directory(rendered) -> None:  # type: ignore[no-untyped-def]
    # The contrast that makes the refusals below mean something: a writable user reads here.
    assert native_answer(rendered, "ingest", "SELECT count() FROM file('inside.csv', CSV, 'a String')") == (
        None,
        [(3,)],
    )


@pytest.mark.parametrize(
    "path",
    ["../outside.csv", "{work}/outside.csv", "/etc/hostname", "inside.csv/../../outside.csv"],
    ids=["parent", "absolute", "system file", "through the directory"],
)
def test_file_outside_its_directory_is_refused(rendered, path) -> None:  # type: ignore[no-untyped-def]
    target = path.format(work=rendered.ca.parent.parent)
    code, rows = native_answer(rendered, "ingest", f"SELECT count() FROM file('{target}', CSV, 'a String')")
    assert code == DATABASE_ACCESS_DENIED and rows == []


def test_remote_url_allow_hosts_cannot_be_shown_on_18_16() -> None:
    pytest.skip(
        "18.16 has no remote_url_allow_hosts (the spec writes it for 22.8+ only), and the only modern server "
        "here, chdb-core 26.9's clickhouse-local, never applies it: url() to a loopback port outside the list "
        "is still fetched, embedded and on the network alike (checked 2026-12-06); the rendered element is "
        "checked by the audit (HH-EGRESS-1) and merged without error by 26.9"
    )


# ---------------------------------------------------------------- HH-HTTP-2: web pages


@pytest.mark.parametrize("path", ["/play", "/dashboard", "/binary"])
def test_18_16_serves_no_web_page(rendered, path) -> None:  # type: ignore[no-untyped-def]
    # 18.16 predates the web pages, so HH-HTTP-2 does not apply to it: nothing to turn off.
    connection = http.client.HTTPSConnection(SERVE, rendered.https, timeout=10, context=tls_context(rendered.ca))
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read(4096).decode(errors="replace").lower()
    finally:
        connection.close()
    assert response.status == 404 and "<html" not in body
