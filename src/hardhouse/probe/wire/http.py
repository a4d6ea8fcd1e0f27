"""HTTP/1.1 as the probe needs it: one GET request, and a response parsed from at most the bytes
the transport read (a body larger than that is reported incomplete, never read further)."""

from __future__ import annotations

import base64
import urllib.parse
from dataclasses import dataclass
from typing import Any

from hardhouse import __version__

USER_AGENT = f"hardhouse-probe/{__version__}"
HEADERS_MAX = 100  # header lines kept; a server sending more is not worth reading


def basic_auth(user: str, password: str) -> str:
    """The Authorization header value for HTTP Basic authentication."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def query_path(query: str, settings: dict[str, Any] | None = None) -> str:
    return "/?" + urllib.parse.urlencode({"query": query, **(settings or {})})


def request(host: str, port: int, path: str, auth: tuple[str, str] | None = None, body: bytes = b"") -> bytes:
    """A GET (with `body`: the rest of a query too long for a URL, which ClickHouse appends to
    the `query` parameter; still a GET, so still run read-only)."""
    host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host_header}",
        f"User-Agent: {USER_AGENT}",
        "Accept: */*",
        "Connection: close",
    ]
    if auth is not None:
        lines.append("Authorization: " + basic_auth(*auth))
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: str
    complete: bool = True  # the whole body arrived (Content-Length met, last chunk seen)

    def clickhouse_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.startswith("x-clickhouse")}


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """(body, complete) of a chunked body; tolerant of a truncated one."""
    body = bytearray()
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0 or end - pos > 64:  # a chunk-size line is short; a longer one is not HTTP
            return bytes(body), False
        try:
            size = int(data[pos:end].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return bytes(body), True
        if size == 0:
            return bytes(body), True
        start = end + 2
        body += data[start : start + size]
        if start + size > len(data):
            return bytes(body), False
        pos = start + size + 2


def parse(data: bytes, *, require_complete: bool = False) -> Response | None:
    """An HTTP/1.x response in `data`, or None (not HTTP, or incomplete when required)."""
    if not data.startswith(b"HTTP/"):
        return None
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        if require_complete:
            return None
        head, rest = data, b""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
        return None
    headers: dict[str, str] = {}
    for line in lines[1 : HEADERS_MAX + 1]:
        key, colon, value = line.partition(":")
        if colon:
            key = key.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    complete = bool(sep)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, complete = dechunk(rest)
    elif headers.get("content-length", "").isdigit():
        length = int(headers["content-length"])
        body, complete = rest[:length], len(rest) >= length
    else:
        body, complete = rest, False  # delimited by the end of the connection
    if require_complete and not complete:
        return None
    return Response(
        int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body.decode("utf-8", errors="replace"), complete
    )


def complete(data: bytes) -> bool:
    """True once `data` holds a whole HTTP response (the transport stops reading there)."""
    return parse(data, require_complete=True) is not None
