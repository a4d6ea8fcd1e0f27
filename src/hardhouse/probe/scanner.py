"""Observing endpoints, one at a time and across a fleet.

`observe_endpoint` works out what speaks at (host, port) and records it on an EndpointReport:
the first answer to GET /ping (plain, then TLS), a native Hello, a PostgreSQL SSLRequest; then
for ClickHouse the anonymous and default-credential logins, what a login could list, and the
TLS scan. Every step is bounded (hardhouse.probe.transport, hardhouse.probe.worker), and the
whole endpoint has a deadline that really ends its work. `probe_endpoint` then asks
hardhouse.probe.rules.judge for the findings; `scan_endpoints` runs many at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hardhouse.clickhouse.ports import METRICS_PORT, PROBE_PORTS, ZOOKEEPER_PORTS
from hardhouse.probe import text, zookeeper
from hardhouse.probe.endpoint import Endpoint
from hardhouse.probe.enumerate import collect_inventory, http_query_fn, inventory_from_dict
from hardhouse.probe.login import http_get, http_login_result, login
from hardhouse.probe.model import (
    DataInventory,
    EndpointReport,
    LoginResult,
    ScanReport,
    Service,
    Severity,
    State,
    TlsPosture,
)
from hardhouse.probe.rules import judge
from hardhouse.probe.targets import expand_targets
from hardhouse.probe.tls import scan_tls
from hardhouse.probe.transport import SMALL_ANSWER, Exchange, NotTls, Unreachable, exchange, port_state
from hardhouse.probe.weigh import CountLimits, count_secrets
from hardhouse.probe.wire import http, mysql, native, postgres
from hardhouse.probe.worker import JobFailed, run_job

# Well-known credentials tried after the anonymous attempt (user, password). The stock
# users.xml ships `default` and `readonly` with empty passwords; the rest are the first
# guesses of any scanner. An empty native `default` login is the anonymous attempt itself.
DEFAULT_CREDENTIALS: tuple[tuple[str, str], ...] = (
    ("default", "default"),
    ("default", "clickhouse"),
    ("default", "password"),
    ("default", "changeme"),
    ("admin", "admin"),
    ("readonly", ""),
)
DEFAULT_DEADLINE = 60.0
METRICS_ANSWER = 256 * 1024  # enough to see ClickHouse's metric names
# The web pages modern servers serve by default (the SQL console, the dashboard, the binary viewer).
WEB_UI_PATHS = ("/play", "/dashboard", "/binary")
# A real interserver request that fetches nothing: a part of a replica no table has. 18.16
# answers 401 without credentials when interserver_http_credentials are set, 200 and an empty
# body when none are (checked live); a server that serves parts to anyone is told by the status.
INTERSERVER_PART_REQUEST = (
    "/?endpoint=DataPartsExchange:/clickhouse/tables/hardhouse-probe/none/replicas/none"
    "&part=hardhouse_probe_0_0_0&compress=false"
)
INTERSERVER_AUTH_REFUSAL = "Server requires HTTP Basic authenti"  # 18.16 spells it authentification

T = TypeVar("T")


@dataclass
class ProbeOptions:
    timeout: float = 3.0  # per connection: connect, and each answer
    deadline: float = DEFAULT_DEADLINE  # per endpoint: everything the probe does with it
    credentials: tuple[tuple[str, str], ...] = DEFAULT_CREDENTIALS
    enumerate: bool = True
    tls_scan: bool = True
    ca: Path | None = None
    concurrency: int = 256
    per_host: int = 16
    workers: int = 4  # worker children at once (TLS scans, native listings, secret counts)
    count_secrets: CountLimits | None = None  # count secret-shaped rows where a login reads (opt-in)


class _Context:
    def __init__(self, options: ProbeOptions):
        self.options = options
        self.workers = asyncio.Semaphore(max(1, options.workers))


# ------------------------------------------------------------------------------ one endpoint


async def probe_endpoint(
    host: str,
    port: int,
    options: ProbeOptions | None = None,
    *,
    source: str | None = None,
    context: _Context | None = None,
) -> EndpointReport:
    """Everything the probe learns about one (host, port); never raises for network trouble
    and never runs past options.deadline."""
    options = options or ProbeOptions()
    context = context or _Context(options)
    report = EndpointReport(host, port, source)
    started = time.monotonic()
    try:
        await asyncio.wait_for(_observe(report, context), options.deadline)
    except Unreachable as error:
        report.state, report.error = State(error.state), error.detail
    except TimeoutError:
        report.error = f"probe did not finish within {options.deadline:g}s (--deadline)"
        report.state = report.state if report.state == State.OPEN else State.ERROR
    except Exception as error:  # one odd endpoint must not stop a fleet scan; say what happened
        report.error = text.excerpt(f"{type(error).__name__}: {error}")
        if report.state != State.OPEN:
            report.state = State.ERROR
    report.findings, report.notes = judge(report, options.ca is not None)
    report.elapsed = time.monotonic() - started
    return report


def _first_answer_complete(data: bytes) -> bool:
    """Stop reading the answer to GET /ping once it is a whole HTTP response or clearly not HTTP."""
    if data.startswith(b"HTTP/"[: len(data)]) and len(data) < 5:
        return False
    if data.startswith(b"HTTP/"):
        return http.complete(data)
    if mysql.parse_greeting(data) is not None:
        return mysql.greeting_complete(data)
    return data.endswith(b"\n") or len(data) >= 4096


async def _observe(report: EndpointReport, context: _Context) -> None:
    host, port, timeout = report.host, report.port, context.options.timeout
    ping = http.request(host, port, "/ping")
    plain = await exchange(host, port, ping, timeout=timeout, complete=_first_answer_complete, limit=SMALL_ANSWER)
    report.state = State.OPEN
    if await _identify(report, plain, False, context):
        return
    try:
        secure: Exchange | None = await exchange(
            host, port, ping, tls=True, timeout=timeout, complete=_first_answer_complete, limit=SMALL_ANSWER
        )
    except (NotTls, Unreachable):
        secure = None
    if secure is not None:
        report.tls = True
        if await _identify(report, secure, True, context):
            return
        zookeeper_first = port in ZOOKEEPER_PORTS  # Keeper's TLS port (9281)
        if not secure.data and zookeeper_first and await _try_zookeeper(report, True, context):
            return
        if not secure.data and await _try_native(report, True, context):
            return
        if not secure.data and not zookeeper_first and await _try_zookeeper(report, True, context):
            return
        report.service = report.service or Service.TLS
        report.banner = report.banner or _banner(secure.data)
        return
    if plain.data:
        report.service = Service.UNKNOWN
        report.banner = _banner(plain.data)
        return
    # ZooKeeper waits for a whole frame after a native Hello: on its usual ports ask it first.
    if port in ZOOKEEPER_PORTS and await _try_zookeeper(report, False, context):
        return
    if await _try_native(report, False, context):
        return
    # Elsewhere the ZooKeeper question goes out with the PostgreSQL one: a silent port costs one timeout.
    pg, found = await asyncio.gather(
        exchange(host, port, postgres.SSL_REQUEST, timeout=timeout, complete=lambda d: len(d) >= 1, limit=16),
        zookeeper.detect(host, port, False, timeout) if port not in ZOOKEEPER_PORTS else _nothing(),
    )
    if found is not None:
        await zookeeper.observe(report, found, False, timeout, context.options.deadline, context.workers)
        return
    if postgres.answers_ssl_request(pg.data):
        report.service = Service.POSTGRESQL
        report.banner = "PostgreSQL protocol (login not attempted)"
        return
    report.service = Service.UNKNOWN
    report.banner = "(silent)" if not plain.eof else "(closes without a word)"


def _banner(data: bytes, size: int = text.BANNER) -> str | None:
    if not data:
        return None
    shown = "".join(c if 32 <= ord(c) < 127 else "." for c in data[:size].decode("latin-1"))
    return shown + ("..." if len(data) > size else "")


async def _identify(report: EndpointReport, answer: Exchange, tls: bool, context: _Context) -> bool:
    """Classify the answer to GET /ping; True when the endpoint is fully handled."""
    response = http.parse(answer.data)
    if response is not None:
        report.tls = tls
        if native.MARKER_ON_HTTP in response.body:
            await _native_endpoint(report, tls, context, None)
        else:
            await _http_endpoint(report, response, tls, context)
        return True
    greeting = mysql.parse_greeting(answer.data)
    if greeting is not None:
        report.tls = tls
        shown = text.excerpt(greeting, text.VERSION)
        is_clickhouse = "clickhouse" in greeting.lower()
        report.service = Service.CLICKHOUSE_MYSQL if is_clickhouse else Service.MYSQL
        report.clickhouse = is_clickhouse
        report.banner = f"MySQL protocol, server {shown} (login not attempted)"
        if is_clickhouse:
            report.version = (shown or "").split("-")[0] or None
            report.mysql_greeting = shown
        return True
    return False  # silent, closed, a TLS alert or an unknown banner: the caller tries TLS / native next


async def _try_native(report: EndpointReport, tls: bool, context: _Context) -> bool:
    first = await login(
        report.host,
        report.port,
        protocol="native",
        tls=tls,
        user="default",
        password="",
        timeout=context.options.timeout,
    )
    if not first.clickhouse:
        return False
    report.tls = tls
    await _native_endpoint(report, tls, context, first)
    return True


async def _nothing() -> None:
    return None


async def _try_zookeeper(report: EndpointReport, tls: bool, context: _Context) -> bool:
    answer = await zookeeper.detect(report.host, report.port, tls, context.options.timeout)
    if answer is None:
        return False
    await zookeeper.observe(report, answer, tls, context.options.timeout, context.options.deadline, context.workers)
    return True


async def _credential_logins(
    report: EndpointReport, protocol: str, tls: bool, context: _Context, skip: set[tuple[str, str]]
) -> None:
    for user, password in context.options.credentials:
        if (user, password) not in skip:
            report.logins.append(
                await login(
                    report.host,
                    report.port,
                    protocol=protocol,
                    tls=tls,
                    user=user,
                    password=password,
                    timeout=context.options.timeout,
                )
            )


async def _http_endpoint(report: EndpointReport, ping: http.Response, tls: bool, context: _Context) -> None:
    host, port, options = report.host, report.port, context.options
    report.service = Service.HTTPS if tls else Service.HTTP
    report.banner = text.excerpt(ping.headers.get("server"), text.BANNER) or f"HTTP {ping.status}"
    raw = await http_get(host, port, http.query_path("SELECT version()"), tls=tls, timeout=options.timeout)
    anonymous = http_login_result(raw, tls, None, None)
    body = raw.body if raw is not None else ""
    if ("Poco::Exception" in body and "Not found: endpoint" in body) or (
        raw is not None and raw.status == 401 and INTERSERVER_AUTH_REFUSAL in body
    ):
        report.service = Service.CLICKHOUSE_INTERSERVER_TLS if tls else Service.CLICKHOUSE_INTERSERVER
        report.clickhouse = True
        report.interserver = True
        part = await http_get(host, port, INTERSERVER_PART_REQUEST, tls=tls, timeout=options.timeout)
        report.interserver_status = None if part is None else part.status
        return
    if not (anonymous.clickhouse or (ping.body == "Ok.\n" and ping.clickhouse_headers())):
        if port == METRICS_PORT:
            metrics = await http_get(host, port, "/metrics", tls=tls, timeout=options.timeout, limit=METRICS_ANSWER)
            if (
                metrics is not None
                and metrics.status == 200
                and ("ClickHouseProfileEvents_" in metrics.body or "ClickHouseMetrics_" in metrics.body)
            ):
                report.service = Service.CLICKHOUSE_METRICS
                report.clickhouse = True
                report.metrics = True
        return
    report.clickhouse = True
    report.service = Service.CLICKHOUSE_HTTPS if tls else Service.CLICKHOUSE_HTTP
    report.banner = None
    report.logins.append(anonymous)
    report.web_ui = await _web_pages(host, port, tls, options.timeout)
    if options.credentials:
        await _credential_logins(report, "http", tls, context, skip={("default", "")} if anonymous.accepted else set())
    display = next((login.display_name for login in report.logins if login.display_name), None)
    await _after_logins(
        report, tls, context, display or text.excerpt(ping.headers.get("x-clickhouse-server-display-name"), text.NAME)
    )


async def _web_pages(host: str, port: int, tls: bool, timeout: float) -> list[str]:
    """The built-in web pages this ClickHouse serves to anyone (a small answer read of each)."""
    served = []
    for path in WEB_UI_PATHS:
        answer = await http_get(host, port, path, tls=tls, timeout=timeout)
        head = "" if answer is None else answer.body[:2048].lower()
        if answer is not None and answer.status == 200 and ("<html" in head or "<!doctype html" in head):
            served.append(path)
    return served


async def _native_endpoint(report: EndpointReport, tls: bool, context: _Context, first: LoginResult | None) -> None:
    options = context.options
    report.clickhouse = True
    report.service = Service.CLICKHOUSE_NATIVE_TLS if tls else Service.CLICKHOUSE_NATIVE
    if first is None:
        first = await login(
            report.host, report.port, protocol="native", tls=tls, user="default", password="", timeout=options.timeout
        )
    report.logins.append(first)
    if options.credentials:
        await _credential_logins(report, "native", tls, context, skip={("default", "")})
    await _after_logins(
        report, tls, context, next((login.display_name for login in report.logins if login.display_name), None)
    )


async def _after_logins(report: EndpointReport, tls: bool, context: _Context, display_name: str | None) -> None:
    """What a login could read, and the TLS scan: observations the rules judge later."""
    options = context.options
    accepted = report.accepted_logins
    report.version = next((login.version for login in report.logins if login.version), None)
    if not accepted:
        report.version = report.version or next(
            (login.leaked_version for login in report.logins if login.leaked_version), None
        )
    report.display_name = display_name
    if accepted and options.enumerate:
        report.inventory = await _inventory(report, accepted[0], tls, context)
    if accepted and options.count_secrets is not None:
        report.secret_count = await count_secrets(
            report.host, report.port, accepted[0], tls, options.timeout, options.count_secrets, context.workers
        )
    if tls and options.tls_scan:
        async with context.workers:
            report.tls_posture = await scan_tls(
                report.host, report.port, ca=options.ca, timeout=options.timeout, deadline=options.deadline
            )


async def _inventory(report: EndpointReport, best: LoginResult, tls: bool, context: _Context) -> DataInventory:
    options = context.options
    via = f"{best.protocol} as {best.who}"
    try:
        if best.protocol == "http":
            auth = None if best.user is None else (best.user, best.password or "")
            return await collect_inventory(http_query_fn(report.host, report.port, tls, auth, options.timeout), via)
        arguments = {
            "host": report.host,
            "port": report.port,
            "tls": tls,
            "user": best.user or "default",
            "password": best.password or "",
            "timeout": options.timeout,
            "via": via,
        }
        async with context.workers:
            return inventory_from_dict(await run_job("native_inventory", arguments, options.deadline))
    except JobFailed as error:  # the listing is extra evidence; the access finding stands without it
        return DataInventory(via, errors=[f"listing: {error}"])


# ------------------------------------------------------------------------------ a fleet


async def scan_endpoints(
    endpoints: Sequence[Endpoint],
    options: ProbeOptions | None = None,
    on_result: Callable[[EndpointReport], None] | None = None,
) -> list[EndpointReport]:
    """Probe every endpoint with at most `concurrency` in flight (and `per_host` per host); the
    whole scan takes at most about ceil(endpoints / concurrency) x deadline."""
    options = options or ProbeOptions()
    context = _Context(options)
    per_host: dict[str, asyncio.Semaphore] = {}
    results: list[EndpointReport] = []
    pending: Iterator[Endpoint] = iter(endpoints)

    async def worker() -> None:
        for endpoint in pending:  # one shared iterator: each endpoint goes to exactly one worker
            gate = per_host.setdefault(endpoint.host, asyncio.Semaphore(max(1, options.per_host)))
            async with gate:
                result = await probe_endpoint(
                    endpoint.host, endpoint.port, options, source=endpoint.source, context=context
                )
            results.append(result)
            if on_result is not None:
                on_result(result)

    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(_quiet_exception_handler)
    asyncio_logger = logging.getLogger("asyncio")
    level = asyncio_logger.level
    asyncio_logger.setLevel(logging.CRITICAL)  # half-closed TLS sessions of odd servers are expected noise
    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(options.concurrency, len(endpoints))))))
    finally:
        loop.set_exception_handler(previous)
        asyncio_logger.setLevel(level)
    return results


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), ssl.SSLError | ConnectionError | OSError):
        return
    loop.default_exception_handler(context)


def run_scan(
    targets: list[str],
    endpoints: Sequence[Endpoint],
    options: ProbeOptions | None = None,
    *,
    fail_on: Severity = Severity.HIGH,
    on_result: Callable[[EndpointReport], None] | None = None,
) -> ScanReport:
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    results = run_sync(scan_endpoints(endpoints, options, on_result))
    return ScanReport(targets, results, started.isoformat(timespec="seconds"), time.monotonic() - clock, fail_on)


def scan(
    targets: Sequence[str],
    options: ProbeOptions | None = None,
    *,
    ports: Sequence[int] = PROBE_PORTS,
    max_hosts: int | None = None,
    fail_on: Severity = Severity.HIGH,
    on_result: Callable[[EndpointReport], None] | None = None,
) -> ScanReport:
    """Blocking entry point: targets -> ScanReport. Raises TargetError for bad targets."""
    endpoints, _ = expand_targets(targets, ports, **({"max_hosts": max_hosts} if max_hosts else {}))
    return run_scan(list(targets), endpoints, options, fail_on=fail_on, on_result=on_result)


def run_sync(coroutine: Awaitable[T]) -> T:
    """Run a coroutine from blocking code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]


def probe_endpoint_sync(host: str, port: int, options: ProbeOptions | None = None) -> EndpointReport:
    return run_sync(probe_endpoint(host, port, options))


def login_sync(host: str, port: int, **kwargs: Any) -> LoginResult:
    return run_sync(login(host, port, **kwargs))


def port_state_sync(host: str, port: int, timeout: float = 3.0) -> tuple[str, str]:
    return run_sync(port_state(host, port, timeout))


def tls_posture(host: str, port: int, *, ca: Path | None = None, timeout: float = 5.0) -> TlsPosture:
    """scan_tls for blocking callers (assertions)."""
    return run_sync(scan_tls(host, port, ca=ca, timeout=timeout))
