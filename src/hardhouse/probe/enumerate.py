"""What a logged-in attacker could read: databases, tables, row counts and column names, never
a row of data. Read-only listings only (HTTP GET, which ClickHouse runs read-only, or native
queries with readonly=1), each answer bounded in bytes and time, every name bounded in length.

Over HTTP the listing runs here on asyncio; over the native protocol it needs
clickhouse-driver, a blocking client, so it runs in a worker child (hardhouse.probe.worker).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

from hardhouse.clickhouse.codes import READONLY, code_in
from hardhouse.probe import text
from hardhouse.probe.model import CLIENT_NAME, DataInventory, TableInfo
from hardhouse.probe.transport import LISTING_ANSWER, exchange
from hardhouse.probe.wire import http

QUERY_TIMEOUT = 10  # seconds a listing query may run on the server (max_execution_time)
MAX_DATABASES = 1000
MAX_TABLES = 2000
MAX_COLUMNS = 200  # per table
MAX_COUNT_QUERIES = 50
# Engines whose `SELECT count()` reads only local storage. Never Kafka/RabbitMQ/NATS/S3Queue
# (reading consumes messages) nor URL/MySQL/... (it would send traffic elsewhere).
COUNTABLE_ENGINES = frozenset({"Memory", "Log", "TinyLog", "StripeLog"})
# Only the system tables that hold query text or logs are listed (they leak other users'
# queries); the rest of `system` is the same on every server.
SCOPE_TABLES = "(database != 'system' OR endsWith(name, '_log'))"
SCOPE_COLUMNS = "(database != 'system' OR endsWith(table, '_log'))"

SENSITIVE_WORDS = frozenset(
    {
        "log",
        "logs",
        "chat",
        "chats",
        "message",
        "messages",
        "msg",
        "msgs",
        "conversation",
        "conversations",
        "prompt",
        "prompts",
        "completion",
        "completions",
        "token",
        "tokens",
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "credential",
        "credentials",
        "email",
        "emails",
        "mail",
        "phone",
        "ssn",
        "session",
        "sessions",
        "cookie",
        "cookies",
        "auth",
        "otp",
        "iban",
    }
)
SENSITIVE_COMPOUNDS = ("apikey", "accesskey", "secretkey", "privatekey", "creditcard", "cardnumber", "bearer")

Rows = list[Sequence[Any]]
QueryFn = Callable[[str], Awaitable[Rows]]


class QueryError(Exception):
    def __init__(self, code: int | None, message: str):
        super().__init__(message)
        self.code = code


def sensitive_reason(name: str) -> str | None:
    """Why a table or column name suggests secrets or personal data, or None."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    compact = re.sub(r"[^a-z0-9]", "", snake)
    for compound in SENSITIVE_COMPOUNDS:
        if compound in compact:
            return compound
    for token in re.split(r"[^a-z0-9]+", snake):
        if token in SENSITIVE_WORDS:
            return token
    return None


def _name(value: Any) -> str:
    return text.excerpt(str(value), text.NAME) or ""


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


async def collect_inventory(query: QueryFn, via: str, max_tables: int = MAX_TABLES) -> DataInventory:
    """Databases, tables, row counts and column names through `query` (read-only SELECTs)."""
    inventory = DataInventory(via)
    try:
        databases = await query(f"SELECT name FROM system.databases LIMIT {MAX_DATABASES}")
        inventory.databases = sorted(_name(row[0]) for row in databases)
        rows = await query(
            f"SELECT database, name, engine FROM system.tables WHERE {SCOPE_TABLES} "
            f"ORDER BY database, name LIMIT {max_tables + 1}"
        )
    except QueryError as error:
        inventory.errors.append(f"listing refused: {error}")
        return inventory
    inventory.truncated = len(rows) > max_tables
    # Keyed by the server's own names (for matching later answers); only bounded excerpts are kept.
    raw = {(str(r[0]), str(r[1])): TableInfo(_name(r[0]), _name(r[1]), _name(r[2])) for r in rows[:max_tables]}
    try:
        counts = await query(
            f"SELECT database, name, total_rows FROM system.tables WHERE {SCOPE_TABLES} LIMIT {max_tables + 1}"
        )
    except QueryError:  # servers before 19.x have no total_rows: sum the active parts instead
        try:
            counts = await query(
                f"SELECT database, table, sum(rows) FROM system.parts WHERE active AND {SCOPE_COLUMNS} "
                f"GROUP BY database, table LIMIT {max_tables + 1}"
            )
        except QueryError as error:
            counts = []
            inventory.errors.append(f"row counts: {error}")
    for database, name, total in counts:
        table = raw.get((str(database), str(name)))
        if table is not None and isinstance(total, int | str) and str(total).isdigit():
            table.rows = int(total)
    counted = 0
    for (database, name), table in raw.items():
        if (
            table.rows is None
            and (table.engine in COUNTABLE_ENGINES or table.engine.endswith("MergeTree"))
            and counted < MAX_COUNT_QUERIES
        ):
            counted += 1
            try:
                table.rows = int((await query(f"SELECT count() FROM {_quote(database)}.{_quote(name)}"))[0][0])
            except (QueryError, IndexError, ValueError, TypeError) as error:
                inventory.errors.append(f"count {table.qualified}: {text.excerpt(str(error))}")
    try:
        for database, name, column in await query(
            f"SELECT database, table, name FROM system.columns WHERE {SCOPE_COLUMNS} LIMIT {max_tables * MAX_COLUMNS}"
        ):
            table = raw.get((str(database), str(name)))
            if table is not None and len(table.columns) < MAX_COLUMNS:
                table.columns.append(_name(column))
    except QueryError as error:
        inventory.errors.append(f"columns: {error}")
    for table in raw.values():
        table.sensitive_reason = sensitive_reason(table.name)
        table.sensitive_columns = [c for c in table.columns if sensitive_reason(c)]
    inventory.tables = list(raw.values())
    return inventory


def http_query_fn(host: str, port: int, tls: bool, auth: tuple[str, str] | None, timeout: float) -> QueryFn:
    """Queries as HTTP GETs (GET makes ClickHouse run them read-only), each answer at most
    LISTING_ANSWER bytes and timeout + QUERY_TIMEOUT seconds."""
    settings: dict[str, Any] = {"readonly": 1, "max_execution_time": QUERY_TIMEOUT}

    async def run(sql: str) -> Rows:
        path = http.query_path(sql + " FORMAT JSONCompact", settings)
        reply = await exchange(
            host,
            port,
            http.request(host, port, path, auth),
            tls=tls,
            timeout=timeout + QUERY_TIMEOUT,
            complete=http.complete,
            limit=LISTING_ANSWER,
        )
        answer = http.parse(reply.data)
        if answer is None:
            raise QueryError(None, "no HTTP answer")
        if answer.status != 200:
            code = code_in(answer.body[:4096])
            if code == READONLY and settings:  # a readonly=1 user may not set anything; it is read-only already
                settings.clear()
                return await run(sql)
            raise QueryError(code, f"HTTP {answer.status}, code {code}")
        if not answer.complete:
            raise QueryError(None, f"answer larger than {LISTING_ANSWER} bytes or cut short")
        try:
            return list(json.loads(answer.body)["data"])
        except (ValueError, KeyError, TypeError) as error:
            raise QueryError(None, f"unreadable answer: {type(error).__name__}") from None

    return run


# ------------------------------------------------------------------------------ in the child


def native_inventory_job(
    host: str, port: int, tls: bool, user: str, password: str, timeout: float, via: str
) -> dict[str, Any]:
    """The native listing with clickhouse-driver (blocking; runs in the worker child)."""
    import asyncio

    from hardhouse.clickhouse.driver import Client, DriverError, ServerException

    settings: dict[str, Any] = {"readonly": 1, "max_execution_time": QUERY_TIMEOUT, "max_result_bytes": LISTING_ANSWER}
    options: dict[str, Any] = {"secure": True, "verify": False} if tls else {}

    def connect(current: dict[str, Any]) -> Any:
        return Client(
            host,
            port=port,
            user=user,
            password=password,
            client_name=CLIENT_NAME,
            connect_timeout=timeout,
            send_receive_timeout=timeout + QUERY_TIMEOUT,
            sync_request_timeout=timeout,
            settings=dict(current),
            **options,
        )

    client = connect(settings)

    async def run(sql: str) -> Rows:
        nonlocal client
        try:
            return list(client.execute(sql))
        except ServerException as error:
            if error.code == READONLY and settings:
                settings.clear()
                client.disconnect()
                client = connect(settings)
                return await run(sql)
            raise QueryError(error.code, f"code {error.code}") from None
        except (DriverError, OSError, EOFError) as error:
            raise QueryError(None, text.excerpt(f"{type(error).__name__}: {error}") or "") from None

    try:
        return asdict(asyncio.run(collect_inventory(run, via)))
    finally:
        client.disconnect()


def inventory_from_dict(data: dict[str, Any]) -> DataInventory:
    tables = [TableInfo(**table) for table in data.get("tables", [])]
    return DataInventory(
        data["via"], list(data.get("databases", [])), tables, bool(data.get("truncated")), list(data.get("errors", []))
    )
