"""HH-HTTP-2 seen from the network: the probe asks a ClickHouse HTTP interface for its built-in
web pages (/play, /dashboard, /binary) and reports the ones served.

No modern ClickHouse server runs here (chdb-core has no listener), so the served case is a
loopback lookalike answering /play and /dashboard with a page, the hardened case the same lookalike
answering as a server with http_handlers and no <defaults/> would (the dynamic query handler's
"Empty query" error, an assumption from ClickHouse's handler code, not observed here); live
18.16 serves no page (404: tests/render/test_live_18_16_http_and_egress.py).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from hardhouse.probe import ProbeOptions, probe_endpoint_sync
from tests.probe.fakes import http_answer, read_request, tcp_service

FAST = ProbeOptions(timeout=0.5, enumerate=False, tls_scan=False)
PLAY = b"<!DOCTYPE html>\n<html>\n<head><title>ClickHouse Query</title></head><body></body></html>\n"
EMPTY_QUERY = b"Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR) (version 24.8.4.13 (official build))\n"


def server(pages: dict[bytes, bytes]) -> Callable[[socket.socket], None]:
    """A ClickHouse lookalike that lets anyone in and serves the given web pages; any other
    web page path gets the dynamic query handler's error, as without <defaults/>."""

    def handle(conn: socket.socket) -> None:
        request = read_request(conn)
        path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
        if path in pages:
            conn.sendall(http_answer(b"200 OK", pages[path]))
        elif path in (b"/play", b"/dashboard", b"/binary"):
            conn.sendall(http_answer(b"400 Bad Request", EMPTY_QUERY))
        elif path == b"/ping":
            conn.sendall(http_answer(b"200 OK", b"Ok.\n"))
        elif b"SELECT+version%28%29" in request or b"SELECT%20version()" in request:
            conn.sendall(http_answer(b"200 OK", b"24.8.4.13\n"))
        else:
            conn.sendall(http_answer(b"200 OK", b'{"data": []}'))

    return handle


def web_findings(pages: dict[bytes, bytes]) -> list[str]:
    with tcp_service(server(pages)) as port:
        report = probe_endpoint_sync("127.0.0.1", port, FAST)
    assert report.clickhouse
    return [f.message for f in report.findings if f.rule == "web-ui-served"]


def test_served_web_pages_are_reported() -> None:
    (message,) = web_findings({b"/play": PLAY, b"/dashboard": PLAY})
    assert "/play, /dashboard" in message


def test_a_server_without_them_is_not() -> None:
    assert web_findings({}) == []


@pytest.mark.parametrize("body", [b"Ok.\n", b'{"data": []}'])
def test_a_200_that_is_not_a_page_is_not(body: bytes) -> None:
    assert web_findings({b"/play": body}) == []
