"""Every statement `hardhouse scan` sends, built here and nowhere else (WHAT_IS_SENT, shown by
`hardhouse scan --help`, describes exactly these).

1. SESSION_QUERY: the session's own readonly and overflow settings (system.settings).
2. tables_query: the tables of the chosen databases (system.tables): names as hex and length
   (hardhouse.scan.names), engine, whether it has a sampling key.
3. rows_query: the rows of those tables' active parts (system.parts), to size a SAMPLE.
4. columns_query: their columns and types (system.columns), as hex and length, and whether
   each is an ALIAS (computed when read, never stored: not asked; 18.16 also cannot read a
   table through its ALIAS columns alone, code 51).
5. count_query, ONE per table:

       SELECT count() AS examined, countIf(<column matches rule>) AS m0, ...
       FROM (SELECT <text columns> FROM `db`.`table` [SAMPLE <fraction>] LIMIT <max rows>)

   Every match is computed by ClickHouse; the answer is one row of integers, so no value of
   the table ever leaves the server.

Each is a SELECT and carries, in the native protocol's settings (never in the text, which a
readonly=1 user may not send), what the session may set (hardhouse.scan.run decides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hardhouse.clickhouse.literals import sql_string
from hardhouse.scan.columns import Check
from hardhouse.scan.names import NAME_MAX, TYPE_MAX, quote_identifier
from hardhouse.secret_shapes import SecretRule, for_match

SYSTEM_DATABASES = ("system", "information_schema", "INFORMATION_SCHEMA")
MAX_TABLES = 5000  # tables listed; more is refused (name fewer with --database/--table)
MAX_COLUMNS = 20000
QUERY_MAX = 200_000  # bytes of one count query; 18.16's max_query_size is 256 KiB
SESSION_SETTINGS = ("readonly", "max_execution_time", "timeout_overflow_mode", "read_overflow_mode")

SESSION_QUERY = (
    "SELECT name, substring(value, 1, 64) AS value FROM system.settings WHERE name IN ("
    + ", ".join(sql_string(name) for name in SESSION_SETTINGS)
    + ")"
)


def _hex(column: str, limit: int, alias: str) -> str:
    """The first limit+1 bytes as hex and the length: enough to refuse a longer name."""
    return f"hex(substring({column}, 1, {limit + 1})) AS {alias}_hex, length({column}) AS {alias}_bytes"


def _where(database_column: str, databases: Sequence[str], table_column: str, tables: Sequence[str]) -> str:
    if databases:
        where = f"{database_column} IN ({', '.join(sql_string(name) for name in databases)})"
    else:
        where = f"{database_column} NOT IN ({', '.join(sql_string(name) for name in SYSTEM_DATABASES)})"
    if tables:
        where += f" AND {table_column} IN ({', '.join(sql_string(name) for name in tables)})"
    return where


def tables_query(databases: Sequence[str], tables: Sequence[str]) -> str:
    return (
        f"SELECT {_hex('database', NAME_MAX, 'database')}, {_hex('name', NAME_MAX, 'name')}, "
        f"{_hex('engine', 64, 'engine')}, sampling_key != '' AS sampled "
        f"FROM system.tables WHERE {_where('database', databases, 'name', tables)} "
        f"ORDER BY database, name LIMIT {MAX_TABLES + 1}"
    )


def rows_query(databases: Sequence[str], tables: Sequence[str]) -> str:
    return (
        f"SELECT {_hex('database', NAME_MAX, 'database')}, {_hex('table', NAME_MAX, 'table')}, sum(rows) AS rows "
        f"FROM system.parts WHERE active AND {_where('database', databases, 'table', tables)} "
        f"GROUP BY database, table LIMIT {MAX_TABLES + 1}"
    )


def columns_query(databases: Sequence[str], tables: Sequence[str]) -> str:
    return (
        f"SELECT {_hex('database', NAME_MAX, 'database')}, {_hex('table', NAME_MAX, 'table')}, "
        f"{_hex('name', NAME_MAX, 'name')}, {_hex('type', TYPE_MAX, 'type')}, default_kind = 'ALIAS' AS computed "
        f"FROM system.columns WHERE {_where('database', databases, 'table', tables)} "
        f"LIMIT {MAX_COLUMNS + 1}"
    )


@dataclass(frozen=True)
class Counted:
    """What one countIf of a count query counts: a column and a rule (alias m<index>)."""

    column: str
    rule: str


def sample_fraction(total_rows: int | None, max_rows: int) -> str | None:
    """SAMPLE's fraction, as a decimal literal, when a sampled table has more rows than the
    bound (rounded up, so the sample is never smaller than asked); else None."""
    if total_rows is None or total_rows <= max_rows:
        return None
    fraction = max_rows / total_rows
    text = f"{fraction:.6f}"
    if float(text) < fraction:
        text = f"{float(text) + 1e-6:.6f}"
    return None if float(text) >= 1 else text


def count_query(
    database: str,
    table: str,
    columns: Sequence[tuple[str, Check]],
    rules: Sequence[SecretRule],
    max_rows: int,
    sample: str | None,
) -> tuple[str, list[Counted]]:
    """The one query that counts, for `table`, the rows of each text column matching each rule,
    over at most `max_rows` rows (a SAMPLE of them when `sample` is a fraction); and what each
    countIf counts, in order. `columns` are (name, check) of columns that hold text."""
    counted: list[Counted] = []
    counts = ["count() AS examined"]
    for name, check in columns:
        for rule in rules:
            counts.append(f"countIf({check.condition(sql_string(for_match(rule.regexp)))}) AS m{len(counted)}")
            counted.append(Counted(name, rule.name))
    selected = ", ".join(quote_identifier(name) for name, _ in columns)
    source = f"{quote_identifier(database)}.{quote_identifier(table)}"
    sampled = f" SAMPLE {sample}" if sample else ""
    query = f"SELECT {', '.join(counts)} FROM (SELECT {selected} FROM {source}{sampled} LIMIT {max_rows})"
    return query, counted
