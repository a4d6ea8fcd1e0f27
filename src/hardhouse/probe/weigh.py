"""--count-secrets: the weight of an exposure. Where a login without a password (or with a public
default one) could read, count the secret-shaped rows of each readable table the way
`hardhouse scan` does: the scan's own read-only decision (hardhouse.scan.run.read_only_settings),
catalog, plan, count query and judgement, over the login and protocol that proved the read.
ClickHouse computes every count; the answers are integers, so no value leaves the server.

The scan talks through a Query (sql, settings) -> rows that raises ServerError or Unreachable
(hardhouse.clickhouse.native). Here there are two, both in the worker child (memory capped,
killed at the deadline, hardhouse.probe.worker):
  native  clickhouse-driver, TLS unverified like the probe's logins (only public credentials go over it)
  http    one GET per query through the probe's bounded transport: settings in the URL, the
          query's first word in `query` and the rest in the body (18.16 refuses URLs over 16 KiB;
          ClickHouse appends the body to `query`, and a GET stays read-only), FORMAT JSON with
          its 64-bit integers (quoted strings in JSON) read back as integers by their type

Bounds: rows and seconds per table (the scan's --max-rows and --max-seconds), tables per
endpoint (the most likely first: names that suggest secrets, then the most rows), and time per
endpoint (no table is started that could end past it; the child is killed at it regardless).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hardhouse.probe import text
from hardhouse.probe.model import CountedTable, RuleCount, SecretCount

if TYPE_CHECKING:
    import asyncio

    from hardhouse.probe.model import LoginResult
    from hardhouse.scan.run import Query

START_MARGIN = 5.0  # seconds a worker child may take to start and answer beyond the count's own budget
UNDECIDED_KEPT = 20  # tables undecided before any count (a refused name, ...) told by name
MATCHES_KEPT = 50  # (column, rule) counts kept per table, the largest first: the answer stays small
INTEGER_TYPE = re.compile(r"^(?:Nullable\()?U?Int(?:64|128|256)\)?$")  # JSON quotes these
INTEGER_TEXT = re.compile(r"^-?\d{1,80}$")


@dataclass(frozen=True)
class CountLimits:
    max_rows: int = 100_000  # rows examined per table
    max_seconds: float = 5.0  # per table: max_execution_time where the session may set it
    max_tables: int = 20  # tables counted per endpoint
    total_seconds: float = 20.0  # everything the count does at one endpoint


# ------------------------------------------------------------------------------ in the parent


async def count_secrets(
    host: str, port: int, login: LoginResult, tls: bool, timeout: float, limits: CountLimits, workers: asyncio.Semaphore
) -> SecretCount:
    """The count over `login` (an accepted one), in a worker child killed after the budget."""
    from hardhouse.probe.worker import JobFailed, run_job

    via = f"{login.protocol} as {login.who}"
    arguments = {
        "host": host,
        "port": port,
        "protocol": login.protocol,
        "tls": tls,
        "user": login.user,
        "password": login.password or "",
        "timeout": timeout,
        "limits": asdict(limits),
        "via": via,
    }
    try:
        async with workers:
            return SecretCount.from_dict(await run_job("count_secrets", arguments, limits.total_seconds + START_MARGIN))
    except JobFailed as error:
        return SecretCount(via, max_rows=limits.max_rows, max_seconds=limits.max_seconds, error=f"count: {error}")


# ------------------------------------------------------------------------------ in the child


def count_job(
    host: str,
    port: int,
    protocol: str,
    tls: bool,
    user: str | None,
    password: str,
    timeout: float,
    limits: dict[str, Any],
    via: str,
) -> dict[str, Any]:
    chosen = CountLimits(**limits)
    if protocol == "http":
        query, close = http_query(host, port, tls, None if user is None else (user, password), timeout, chosen)
    else:
        query, close = native_query(host, port, tls, user or "default", password, timeout, chosen)
    try:
        return asdict(count(query, via, chosen))
    finally:
        close()


def count(query: Query, via: str, limits: CountLimits, clock: Callable[[], float] = time.monotonic) -> SecretCount:
    """The scan's steps, bounded for a probe: read-only first, then at most max_tables count
    queries, none started that could end after total_seconds."""
    from hardhouse.probe.enumerate import sensitive_reason
    from hardhouse.scan.run import (
        GIVE_UP_AFTER,
        ScanError,
        ScanOptions,
        catalog,
        count_table,
        plan,
        read_only_settings,
    )
    from hardhouse.scan.sent import CLIENT_MARGIN

    ends = clock() + limits.total_seconds
    report = SecretCount(via, max_rows=limits.max_rows, max_seconds=limits.max_seconds)
    options = ScanOptions(max_rows=limits.max_rows, max_seconds=limits.max_seconds)
    try:
        settings, report.read_only, notes = read_only_settings(query, limits.max_seconds)
        entries = catalog(query, settings, options)
    except ScanError as error:
        report.error = text.excerpt(str(error))
        return report
    if any("break" in note for note in notes):
        report.error = text.excerpt(notes[0])  # an overflow mode of break could cut a count short silently
        return report
    planned = [(entry, plan(entry, options)) for entry in entries]
    askable = [(entry, asked) for entry, asked in planned if asked is not None]
    # A table the scan would call undecided without asking (a refused name, an engine it does not
    # read, a query too large) is told, up to a bound; those with no rows or no text are skipped.
    undecided = [entry.result for entry, asked in planned if asked is None and entry.result.incomplete]
    report.skipped = len(planned) - len(askable) - min(len(undecided), UNDECIDED_KEPT)
    # Those most likely to hold secrets first: a name that says so, then the most rows.
    askable.sort(key=lambda pair: (sensitive_reason(pair[0].table.text) is None, -(pair[0].result.total_rows or 0)))
    silent = 0
    for entry, asked in askable:
        result = entry.result
        worst = limits.max_seconds + CLIENT_MARGIN
        if len(report.tables) >= limits.max_tables or clock() + worst > ends or silent >= GIVE_UP_AFTER:
            report.not_counted += 1
            continue
        silent = 0 if count_table(query, result, asked, settings, options) else silent + 1
        matches = sorted(result.matches, key=lambda match: -match.rows)[:MATCHES_KEPT]
        report.tables.append(
            CountedTable(
                text.excerpt(result.database, text.NAME) or "",
                text.excerpt(result.table, text.NAME) or "",
                str(result.status),
                result.examined,
                result.total_rows,
                result.sample,
                [RuleCount(text.excerpt(m.column, text.NAME) or "", m.rule, m.rows) for m in matches],
                text.excerpt(result.reason) if result.reason else None,
            )
        )
    for result in undecided[:UNDECIDED_KEPT]:
        report.tables.append(
            CountedTable(
                text.excerpt(result.database, text.NAME) or "",
                text.excerpt(result.table, text.NAME) or "",
                str(result.status),
                reason=text.excerpt(result.reason),
            )
        )
    return report


def _unreachable(detail: str) -> Exception:
    from hardhouse.clickhouse.native import Unreachable

    return Unreachable(text.excerpt(detail) or "")


def json_rows(body: str) -> list[dict[str, Any]]:
    """FORMAT JSON's rows, each 64-bit integer (a quoted string in JSON) read back as an int
    by its column's type; anything else is an unreadable answer (Unreachable)."""
    try:
        document = json.loads(body)
        types = {column["name"]: str(column["type"]) for column in document["meta"]}
        rows = document["data"]
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise TypeError("rows are not objects")
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise _unreachable(f"unreadable answer: {type(error).__name__}") from None
    for row in rows:
        for name, value in row.items():
            if isinstance(value, str) and INTEGER_TYPE.match(types.get(name, "")) and INTEGER_TEXT.match(value):
                row[name] = int(value)
    return rows


def http_query(
    host: str, port: int, tls: bool, auth: tuple[str, str] | None, timeout: float, limits: CountLimits
) -> tuple[Query, Callable[[], None]]:
    """Queries as GETs through the probe's transport, each answer at most LISTING_ANSWER bytes
    and max_seconds + CLIENT_MARGIN seconds (connection included)."""
    import asyncio

    from hardhouse.clickhouse.codes import code_in
    from hardhouse.clickhouse.native import ServerError
    from hardhouse.probe.transport import LISTING_ANSWER, NotTls, Unreachable, exchange
    from hardhouse.probe.wire import http
    from hardhouse.scan.sent import CLIENT_MARGIN

    def run(sql: str, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        first, _, rest = sql.partition(" ")
        payload = http.request(
            host, port, http.query_path(first, dict(settings)), auth, body=(rest + " FORMAT JSON").encode()
        )
        try:
            reply = asyncio.run(
                exchange(
                    host,
                    port,
                    payload,
                    tls=tls,
                    timeout=max(timeout, limits.max_seconds + CLIENT_MARGIN),
                    complete=http.complete,
                    limit=LISTING_ANSWER,
                )
            )
        except (Unreachable, NotTls) as error:
            raise _unreachable(f"no connection: {error}") from None
        answer = http.parse(reply.data)
        if answer is None:
            raise _unreachable("no HTTP answer in time")
        if answer.status != 200:
            code = code_in(answer.body[:4096])
            if code is None:
                raise _unreachable(f"HTTP {answer.status} without a ClickHouse error code")
            raise ServerError(code, "")  # a server's message may quote data: the code alone is kept
        if not answer.complete:
            raise _unreachable(f"answer larger than {LISTING_ANSWER} bytes, or cut short")
        return json_rows(answer.body)

    return run, lambda: None


def native_query(
    host: str, port: int, tls: bool, user: str, password: str, timeout: float, limits: CountLimits
) -> tuple[Query, Callable[[], None]]:
    """Queries through clickhouse-driver, each waited for max_seconds + CLIENT_MARGIN at most."""
    from hardhouse.clickhouse.driver import Client, DriverError, ServerException
    from hardhouse.clickhouse.native import ServerError
    from hardhouse.probe.model import CLIENT_NAME
    from hardhouse.scan.sent import CLIENT_MARGIN

    client = Client(
        host,
        port=port,
        user=user,
        password=password,
        client_name=CLIENT_NAME,
        connect_timeout=timeout,
        send_receive_timeout=limits.max_seconds + CLIENT_MARGIN,
        sync_request_timeout=timeout,
        **({"secure": True, "verify": False} if tls else {}),
    )

    def run(sql: str, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        try:
            data, columns = client.execute(sql, settings=dict(settings) or None, with_column_types=True)
        except ServerException as error:
            raise ServerError(int(error.code), "") from None
        except (DriverError, OSError, EOFError, ValueError) as error:
            raise _unreachable(f"{type(error).__name__}: {error}") from None
        names = [name for name, _ in columns]
        return [dict(zip(names, row, strict=True)) for row in data]

    return run, client.disconnect
