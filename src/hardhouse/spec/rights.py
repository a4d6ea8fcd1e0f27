"""The rights each declared user gets from the spec: its log roles (writer, reader, owner of
a log database), its own databases and the table functions it names, as the GRANT queries
users.d takes (23.6+) or, before that, an allow-list of databases; and the row filters of a
limited reader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.grants import ALL_BUT_SOURCES, database_grants, source_grants
from hardhouse.spec.redaction import ingest_table

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec
    from hardhouse.spec.users import User


def log_roles(spec: HardeningSpec, user_name: str) -> dict[str, list[str]]:
    """role -> log databases where user_name holds it."""
    roles: dict[str, list[str]] = {"writers": [], "readers": [], "owners": []}
    for db_name, db in spec.log_databases.items():
        for role, members in db.grantees().items():
            if user_name in members:
                roles[role].append(db_name)
    return roles


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def user_access(spec: HardeningSpec, user: User) -> tuple[list[str] | None, list[str] | None]:
    """(grant queries, allow_databases) for a user; None where that element is not written.

    Where users.d takes grants (23.6+) every user's rights are GRANT queries, so nothing is
    implicit: a writer or reader of a log database gets exactly its log rights plus its own
    `databases`, a user with `databases` ALL on those and nothing global (narrower than
    ClickHouse's own allow_databases, which 26.9 shows keeps SYSTEM SHUTDOWN and, before the
    READ/WRITE source grants, every table function), any other user ALL but SQL access
    management, named collections and sources; each gets only the sources of the table
    functions it names (users[].table_functions). Before 23.6 a writer or reader gets an
    allow-list (readers only; writers are refused there) that a read-only profile keeps from
    writing, and table functions cannot be refused one by one.
    """
    roles = log_roles(spec, user.name)
    restricted = bool(roles["writers"] or roles["readers"])
    if versions.has(spec.version, "users_xml_grants"):
        if restricted:
            grants = [grant for db in roles["writers"] for grant in writer_grants(spec, db)]
            grants += [grant for db in roles["readers"] for grant in reader_grants(spec, db, user.name)]
            owned = _unique(roles["owners"] + list(user.databases or []))
            grants += database_grants(owned) if owned else []
        elif user.databases is not None:
            grants = database_grants(_unique(list(user.databases) + roles["owners"]))
        else:
            grants = list(ALL_BUT_SOURCES)
        return _unique(grants + source_grants(user.table_functions)), None
    if restricted:
        return None, _unique(list(user.databases or []) + roles["readers"] + roles["writers"] + roles["owners"])
    if roles["owners"] and user.databases is not None:
        return None, _unique(list(user.databases) + roles["owners"])
    return None, user.databases


def writer_grants(spec: HardeningSpec, database: str) -> list[str]:
    """INSERT on the whole log database; where a table is redacted, INSERT per table instead,
    on the ingest table of each redacted one (never on the table it stores into)."""
    tables = spec.log_databases[database].tables
    if all(table.redact is None for table in tables.values()):
        return [f"GRANT INSERT ON {database}.*"]
    return [
        f"GRANT INSERT ON {database}.{name if table.redact is None else ingest_table(name)}"
        for name, table in tables.items()
    ]


def reader_grants(spec: HardeningSpec, database: str, user_name: str) -> list[str]:
    """SELECT on the whole log database, or on the tables its reader_limits name."""
    limit = spec.log_databases[database].reader_limits.get(user_name)
    if limit is None or limit.tables is None:
        return [f"GRANT SELECT ON {database}.*"]
    return [f"GRANT SELECT ON {database}.{table}" for table in limit.tables]


def row_filters(spec: HardeningSpec, user_name: str) -> dict[str, dict[str, str]]:
    """database -> table -> the condition a row must meet for user_name to see it."""
    found: dict[str, dict[str, str]] = {}
    for db_name, db in spec.log_databases.items():
        limit = db.reader_limits.get(user_name)
        if limit is not None and limit.rows:
            found[db_name] = dict(limit.rows)
    return found
