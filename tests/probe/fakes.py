"""Small servers on loopback for the probe's tests: ClickHouse lookalikes, other services, and
hostile endpoints (endless bodies, tarpits, garbage), each on a port of its own."""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hardhouse.clickhouse.native import ServerError, Unreachable


@contextmanager
def tcp_service(
    handle: Callable[[socket.socket], None],
    tls: tuple[Path, Path] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[int]:
    """Serve `handle(conn)` on `port` (default: a free one) of `host` (a loopback address), for
    every connection (TLS with (certificate, key) if given)."""
    context = None
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn = self.request
            try:
                if context is not None:
                    conn = context.wrap_socket(conn, server_side=True)
                handle(conn)
            except (OSError, ssl.SSLError):
                pass

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 64

    server = Server((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(2)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def http_answer(status: bytes, body: bytes, headers: bytes = b"X-ClickHouse-Server-Display-Name: db1\r\n") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\n" + headers + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def clickhouse_http(listing: Callable[[socket.socket], None] | None = None) -> Callable[[socket.socket], None]:
    """A ClickHouse HTTP interface that lets anyone in; `listing` answers the listing queries."""

    def handle(conn: socket.socket) -> None:
        request = read_request(conn)
        if request.startswith(b"GET /ping"):
            conn.sendall(http_answer(b"200 OK", b"Ok.\n"))
        elif b"SELECT+version%28%29" in request or b"SELECT%20version()" in request:
            conn.sendall(http_answer(b"200 OK", b"24.8.4.13\n"))
        elif listing is not None:
            listing(conn)
        else:
            conn.sendall(http_answer(b"200 OK", b'{"data": []}'))

    return handle


def endless_chunked(conn: socket.socket) -> None:
    """A 200 whose chunked body never ends."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-ClickHouse-Query-Id: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"ffff\r\n" + b"A" * 0xFFFF + b"\r\n"
    while True:
        conn.sendall(chunk)


def huge_content_length(conn: socket.socket) -> None:
    """Announces a terabyte and sends as fast as it can."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-ClickHouse-Query-Id: x\r\nContent-Length: 1000000000000\r\n\r\n")
    block = b'{"data": [["' + b"B" * 65536
    while True:
        conn.sendall(block)


def drip(payload: bytes, every: float = 1.0) -> Callable[[socket.socket], None]:
    """A tarpit: one byte of `payload` every `every` seconds, then silence."""

    def handle(conn: socket.socket) -> None:
        conn.settimeout(every + 1)
        try:
            conn.recv(4096)
        except OSError:
            pass
        for byte in payload:
            conn.sendall(bytes([byte]))
            time.sleep(every)
        time.sleep(60)

    return handle


def tls_silent(conn: socket.socket) -> None:
    """Reads the ClientHello (or anything) and never answers."""
    conn.settimeout(120)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def garbage(payload: bytes) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            conn.recv(4096)
        except OSError:
            pass
        conn.sendall(payload)
        time.sleep(0.5)

    return handle


def read_http_query(conn: socket.socket) -> tuple[str, dict[str, str], str]:
    """(path, URL parameters, query) of one request: `query` joined with the body as ClickHouse
    joins them (the probe's --count-secrets sends the rest of a long query in the body)."""
    head = read_request(conn)
    header, _, body = head.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
    while len(body) < min(length, 1 << 20):
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    target = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
    path, _, query_string = target.partition("?")
    params = dict(urllib.parse.parse_qsl(query_string, keep_blank_values=True))
    query = params.pop("query", "")
    if body:
        query = (query + " " if query else "") + body.decode("utf-8", errors="replace")
    return path, params, query


def json_answer(rows: list[dict[str, Any]]) -> bytes:
    """Rows as ClickHouse's FORMAT JSON writes them: 64-bit integers as quoted strings."""
    names = list(rows[0]) if rows else []
    meta = [{"name": n, "type": "UInt64" if isinstance(rows[0][n], int) else "String"} for n in names]
    data = [{n: str(v) if isinstance(v, int) else v for n, v in row.items()} for row in rows]
    return json.dumps({"meta": meta, "data": data, "rows": len(data)}).encode()


def scanning_clickhouse(
    answer: Callable[[str, dict[str, str]], list[dict[str, Any]]],
    sent: list[str] | None = None,
    on_count: Callable[[socket.socket], None] | None = None,
) -> Callable[[socket.socket], None]:
    """A ClickHouse HTTP interface open to anyone that answers the listing queries with nothing
    and the scan's queries (FORMAT JSON) with `answer(sql, settings)` (tests.scan.fake.FakeServer);
    `on_count` takes over the connection of each count query (slow, endless, ...). Every query
    received is appended to `sent`."""

    def handle(conn: socket.socket) -> None:
        path, params, query = read_http_query(conn)
        if sent is not None:
            sent.append(query)
        if path == "/ping":
            conn.sendall(http_answer(b"200 OK", b"Ok.\n"))
        elif query == "SELECT version()":
            conn.sendall(http_answer(b"200 OK", b"24.8.4.13\n"))
        elif query.endswith(" FORMAT JSON"):
            sql = query.removesuffix(" FORMAT JSON")
            if on_count is not None and sql.startswith("SELECT count() AS examined"):
                on_count(conn)
                return
            try:
                rows = answer(sql, params)
            except ServerError as error:
                body = f"Code: {error.code}, e.displayText() = DB::Exception: refused".encode()
                conn.sendall(http_answer(b"500 Internal Server Error", body))
                return
            except Unreachable:
                return  # close without a word
            conn.sendall(http_answer(b"200 OK", json_answer(rows)))
        elif path == "/" and query:
            conn.sendall(http_answer(b"200 OK", b'{"data": []}'))
        else:
            conn.sendall(http_answer(b"404 Not Found", b"no"))

    return handle
