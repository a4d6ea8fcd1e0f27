"""One login attempt, as a client on the network makes it: HTTP `SELECT version()` with or
without credentials, or a native Hello. The answer is recorded as a LoginResult (what the
server said, bounded), never judged here.

A password goes over TLS only as the caller decides: with `ca`, the server's certificate must
validate against that CA and name the address (hardhouse.probe.transport.verifying_context);
without it, the connection is the scanner's permissive one, fit only for public credentials.
"""

from __future__ import annotations

import re
from pathlib import Path

from hardhouse.clickhouse.codes import code_in
from hardhouse.probe import text
from hardhouse.probe.model import LoginResult
from hardhouse.probe.transport import NotTls, Unreachable, exchange
from hardhouse.probe.wire import http, native

VERSION_RE = re.compile(r"\d{1,4}\.\d{1,4}(\.\d{1,6}){0,3}")
LEAKED_VERSION_RE = re.compile(r"\(version (\d+\.\d+[\w.]{0,30})|libclickhouse\.so\.(\d+\.\d+)")
STACK_RE = re.compile(r"Stack trace|\n\s*0\. .*(0x[0-9a-f]+|\.so)")


async def login(
    host: str,
    port: int,
    *,
    protocol: str,
    tls: bool,
    user: str | None,
    password: str | None,
    timeout: float = 3.0,
    ca: Path | None = None,
) -> LoginResult:
    """One login. HTTP: `GET /?query=SELECT version()` (user None: no credentials at all).
    Native: a Hello as `user` (default: `default`) with `password` (default: empty)."""
    if protocol == "http":
        auth = None if user is None else (user, password or "")
        try:
            answer = await http_get(
                host, port, http.query_path("SELECT version()"), tls=tls, auth=auth, timeout=timeout, ca=ca
            )
        except (Unreachable, NotTls) as error:
            return LoginResult("http", tls, user, password, False, f"no session: {error}")
        return http_login_result(answer, tls, user, password)
    if protocol != "native":
        raise ValueError(f"unknown protocol {protocol!r}")
    name = "default" if user is None else user
    try:
        reply = await exchange(
            host, port, native.hello(name, password or ""), tls=tls, timeout=timeout, complete=native.complete, ca=ca
        )
    except (Unreachable, NotTls) as error:
        return LoginResult("native", tls, name, password, False, f"no session: {error}")
    try:
        parsed = native.parse_reply(reply.data)
    except (ValueError, native.Incomplete):
        return LoginResult(
            "native",
            tls,
            name,
            password,
            False,
            "no ClickHouse answer to Hello" if reply.data else "no answer to Hello",
        )
    if parsed.accepted:
        return LoginResult(
            "native",
            tls,
            name,
            password,
            True,
            "Hello answered",
            version=text.excerpt(parsed.version, text.VERSION),
            display_name=text.excerpt(parsed.display_name, text.NAME),
            clickhouse=True,
        )
    return LoginResult(
        "native",
        tls,
        name,
        password,
        False,
        f"code {parsed.code}",
        code=parsed.code,
        stack_trace=bool(parsed.stack_trace.strip()),
        leaked_version=leaked_version(parsed.message + "\n" + parsed.stack_trace),
        clickhouse=True,
    )


async def http_get(
    host: str,
    port: int,
    path: str,
    *,
    tls: bool,
    auth: tuple[str, str] | None = None,
    timeout: float = 3.0,
    ca: Path | None = None,
    limit: int | None = None,
) -> http.Response | None:
    """One GET; the answer as far as `limit` bytes (default: a small answer) allowed."""
    options = {} if limit is None else {"limit": limit}
    reply = await exchange(
        host,
        port,
        http.request(host, port, path, auth),
        tls=tls,
        timeout=timeout,
        complete=http.complete,
        ca=ca,
        **options,
    )
    return http.parse(reply.data)


def http_login_result(answer: http.Response | None, tls: bool, user: str | None, password: str | None) -> LoginResult:
    """Record the answer to `GET /?query=SELECT version()`: 200 without an error is a session."""
    if answer is None:
        return LoginResult("http", tls, user, password, False, "no HTTP answer")
    body = answer.body.strip()
    code = code_in(answer.body[:4096])
    display = text.excerpt(answer.headers.get("x-clickhouse-server-display-name"), text.NAME)
    clickhouse = bool(answer.clickhouse_headers()) or (code is not None and "Exception" in answer.body)
    if answer.status == 200 and code is None:
        version = body if VERSION_RE.fullmatch(body) else None
        return LoginResult(
            "http",
            tls,
            user,
            password,
            True,
            "SELECT version() answered",
            status=200,
            version=version,
            display_name=display,
            clickhouse=clickhouse or version is not None,
        )
    return LoginResult(
        "http",
        tls,
        user,
        password,
        False,
        f"HTTP {answer.status}, code {code}",
        code=code,
        status=answer.status,
        display_name=display,
        stack_trace=bool(STACK_RE.search(answer.body)),
        leaked_version=leaked_version(answer.body),
        clickhouse=clickhouse,
    )


def leaked_version(message: str) -> str | None:
    match = LEAKED_VERSION_RE.search(message)
    return text.excerpt(match.group(1) or match.group(2), text.VERSION) if match else None
