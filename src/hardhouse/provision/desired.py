"""What the spec's log databases should look like on the server, read from the rendered DDL.

The CREATE statements are the renderer's (render/templates/log_databases.sql.j2, split by
sql_statements), never written a second time here: the deploy runs exactly what
`hardhouse render` writes to sql/. Each table's engine, keys, retention and storage policy
are read back out of its rendered statement, in the form ClickHouse reports them in
system.tables, so the planner compares like with like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardhouse.clickhouse import versions
from hardhouse.render.log_databases import log_database_sql, rewrites
from hardhouse.render.sql import sql_statements
from hardhouse.spec import HardeningSpec
from hardhouse.spec.redaction import ingest_table

DEFAULT_POLICY = "default"  # what system.tables says of a table created without storage_policy

CREATE_DATABASE = re.compile(r"CREATE DATABASE IF NOT EXISTS (\w+)")
CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)\n")
CREATE_VIEW = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+)\nTO (\w+)\.(\w+)\n")
INGEST_ENGINE = "Null"
CLAUSES = {
    # The engine's name, as system.tables.engine says it (a Replicated engine's arguments are macros).
    "engine": re.compile(r"^ENGINE = (\w+)", re.M),
    "partition_key": re.compile(r"^PARTITION BY (.+)$", re.M),
    "sorting_key": re.compile(r"^ORDER BY (.+)$", re.M),
    "ttl": re.compile(r"^TTL (.+)$", re.M),
    "storage_policy": re.compile(r"^SETTINGS storage_policy = '(\w+)'$", re.M),
}
# ClickHouse keeps a TTL as functions: `INTERVAL 30 DAY` comes back as `toIntervalDay(30)`.
INTERVAL_DAYS = re.compile(r"INTERVAL (\d+) DAY")


class RenderedShapeError(RuntimeError):
    """The rendered DDL is not in the shape this module reads (a template change, a bug)."""


@dataclass(frozen=True)
class DesiredTable:
    database: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type) in the spec's order
    engine: str
    partition_key: str
    sorting_key: str
    ttl_sql: str | None  # as rendered (for ALTER TABLE ... MODIFY TTL)
    storage_policy: str | None  # None: not compared (an ingest table stores nothing)
    create: str  # the rendered CREATE TABLE IF NOT EXISTS
    stores_for: str | None = None  # an ingest table: the table its view stores into
    rewrites: tuple[tuple[str, str], ...] = ()  # a redacted table: (column, its redacted value as SQL)

    def unredacted_rows(self) -> str | None:
        """The condition a row stored before redaction meets (None: the table is not redacted)."""
        return " OR ".join(f"{column} != {value}" for column, value in self.rewrites) or None

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"

    @property
    def ttl(self) -> str | None:
        """The TTL as system.tables.engine_full shows it."""
        return INTERVAL_DAYS.sub(r"toIntervalDay(\1)", self.ttl_sql) if self.ttl_sql else None


@dataclass(frozen=True)
class DesiredView:
    """A redacting materialized view: its name carries a digest of its SELECT, so a view of
    that name is the wanted one, and any other view named for the same table is replaced."""

    database: str
    name: str
    table: str  # the table it stores into
    create: str

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"


@dataclass(frozen=True)
class DesiredDatabase:
    name: str
    create: str  # the rendered CREATE DATABASE IF NOT EXISTS
    tables: tuple[DesiredTable, ...]
    views: tuple[DesiredView, ...] = ()


def _clause(statement: str, name: str, required: bool = True) -> str | None:
    found = CLAUSES[name].search(statement)
    if found is None and required:
        raise RenderedShapeError(f"no {name} in the rendered statement:\n{statement}")
    return found.group(1).strip() if found else None


def desired_state(spec: HardeningSpec) -> list[DesiredDatabase]:
    """Every log database of the spec with its tables, in the rendered order."""
    if not spec.log_databases:
        return []
    creates: dict[str, str] = {}
    tables: dict[str, list[DesiredTable]] = {}
    views: dict[str, list[DesiredView]] = {}
    for statement in sql_statements(log_database_sql(spec)):
        database = CREATE_DATABASE.fullmatch(statement)
        if database:
            creates[database.group(1)] = statement
            tables[database.group(1)] = []
            views[database.group(1)] = []
            continue
        view = CREATE_VIEW.match(statement)
        if view is not None:
            db_name, name, _, target = view.groups()
            views[db_name].append(DesiredView(db_name, name, target, statement))
            continue
        table = CREATE_TABLE.match(statement)
        if table is None:
            raise RenderedShapeError(f"a rendered statement is not CREATE DATABASE, TABLE or VIEW:\n{statement}")
        tables[table.group(1)].append(_table(spec, *table.groups(), statement))
    return [DesiredDatabase(name, creates[name], tuple(tables[name]), tuple(views[name])) for name in creates]


def _table(spec: HardeningSpec, db_name: str, name: str, statement: str) -> DesiredTable:
    spec_tables = spec.log_databases[db_name].tables
    engine = str(_clause(statement, "engine"))
    if engine == INGEST_ENGINE:
        stores_for = next(t for t, table in spec_tables.items() if table.redact and ingest_table(t) == name)
        return DesiredTable(
            database=db_name,
            name=name,
            columns=tuple(spec_tables[stores_for].columns.items()),
            engine=engine,
            partition_key="",
            sorting_key="",
            ttl_sql=None,
            storage_policy=None,
            create=statement,
            stores_for=stores_for,
        )
    return DesiredTable(
        database=db_name,
        name=name,
        columns=tuple(spec_tables[name].columns.items()),
        engine=engine,
        partition_key=str(_clause(statement, "partition_key")),
        sorting_key=str(_clause(statement, "sorting_key")),
        ttl_sql=_clause(statement, "ttl", required=False),
        storage_policy=_clause(statement, "storage_policy", required=False) or DEFAULT_POLICY,
        create=statement,
        rewrites=rewrites(spec_tables[name]),
    )


def describe(spec: HardeningSpec) -> list[str]:
    """One line per log database: its tables, retention, encryption and who holds which role."""
    version = spec.version
    lines = []
    for name, db in spec.log_databases.items():
        tables = "; ".join(
            f"{t_name} ({', '.join(f'{c} {t}' for c, t in table.columns.items())})"
            for t_name, table in db.tables.items()
        )
        if db.retention_days is not None:
            retention = f"rows deleted after {db.retention_days} days (TTL)"
        elif versions.has(version, "table_ttl"):
            retention = "rows kept forever (retention_days: null)"
        else:
            retention = f"rows kept forever (ClickHouse {version} has no TTL)"
        if db.encryption is not None:
            source = f"key from ${db.encryption.key_env}" if db.encryption.key_env else "key from the host's key file"
            encryption = f"encrypted disk (AES-256-CTR, {source})"
        elif versions.has(version, "encrypted_disk"):
            encryption = "not encrypted"
        else:
            encryption = f"not encrypted (ClickHouse {version} has no encrypted disks)"
        roles = "; ".join(f"{role} {', '.join(members) or 'none'}" for role, members in db.grantees().items())
        redacted = [
            f"{t_name} (written through {ingest_table(t_name)}, {len(table.redact.secret_rules())} rules)"
            for t_name, table in db.tables.items()
            if table.redact is not None
        ]
        redaction = f"; secrets redacted at ingest in {', '.join(redacted)}" if redacted else ""
        lines.append(f"log database {name}: tables {tables}; {retention}; {encryption}; {roles}{redaction}")
    return lines
