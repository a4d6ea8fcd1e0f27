"""A stand-in for a server's answers to the scan's queries, for unit tests of the scan's own
code (what it asks, how it judges the answers); what ClickHouse answers is proven against
ClickHouse (test_live_18_16, test_embedded_26_9)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hardhouse.clickhouse.native import ServerError, Unreachable


def hexed(name: str) -> tuple[str, int]:
    raw = name.encode()
    return raw[:256].hex().upper(), len(raw)


@dataclass
class FakeTable:
    database: str
    name: str
    columns: dict[str, str]
    engine: str = "MergeTree"
    sampled: bool = False
    rows: int | None = None
    answer: Any = None  # the count query's rows, an exception to raise, or None: zeros


@dataclass
class FakeServer:
    tables: list[FakeTable]
    readonly: str = "1"
    readonly_after: str | None = None  # what readonly reads with the scan's settings
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, sql: str, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.sent.append((sql, dict(settings)))
        if sql.startswith("SELECT name, substring(value"):
            readonly = (
                self.readonly if not settings else (self.readonly_after or str(settings.get("readonly", self.readonly)))
            )
            return [{"name": "readonly", "value": readonly}, {"name": "timeout_overflow_mode", "value": "throw"}]
        if "FROM system.tables" in sql:
            return [
                {
                    **dict(zip(("database_hex", "database_bytes"), hexed(t.database), strict=True)),
                    **dict(zip(("name_hex", "name_bytes"), hexed(t.name), strict=True)),
                    **dict(zip(("engine_hex", "engine_bytes"), hexed(t.engine), strict=True)),
                    "sampled": int(t.sampled),
                }
                for t in self.tables
            ]
        if "FROM system.parts" in sql:
            return [
                {
                    **dict(zip(("database_hex", "database_bytes"), hexed(t.database), strict=True)),
                    **dict(zip(("table_hex", "table_bytes"), hexed(t.name), strict=True)),
                    "rows": t.rows,
                }
                for t in self.tables
                if t.rows is not None
            ]
        if "FROM system.columns" in sql:
            return [
                {
                    **dict(zip(("database_hex", "database_bytes"), hexed(t.database), strict=True)),
                    **dict(zip(("table_hex", "table_bytes"), hexed(t.name), strict=True)),
                    **dict(zip(("name_hex", "name_bytes"), hexed(column), strict=True)),
                    **dict(zip(("type_hex", "type_bytes"), hexed(kind.removeprefix("ALIAS ")), strict=True)),
                    "computed": int(kind.startswith("ALIAS ")),
                }
                for t in self.tables
                for column, kind in t.columns.items()
            ]
        for table in self.tables:
            if f"FROM `{table.database}`.`{table.name}`" in sql:
                if isinstance(table.answer, (ServerError, Unreachable)):
                    raise table.answer
                if table.answer is not None:
                    return table.answer  # type: ignore[no-any-return]
                aliases = re.findall(r" AS (m\d+)", sql)
                return [{"examined": 10, **dict.fromkeys(aliases, 0)}]
        raise AssertionError(f"unexpected query: {sql[:200]}")

    def count_queries(self) -> list[str]:
        return [sql for sql, _ in self.sent if sql.startswith("SELECT count() AS examined")]
