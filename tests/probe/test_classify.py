"""What the probe makes of what it hears: wire formats, names, suites, and small fake
servers on loopback standing in for ClickHouse lookalikes and other services."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest

from hardhouse import probe
from hardhouse.clickhouse.tls import weak_suite_reason
from hardhouse.probe import (
    DataInventory,
    ProbeOptions,
    QueryError,
    Severity,
    collect_inventory,
    probe_endpoint_sync,
    sensitive_reason,
)
from hardhouse.probe.transport import asyncio as transport_asyncio
from hardhouse.probe.wire import native
from hardhouse.probe.wire.http import parse as parse_http
from hardhouse.probe.wire.mysql import parse_greeting as parse_mysql_greeting
from hardhouse.probe.wire.native import hello as native_hello
from hardhouse.probe.wire.native import parse_reply as parse_native_reply
from tests.probe.fakes import read_request, tcp_service

# ---------------------------------------------------------------- wire formats


def test_http_with_content_length_and_chunked_bodies() -> None:
    plain = parse_http(
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-ClickHouse-Server-Display-Name: db1\r\n\r\nOk.\n",
        require_complete=True,
    )
    assert plain is not None and (plain.status, plain.body) == (200, "Ok.\n")
    assert plain.clickhouse_headers() == {"x-clickhouse-server-display-name": "db1"}
    chunked = b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nCode: 194\r\n2\r\n, \r\n0\r\n\r\n"
    answer = parse_http(chunked, require_complete=True)
    assert answer is not None and answer.body == "Code: 194, "
    assert parse_http(chunked[:-7], require_complete=True) is None  # last chunk missing
    assert parse_http(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nOk.", require_complete=True) is None
    assert parse_http(b"SSH-2.0-OpenSSH_9.2\r\n") is None


def server_hello(
    name: str = "ClickHouse",
    major: int = 24,
    minor: int = 8,
    revision: int = 54472,
    display: str = "db1",
    patch: int = 4,
) -> bytes:
    def s(text: str) -> bytes:
        return bytes([len(text)]) + text.encode()

    def v(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    return v(0) + s(name) + v(major) + v(minor) + v(revision) + s("UTC") + s(display) + v(patch)


def server_exception(
    code: int = 516,
    message: str = (
        "DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED) (version 24.8.4.13 (official build))"
    ),
    stack: str = "",
) -> bytes:
    def s(text: str) -> bytes:
        raw = text.encode()
        return native.varint(len(raw)) + raw

    return native.varint(2) + struct.pack("<i", code) + s("DB::Exception") + s(message) + s(stack) + b"\0"


def test_native_hello_and_replies() -> None:
    hello = parse_native_reply(server_hello())
    assert hello.accepted and hello.version == "24.8.4" and hello.display_name == "db1" and hello.timezone == "UTC"
    refused = parse_native_reply(server_exception(stack="0. StackTrace::StackTrace() [0x1]\n"))
    assert not refused.accepted and refused.code == 516 and refused.stack_trace
    with pytest.raises(native.Incomplete):
        parse_native_reply(server_hello()[:7])
    with pytest.raises(ValueError, match="not a ClickHouse Hello"):
        parse_native_reply(native_hello("default", ""))  # an echo server returns our own Hello
    with pytest.raises(ValueError):
        parse_native_reply(b"SSH-2.0-OpenSSH_9.2\r\n")


def test_client_hello_layout() -> None:
    packet = native_hello("default", "")
    assert packet[0] == 0 and b"hardhouse-probe" in packet and packet.endswith(b"\x07default\x00")


def test_mysql_greeting() -> None:
    payload = b"\x0a" + b"24.8.4.13-ClickHouse\0" + b"\0" * 20
    greeting = len(payload).to_bytes(3, "little") + b"\0" + payload
    assert parse_mysql_greeting(greeting) == "24.8.4.13-ClickHouse"
    assert parse_mysql_greeting(b"HTTP/1.1 200 OK\r\n") is None


# ---------------------------------------------------------------- names and suites


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("log_stream", "log"),
        ("chat_messages", "chat"),
        ("userEmail", "email"),
        ("api_key", "apikey"),
        ("apiKey", "apikey"),
        ("OPENAI_API_KEY", "apikey"),
        ("refresh_token", "token"),
        ("password_hash", "password"),
        ("query_log", "log"),
        ("catalog", None),
        ("author", None),
        ("events", None),
        ("timestamp", None),
        ("messaging_latency_ms", None),
    ],
)
def test_sensitive_names(name: str, reason: str | None) -> None:
    assert sensitive_reason(name) == reason


@pytest.mark.parametrize(
    ("suite", "version", "weak"),
    [
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLSv1.2", False),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLSv1.2", False),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLSv1.2", True),
        ("TLS_RSA_WITH_AES_256_GCM_SHA384", "TLSv1.2", True),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLSv1.0", True),
        ("TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "TLSv1.2", True),
        ("TLS_AES_128_GCM_SHA256", "TLSv1.3", False),
    ],
)
def test_weak_suites(suite: str, version: str, weak: bool) -> None:
    assert (weak_suite_reason(suite, version) is not None) is weak


# ---------------------------------------------------------------- what a login could read


class FakeServer:
    """Answers the listing queries like a ClickHouse of a given age; records every query."""

    def __init__(self, modern: bool):
        self.modern = modern
        self.sent: list[str] = []

    async def __call__(self, sql: str) -> list[Any]:
        self.sent.append(sql)
        if sql.startswith("SELECT name FROM system.databases"):
            return [("default",), ("logs",), ("system",)]
        if sql.startswith("SELECT database, name, engine FROM system.tables"):
            return [
                ("logs", "log_stream", "MergeTree"),
                ("default", "scratch", "Memory"),
                ("default", "metrics_v", "View"),
                ("default", "kafka_in", "Kafka"),
                ("system", "query_log", "MergeTree"),
            ]
        if "total_rows" in sql:
            if not self.modern:
                raise QueryError(47, "code 47")  # 18.16: no such column
            return [("logs", "log_stream", 1200000), ("default", "scratch", None), ("system", "query_log", 50)]
        if "system.parts" in sql:
            return [("logs", "log_stream", "1200000"), ("system", "query_log", "50")]
        if sql.startswith("SELECT count() FROM `default`.`scratch`"):
            return [(3,)]
        if "system.columns" in sql:
            return [
                ("logs", "log_stream", "ts"),
                ("logs", "log_stream", "message"),
                ("logs", "log_stream", "api_key"),
                ("default", "scratch", "x"),
                ("system", "query_log", "query"),
            ]
        raise AssertionError(f"unexpected query {sql}")


@pytest.mark.parametrize("modern", [True, False], ids=["total_rows", "18.16 parts"])
def test_inventory_counts_and_flags_without_reading_rows(modern: bool) -> None:
    server = FakeServer(modern)
    inventory = asyncio.run(collect_inventory(server, "http as no credentials"))
    tables = {t.qualified: t for t in inventory.tables}
    assert tables["logs.log_stream"].rows == 1200000 and tables["default.scratch"].rows == 3
    assert tables["default.kafka_in"].rows is None and tables["default.metrics_v"].rows is None  # never counted
    assert tables["logs.log_stream"].sensitive_columns == ["message", "api_key"]
    assert {t.qualified for t in inventory.sensitive_tables} == {"logs.log_stream", "system.query_log"}
    assert inventory.databases == ["default", "logs", "system"] and inventory.errors == []
    assert all(sql.startswith("SELECT ") for sql in server.sent)
    user_tables = [sql for sql in server.sent if " FROM `" in sql]
    assert user_tables == ["SELECT count() FROM `default`.`scratch`"]  # the only query touching user data: a count


def test_inventory_when_listing_is_refused() -> None:
    async def refuse(sql: str) -> list[Any]:
        raise QueryError(497, "code 497")

    inventory = asyncio.run(collect_inventory(refuse, "native as readonly/(empty)"))
    assert inventory.tables == [] and "listing refused" in inventory.errors[0]


# ---------------------------------------------------------------- fake services on loopback


def fake_clickhouse_http(conn: socket.socket) -> None:
    request = read_request(conn)
    if request.startswith(b"GET /ping"):
        body, status = b"Ok.\n", b"200 OK"
    elif b"Authorization:" in request:
        body, status = (
            b"Code: 516. DB::Exception: admin: Authentication failed. (AUTHENTICATION_FAILED) "
            b"(version 24.8.4.13 (official build))\n",
            b"401 Unauthorized",
        )
    else:
        body, status = b"24.8.4.13\n", b"200 OK"
    conn.sendall(
        b"HTTP/1.1 "
        + status
        + b"\r\nX-ClickHouse-Server-Display-Name: db1\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def fake_native(reply: bytes) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        first = conn.recv(4096)
        if first.startswith(b"GET "):
            conn.sendall(
                b"HTTP/1.0 400 Bad Request\r\n\r\nPort 9000 is for clickhouse-client program.\r\n"
                b"You must use port 8123 for HTTP.\r\n"
            )
            return
        conn.sendall(reply)

    return handle


def echo(conn: socket.socket) -> None:
    conn.settimeout(2)
    while data := conn.recv(4096):
        conn.sendall(data)


def ssh_like(conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    conn.settimeout(2)
    conn.recv(4096)
    conn.sendall(b"Invalid SSH identification string.\r\n")


def lookalike_http(conn: socket.socket) -> None:
    read_request(conn)  # answers "Ok." to everything, like many health-check endpoints
    conn.sendall(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 4\r\n\r\nOk.\n")


def silent(conn: socket.socket) -> None:
    conn.settimeout(3)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


FAST = ProbeOptions(timeout=0.5, enumerate=False, tls_scan=False)


def test_fake_clickhouse_http_with_anonymous_access() -> None:
    with tcp_service(fake_clickhouse_http) as port:
        report = probe_endpoint_sync("127.0.0.1", port, FAST)
    assert (report.service, report.clickhouse, report.version) == ("clickhouse-http", True, "24.8.4.13")
    assert [f.rule for f in report.findings if f.severity == Severity.CRITICAL] == ["anonymous-access"]
    assert report.exposed() and report.display_name == "db1"


def test_fake_native_refusing_with_stack_trace() -> None:
    reply = server_exception(
        194,
        "DB::Exception: Password required for user default",
        "0. /usr/lib/libclickhouse.so.18.16(StackTrace::StackTrace()+0x16) [0x7f]\n",
    )
    with tcp_service(fake_native(reply)) as port:
        report = probe_endpoint_sync("127.0.0.1", port, FAST)
    assert (report.service, report.clickhouse, report.version) == ("clickhouse-native", True, "18.16")
    assert not report.exposed() and not report.accepted_logins
    assert {f.rule for f in report.findings} == {"plaintext-port", "stack-trace-disclosure", "version-disclosure"}
    assert {login.code for login in report.logins} == {194}


def test_fake_native_accepting_default() -> None:
    with tcp_service(fake_native(server_hello())) as port:
        report = probe_endpoint_sync("127.0.0.1", port, FAST)
    assert report.service == "clickhouse-native" and report.version == "24.8.4"
    assert "anonymous-access" in {f.rule for f in report.findings} and report.exposed()


@pytest.mark.parametrize(
    ("handler", "service", "banner"),
    [
        pytest.param(echo, "unknown", "GET /ping", id="echo server"),
        pytest.param(ssh_like, "unknown", "SSH-2.0-OpenSSH", id="ssh banner"),
        pytest.param(lookalike_http, "http", "nginx", id="HTTP that says Ok. to everything"),
        pytest.param(silent, "unknown", "(silent)", id="silent service", marks=pytest.mark.slow),
    ],
)
def test_other_services_are_not_clickhouse(handler: Callable[[socket.socket], None], service: str, banner: str) -> None:
    with tcp_service(handler) as port:
        report = probe_endpoint_sync("127.0.0.1", port, FAST)
    assert report.state == "open" and not report.clickhouse and report.findings == []
    assert report.service == service and banner in (report.banner or "")
    assert not report.exposed(Severity.INFO)


def test_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        report = probe_endpoint_sync("127.0.0.1", port, FAST)
    assert (report.state, report.service, report.clickhouse, report.findings) == ("closed", None, False, [])


@pytest.mark.parametrize(
    ("failure", "state", "detail"),
    [
        pytest.param(
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "unreachable",
            "does not resolve",
            id="name does not resolve",
        ),
        pytest.param(OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable", "No route to host", id="no route"),
        pytest.param(TimeoutError(), "filtered", "no answer within", id="no answer"),
    ],
)
def test_unreachable_hosts_are_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, failure: BaseException, state: str, detail: str
) -> None:
    # Simulated, so that no test sends anything beyond loopback (not even a DNS query).
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(transport_asyncio, "open_connection", fail)
    report = probe_endpoint_sync("db7.fleet.internal", 9000, FAST)
    assert report.state == state and detail in (report.error or "") and report.findings == []


def test_login_helper_reports_refusals_as_values() -> None:
    reply = server_exception(516)
    with tcp_service(fake_native(reply)) as port:
        result = probe.login_sync("127.0.0.1", port, protocol="native", tls=False, user="default", password="")
    assert not result.accepted and result.code == 516 and result.leaked_version == "24.8.4.13"
    assert isinstance(DataInventory("x").total_rows, int)
