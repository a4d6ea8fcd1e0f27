"""What a server has of the log databases: three reads of its system tables, and the rows
they return turned into ExistingState.

The queries name only the columns both generations have (18.16's system.tables has no
storage_policy; it came with storage policies in 19.15), so the same rows come back from
Debian's 18.16 and from modern servers; tests/provision holds rows captured from both.
Identifiers in the queries are spec names (letters, digits, underscore), quoted as strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hardhouse.clickhouse.versions import Version

STORAGE_POLICY_SINCE = Version(19, 15)
# engine_full: "MergeTree PARTITION BY ... ORDER BY ts TTL toDateTime(ts) + toIntervalDay(30) SETTINGS ..."
TTL_IN_ENGINE = re.compile(r" TTL (.+?)(?= SETTINGS |$)")
SERVER_VERSION = re.compile(r"(\d+)\.(\d+)")
# "CREATE MATERIALIZED VIEW logs.v TO logs.t (...": the target, as both generations print it.
VIEW_TARGET = re.compile(r"^CREATE MATERIALIZED VIEW \S+ TO (\w+)\.(\w+) ")


@dataclass(frozen=True)
class ExistingTable:
    database: str
    name: str
    engine: str
    engine_full: str
    partition_key: str
    sorting_key: str
    storage_policy: str | None  # None: the server has no storage policies (18.16)
    columns: tuple[tuple[str, str], ...]  # (name, type) in the table's order
    writes_to: str | None = None  # a materialized view: the db.table its CREATE names after TO (None: its own)

    @property
    def ttl(self) -> str | None:
        found = TTL_IN_ENGINE.search(self.engine_full)
        return found.group(1) if found else None


@dataclass(frozen=True)
class ExistingState:
    databases: frozenset[str]
    tables: Mapping[tuple[str, str], ExistingTable] = field(default_factory=dict)
    # database.table -> rows stored unredacted in a redacted table; only counted when a rewrite
    # was asked for (the count reads the whole table).
    unredacted: Mapping[str, int] = field(default_factory=dict)

    def tables_in(self, database: str) -> list[ExistingTable]:
        return [t for (db, _), t in self.tables.items() if db == database]


def _view_target(create: str) -> str | None:
    found = VIEW_TARGET.match(create)
    return f"{found.group(1)}.{found.group(2)}" if found else None


def server_version(text: str) -> Version:
    """`SELECT version()`'s answer ("18.16.1", "26.9.2.1") as major.minor."""
    found = SERVER_VERSION.match(text)
    if not found:
        raise ValueError(f"cannot read a version from {text!r}")
    return Version(int(found.group(1)), int(found.group(2)))


def _names(databases: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in databases)


def state_queries(databases: Iterable[str], version: Version) -> dict[str, str]:
    """The reads, by name (databases, tables, columns, views), for a server of `version`."""
    names = _names(databases)
    policy = ", storage_policy" if version >= STORAGE_POLICY_SINCE else ""
    return {
        "databases": f"SELECT name, engine FROM system.databases WHERE name IN ({names})",
        "tables": (
            "SELECT database, name, engine, engine_full, partition_key, sorting_key"
            f"{policy} FROM system.tables WHERE database IN ({names}) ORDER BY database, name"
        ),
        # No ORDER BY: system.columns lists a table's columns in their order.
        "columns": f"SELECT database, table, name, type FROM system.columns WHERE database IN ({names})",
        # Where each materialized view writes: `TO db.table` in its CREATE (both generations).
        "views": (
            "SELECT database, name, create_table_query FROM system.tables "
            f"WHERE database IN ({names}) AND engine = 'MaterializedView' ORDER BY database, name"
        ),
    }


def existing_state(rows: Mapping[str, list[dict[str, Any]]]) -> ExistingState:
    """The state from the rows of state_queries (as {column: value}, from any client)."""
    targets = {(row["database"], row["name"]): _view_target(row["create_table_query"]) for row in rows.get("views", [])}
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in rows["columns"]:
        columns.setdefault((row["database"], row["table"]), []).append((row["name"], row["type"]))
    tables = {
        (row["database"], row["name"]): ExistingTable(
            database=row["database"],
            name=row["name"],
            engine=row["engine"],
            engine_full=row["engine_full"],
            partition_key=row["partition_key"],
            sorting_key=row["sorting_key"],
            storage_policy=row.get("storage_policy"),
            columns=tuple(columns.get((row["database"], row["name"]), [])),
            writes_to=targets.get((row["database"], row["name"])),
        )
        for row in rows["tables"]
    }
    return ExistingState(frozenset(row["name"] for row in rows["databases"]), tables)
