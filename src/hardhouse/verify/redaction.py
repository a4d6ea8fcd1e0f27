"""Redaction at ingest proven on the deployed server (HH-DATA-3), from the deploy machine.

For each redacted table, one row is written through its ingest table: as a writer of the
database where it has one the deploy machine can log in as (the path the shippers take), else
as an owner (18.16 has no writers). The row's text is a marker and a fake secret in the shape
of the built-in `secret_assignment` rule (`api_key=` and random letters, made for this run):

  * the owner finds the marked row in the table, and the fake secret nowhere in it;
  * a writer's INSERT into the table itself, around the view, is refused (a zero-row INSERT:
    had it been accepted, nothing would have been written);
  * the owner deletes the marked row (ALTER TABLE ... DELETE, waited for).

A table whose built-in rules are off gets the marker alone: the path is proven, the rewrite is
not (the spec's own rules match text hardhouse cannot invent), and the line says so.
"""

from __future__ import annotations

import secrets
from contextlib import nullcontext
from dataclasses import dataclass

from hardhouse import polling
from hardhouse.clickhouse import codes
from hardhouse.clickhouse.column_types import canonical_type
from hardhouse.clickhouse.literals import sql_string
from hardhouse.clickhouse.native import ServerError, Session, Unreachable
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Judge, Tool, register
from hardhouse.spec.log_databases import LogTable
from hardhouse.spec.redaction import ingest_table, redacted_columns
from hardhouse.verify.checks import Check
from hardhouse.verify.replicas import Replicas

STORED_REDACTED = register(
    Tool.VERIFY, "a secret written through the ingest table is stored redacted", ControlId.DATA_3
)
NO_WAY_AROUND = register(Tool.VERIFY, "writers cannot write around the redaction", ControlId.DATA_3)
MARK_PREFIX = "hardhouse-verify-"
REMOVAL_WAIT = 30.0  # seconds for the delete's mutation where the server cannot wait for it itself
MARKABLE = frozenset({"String", "LowCardinality(String)", "Nullable(String)", "LowCardinality(Nullable(String))"})


@dataclass(frozen=True)
class Planted:
    """The row's text: the marker that finds it, and the fake secret that must not be stored."""

    mark: str
    secret: str | None  # None: the table's built-in rules are off

    @property
    def text(self) -> str:
        return self.mark if self.secret is None else f"{self.mark} api_key={self.secret}"

    @classmethod
    def new(cls, table: LogTable) -> Planted:
        builtin = table.redact is not None and table.redact.builtin_rules
        return cls(MARK_PREFIX + secrets.token_hex(8), "hhfake" + secrets.token_hex(12) if builtin else None)


def planted_column(table: LogTable) -> str | None:
    """A redacted column a plain string can be written to (None: the table has none)."""
    if table.redact is None:
        return None
    return next(
        (c for c in redacted_columns(table.columns, table.redact) if canonical_type(table.columns[c]) in MARKABLE),
        None,
    )


def plant(session: Session, database: str, name: str, table: LogTable, column: str, planted: Planted) -> None:
    session.execute(
        f"INSERT INTO {database}.{ingest_table(name)} ({table.time_column}, {column}) "
        f"SELECT now(), {sql_string(planted.text)}"
    )


def stored_check(
    endpoint: str,
    owner: Session,
    database: str,
    name: str,
    column: str,
    planted: Planted,
    written_as: str,
    replicas: Replicas | None = None,
) -> list[Check]:
    """The marked row as the owner finds it, then removed (on a cluster, followed to the
    `replicas` first when it arrived here)."""
    qualified = f"{database}.{name}"
    where = f"startsWith({column}, {sql_string(planted.mark)})"
    secret = "0" if planted.secret is None else f"countIf(position({column}, {sql_string(planted.secret)}) > 0)"
    try:
        (row,) = owner.rows(f"SELECT count() AS n, {secret} AS plain FROM {qualified} WHERE {where}")
    except (ServerError, Unreachable) as error:
        return [Check.of(STORED_REDACTED, endpoint, False, f"{qualified}: the owner could not read it back: {error}")]
    if row["n"] != 1:
        detail = f"{qualified}: written as {written_as}, {row['n']} rows marked {planted.mark} arrived (1 expected)"
        result = Check.of(STORED_REDACTED, endpoint, False, detail)
    elif row["plain"]:
        result = Check.of(STORED_REDACTED, endpoint, False, f"{qualified}: the fake secret was stored as written")
    elif planted.secret is None:
        detail = (
            f"{qualified}: written as {written_as}, stored through the view (built-in rules off: rewrite not tried)"
        )
        result = Check.of(STORED_REDACTED, endpoint, True, detail)
    else:
        detail = (
            f"{qualified}: written as {written_as} into {ingest_table(name)}, stored with the fake api_key rewritten"
        )
        result = Check.of(STORED_REDACTED, endpoint, True, detail)
    followed = replicas if row["n"] == 1 else None
    return [result, remove_marked(endpoint, owner, qualified, where, planted.mark, replicas=followed)]


def remove_marked(
    endpoint: str,
    owner: Session,
    qualified: str,
    where: str,
    mark: str,
    proves: Judge | None = None,
    replicas: Replicas | None = None,
) -> Check:
    """The rows a check wrote (`where`, one row) deleted by an owner, and waited for. With
    `replicas` (a cluster), the row is followed to the peers before the delete and after it
    (hardhouse.verify.replicas): the cluster's replication lines are judged from it."""
    name = f"rows marked by the check removed from {qualified}"
    delete, count = (
        f"ALTER TABLE {qualified} DELETE WHERE {where}",
        f"SELECT count() AS n FROM {qualified} WHERE {where}",
    )
    with replicas.follow(owner.user, qualified, count) if replicas else nullcontext() as followed:
        try:
            try:
                owner.execute(delete, settings={"mutations_sync": 2})
            except ServerError as error:
                if error.code != codes.UNKNOWN_SETTING:
                    raise
                owner.execute(delete)  # 18.16 has no mutations_sync: the mutation is waited for below
            left = -1

            def removed() -> bool:
                nonlocal left
                left = owner.rows(count)[0]["n"]
                return not left

            polling.until(removed, REMOVAL_WAIT)
        except (ServerError, Unreachable) as error:
            return Check(endpoint, name, False, f"not removed ({error}); remove rows where {where} as an owner", proves)
        if replicas is not None and followed is not None:
            followed.removed = True
            followed.left += [replicas.address] if left else []
    return Check(endpoint, name, left == 0, f"{left} rows marked {mark} left (removed as owner {owner.user})", proves)


def owner_checks(
    endpoint: str, owner: Session, database: str, tables: dict[str, LogTable], replicas: Replicas | None = None
) -> list[Check]:
    """Each redacted table's path proven as the owner (a database without writers)."""
    checks: list[Check] = []
    for name, table in tables.items():
        column = planted_column(table)
        if column is None:
            continue
        planted = Planted.new(table)
        try:
            plant(owner, database, name, table, column, planted)
        except (ServerError, Unreachable) as error:
            checks.append(
                Check.of(STORED_REDACTED, endpoint, False, f"{database}.{name}: the owner's write failed: {error}")
            )
            continue
        checks += stored_check(endpoint, owner, database, name, column, planted, f"owner {owner.user}", replicas)
    return checks
