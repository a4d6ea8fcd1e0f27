"""One scan of one server: the session's read-only mode and time bound, the catalog, then one
count query per table (hardhouse.scan.sql), judged into a ScanReport.

The scan talks through a Query: a function (sql, settings) -> rows that raises
hardhouse.clickhouse.native.ServerError or Unreachable. open_session gives the real one
(native TLS, the CA verified before the password is sent); tests give 26.9's in-process engine.

Read-only, checked before anything else is asked:
    readonly=0 (a profile that could write)   every query carries readonly=1 and the limits
    readonly=2 (writes refused, settings not) every query carries the limits
    readonly=1 (nothing may be set)           nothing is sent: 18.16 silently ignores per-query
                                              settings for such a user, 26.9 refuses them (164)
The session's readonly is then read again with those settings and must not be 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardhouse.clickhouse.native import ServerError, Session, Unreachable
from hardhouse.scan import sql
from hardhouse.scan.columns import Check, column_check
from hardhouse.scan.names import TYPE_MAX, Name, decode_name, quote_identifier
from hardhouse.scan.report import Match, ScanReport, TableResult
from hardhouse.scan.sent import CLIENT_MARGIN, DEFAULT_MAX_ROWS, DEFAULT_MAX_SECONDS
from hardhouse.secret_shapes import BUILTIN_RULES, SecretRule

Query = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]

GIVE_UP_AFTER = 3  # tables in a row with no answer: the server is gone, the rest is not asked

STORED_ENGINES = ("Log", "TinyLog", "StripeLog", "Memory")  # and every *MergeTree
# Engines whose rows are not stored in the table itself: skipped, with the reason.
NOT_STORED = {
    "View": "a view: its rows are those of the tables it reads",
    "MaterializedView": "a materialized view: its rows are in its target table (scanned on its own)",
    "LiveView": "a view: its rows are those of the tables it reads",
    "WindowView": "a view: its rows are those of the tables it reads",
    "Null": "a Null table stores nothing (an ingest table)",
    "Distributed": "its rows are in each shard's local table: scan every shard",
    "Buffer": "its rows are flushed to its destination table (scanned on its own)",
    "Dictionary": "a dictionary: reading it would load it from its source",
    "Merge": "its rows are those of the tables it merges",
}
REMOTE_OR_STREAM = (
    "Kafka", "RabbitMQ", "NATS", "S3Queue", "AzureQueue", "URL", "S3", "HDFS", "MySQL", "PostgreSQL",
    "MongoDB", "ODBC", "JDBC", "Redis", "SQLite", "Hive", "DeltaLake", "Iceberg", "Hudi", "AzureBlobStorage",
    "MaterializedPostgreSQL", "ExternalDistributed", "GenerateRandom", "Executable", "ExecutablePool",
)  # fmt: skip

TIMEOUT_EXCEEDED, UNKNOWN_TABLE, UNKNOWN_DATABASE = 159, 60, 81
REFUSALS = {164: "refused: read-only mode", 497: "refused: no SELECT grant", 291: "refused: database not allowed"}
LIMITS = {"timeout_overflow_mode": "throw", "read_overflow_mode": "throw"}


class ScanError(Exception):
    """The scan cannot run at all (no login, no answer, a catalog too big): one line, no secret."""


@dataclass(frozen=True)
class ScanOptions:
    databases: tuple[str, ...] = ()  # none: every database but the system ones
    tables: tuple[str, ...] = ()  # none: every table of those databases
    max_rows: int = DEFAULT_MAX_ROWS
    max_seconds: float = DEFAULT_MAX_SECONDS
    rules: Mapping[tuple[str, str], Sequence[SecretRule]] = field(default_factory=dict)  # (db, table) -> rules
    default_rules: Sequence[SecretRule] = BUILTIN_RULES

    def rules_for(self, database: str, table: str) -> Sequence[SecretRule]:
        return self.rules.get((database, table), self.default_rules)


def open_session(address: str, port: int, user: str, password: str, ca: Path, options: ScanOptions) -> Session:
    """The reader's native TLS session (hardhouse.clickhouse.native: the certificate must chain
    to `ca` and name `address` before the password is sent), its receive timeout just above
    the scan's per-table seconds."""
    return Session(address, port, user, password, ca, query_timeout=options.max_seconds + CLIENT_MARGIN)


def session_query(session: Session) -> Query:
    return lambda text, settings: session.rows(text, dict(settings) or None)


def _login_failure(error: ServerError | Unreachable) -> ScanError:
    if isinstance(error, Unreachable):
        return ScanError(f"no session: {error}")
    return ScanError(f"the server refused the session's first query (code {error.code}): check --user and its password")


def read_only_settings(query: Query, max_seconds: float) -> tuple[dict[str, Any], str, list[str]]:
    """The settings every query carries, how the session is read-only and bounded (for the
    report), and notes; ScanError when read-only cannot be established."""
    try:
        values = {row["name"]: str(row["value"]) for row in query(sql.SESSION_QUERY, {})}
    except (ServerError, Unreachable) as error:
        raise _login_failure(error) from None
    readonly = values.get("readonly")
    seconds = math.ceil(max_seconds)  # whole seconds: 18.16 and the driver read the setting as an integer
    limits = {"max_execution_time": seconds, **LIMITS}
    notes: list[str] = []
    if readonly == "0":
        settings = {**limits, "readonly": 1}
        how = f"readonly=1 and max_execution_time={seconds} sent with every query (the user's profile allows writes)"
    elif readonly == "2":
        settings = limits
        how = f"readonly=2 from the user's profile; max_execution_time={seconds} sent with every query"
    elif readonly == "1":
        settings = {}
        how = (
            f"readonly=1 from the user's profile, which lets no setting be sent; each table is bounded by the "
            f"client's {max_seconds + CLIENT_MARGIN:g} s timeout"
        )
        cutting = [name for name in LIMITS if values.get(name) == "break"]
        if cutting:
            notes.append(
                f"the user's profile sets {', '.join(f'{n}=break' for n in cutting)}, which can cut a count short "
                "without an error: every table's verdict is undecided; scan as a user whose profile does not"
            )
    else:
        raise ScanError(
            f"the session's readonly setting reads {readonly!r}: the scan cannot tell that writes are refused"
        )
    if settings:
        try:
            again = {row["name"]: str(row["value"]) for row in query(sql.SESSION_QUERY, settings)}
        except ServerError as error:
            if readonly == "0":
                raise ScanError(f"the server refused readonly=1 on this session (code {error.code})") from None
            notes.append(f"the server refused max_execution_time (code {error.code}): bounded by the client timeout")
            settings = {}
            again = values
        except Unreachable as error:
            raise _login_failure(error) from None
        if again.get("readonly") in (None, "0"):
            raise ScanError("the session is not read-only even with readonly=1 sent: nothing is scanned")
    return settings, how, notes


@dataclass
class _Table:
    result: TableResult
    database: Name
    table: Name
    sampled: bool
    columns: list[tuple[Name, str]] = field(default_factory=list)


def _listing(query: Query, text: str, settings: Mapping[str, Any], limit: int, what: str) -> list[dict[str, Any]]:
    try:
        rows = query(text, settings)
    except ServerError as error:
        raise ScanError(f"the server refused to list {what} (code {error.code})") from None
    except Unreachable as error:
        raise ScanError(f"no answer while listing {what}: {error}") from None
    if len(rows) > limit:
        raise ScanError(f"more than {limit} {what}: name fewer with --database or --table")
    return rows


def catalog(query: Query, settings: Mapping[str, Any], options: ScanOptions) -> list[_Table]:
    """The tables and their columns, names decoded (refused ones keep their problem)."""
    found: dict[tuple[str, str], _Table] = {}
    args = (options.databases, options.tables)
    for row in _listing(query, sql.tables_query(*args), settings, sql.MAX_TABLES, "tables"):
        database = decode_name(row["database_hex"], int(row["database_bytes"]))
        table = decode_name(row["name_hex"], int(row["name_bytes"]))
        engine = decode_name(row["engine_hex"], int(row["engine_bytes"]), 64)
        result = TableResult(database.text, table.text, engine.text, max_rows=options.max_rows)
        found[(row["database_hex"], row["name_hex"])] = _Table(result, database, table, bool(row["sampled"]))
    if not found:
        return []
    for row in _listing(query, sql.rows_query(*args), settings, sql.MAX_TABLES, "tables' parts"):
        if (key := (row["database_hex"], row["table_hex"])) in found:
            found[key].result.total_rows = int(row["rows"])
    for row in _listing(query, sql.columns_query(*args), settings, sql.MAX_COLUMNS, "columns"):
        if (key := (row["database_hex"], row["table_hex"])) in found and not row["computed"]:
            column = decode_name(row["name_hex"], int(row["name_bytes"]))
            kind = decode_name(row["type_hex"], int(row["type_bytes"]), TYPE_MAX)
            found[key].columns.append((column, kind.text if kind.problem is None else ""))
    return list(found.values())


def _engine_verdict(result: TableResult) -> None:
    engine = result.engine
    if engine.endswith("MergeTree") or engine in STORED_ENGINES:
        return
    if engine in NOT_STORED:
        result.skipped, result.reason = True, NOT_STORED[engine]
    elif engine in REMOTE_OR_STREAM:
        result.skipped = True
        result.reason = f"{engine} reads from outside this server (or consumes a stream): not read"
    else:
        result.incomplete = True
        result.reason = f"engine {engine or '?'} is not one the scan reads; its rows may be stored here"


def plan(entry: _Table, options: ScanOptions) -> tuple[str, list[sql.Counted]] | None:
    """The table's count query and what it counts; None when there is nothing to ask (the
    result then says why: skipped, refused, no text column)."""
    result = entry.result
    for name, label in ((entry.database, "database"), (entry.table, "table")):
        if name.problem:
            result.incomplete, result.reason = True, f"{label} name refused: {name.problem}"
            return None
    _engine_verdict(result)
    if result.skipped or result.incomplete:
        return None
    asked: list[tuple[str, Check]] = []
    for column, kind in entry.columns:
        if column.problem:
            result.unscanned.append((column.shown, f"name refused: {column.problem}"))
            continue
        if not kind:
            result.unscanned.append((column.shown, "its type was refused (too long or not UTF-8)"))
            continue
        check = column_check(quote_identifier(column.text), kind)
        if check.unscannable:
            result.unscanned.append((column.shown, f"{kind}: {check.unscannable}"))
        elif check.holds_text:
            asked.append((column.text, check))
    rules = list(options.rules_for(result.database, result.table))
    result.columns = [name for name, _ in asked]
    result.rules = [rule.name for rule in rules]
    if not asked or not rules:
        result.reason = "no text column" if not asked else "no rule"
        return None
    result.sample = sql.sample_fraction(result.total_rows, options.max_rows) if entry.sampled else None
    query, counted = sql.count_query(result.database, result.table, asked, rules, options.max_rows, result.sample)
    if len(query.encode()) > sql.QUERY_MAX:
        result.incomplete = True
        result.reason = (
            f"its count query would be {len(query.encode())} bytes (over {sql.QUERY_MAX}): "
            f"{len(asked)} text columns x {len(rules)} rules; scan it with fewer rules"
        )
        return None
    return query, counted


def judge_answer(result: TableResult, rows: list[dict[str, Any]], counted: list[sql.Counted], max_rows: int) -> None:
    """The count query's one row of integers into the result; an answer that does not add up
    (not one row, not integers, a count above the rows examined) is undecided."""
    if len(rows) != 1:
        result.incomplete, result.reason = True, f"the count query answered {len(rows)} rows, not 1"
        return
    row = rows[0]
    values = [row.get("examined"), *(row.get(f"m{i}") for i in range(len(counted)))]
    if not all(isinstance(value, int) and not isinstance(value, bool) and value >= 0 for value in values):
        result.incomplete, result.reason = True, "the count query's answer is not counts"
        return
    examined = values[0]
    assert isinstance(examined, int)
    if examined > max_rows or any(value > examined for value in values[1:]):  # type: ignore[operator]
        result.incomplete, result.reason = True, "the count query's answer does not add up"
        return
    result.examined = examined
    result.matches = [
        Match(what.column, what.rule, int(value))  # type: ignore[arg-type]
        for what, value in zip(counted, values[1:], strict=True)
        if value
    ]


def scan(query: Query, endpoint: str, user: str, options: ScanOptions) -> ScanReport:
    """Scan every chosen table once; ScanError only when nothing can be scanned."""
    settings, how, notes = read_only_settings(query, options.max_seconds)
    report = ScanReport(endpoint, user, how, options.max_rows, options.max_seconds, notes=list(notes))
    undecided = any("break" in note for note in notes)
    silent = 0
    entries = catalog(query, settings, options)
    report.tables += _not_found(entries, options)
    for entry in entries:
        result = entry.result
        report.tables.append(result)
        planned = plan(entry, options)
        if planned is None:
            continue
        if silent >= GIVE_UP_AFTER:
            result.incomplete, result.reason = True, "not asked: the server stopped answering"
            continue
        answered = count_table(query, result, planned, settings, options)
        silent = 0 if answered else silent + 1
        if answered and undecided and not result.matches and not result.incomplete:
            result.incomplete, result.reason = True, "the profile's overflow mode break may have cut the count"
    return report


def count_table(
    query: Query,
    result: TableResult,
    planned: tuple[str, list[sql.Counted]],
    settings: Mapping[str, Any],
    options: ScanOptions,
) -> bool:
    """Send one table's count query (from plan) and judge its answer into `result`; False when
    no answer came (no connection, or none within the client's timeout). Shared with the probe's
    --count-secrets (hardhouse.probe.weigh), so both count and judge alike."""
    text, counted = planned
    started = time.monotonic()
    answered = True
    try:
        rows = query(text, settings)
    except ServerError as error:
        result.incomplete, result.reason = True, _server_reason(error.code, options.max_seconds)
    except Unreachable:
        answered = False
        result.incomplete = True
        result.reason = f"no answer within {options.max_seconds + CLIENT_MARGIN:g} s (or the connection failed)"
    else:
        judge_answer(result, rows, counted, options.max_rows)
    result.seconds = round(time.monotonic() - started, 3)
    return answered


def _not_found(entries: list[_Table], options: ScanOptions) -> list[TableResult]:
    """A database or table that was asked for and is not in the catalog: missing, empty, or
    hidden from this user (18.16 hides what allow_databases excludes). Undecided, not clean."""
    databases = {entry.result.database for entry in entries}
    tables = {entry.result.table for entry in entries}
    missing = [
        TableResult(name, "*", reason="no table of it is visible to this user (missing, empty or not granted)")
        for name in options.databases
        if name not in databases
    ]
    missing += [
        TableResult("*", name, reason="no such table is visible to this user in the databases scanned")
        for name in options.tables
        if name not in tables
    ]
    for result in missing:
        result.incomplete = True
    return missing


def _server_reason(code: int, max_seconds: float) -> str:
    """Why a count query failed, from its code alone: a server's message may quote data."""
    if code == TIMEOUT_EXCEEDED:
        return f"timed out (over {max_seconds:g} s, code 159)"
    if code in REFUSALS:
        return f"{REFUSALS[code]} (code {code})"
    if code in (UNKNOWN_TABLE, UNKNOWN_DATABASE):
        return f"not found: dropped during the scan? (code {code})"
    return f"ClickHouse error code {code}"
