"""The plan: what to run so the server's log databases match the spec, and what to refuse.

Pure: the desired state (hardhouse.provision.desired) against the existing one
(hardhouse.provision.state) gives steps, matches, refusals and tables left alone.

Only what ClickHouse does in place, keeping every row, is ever planned:
  * a missing database or table: the rendered CREATE ... IF NOT EXISTS;
  * a column the spec adds: ALTER TABLE ... ADD COLUMN (existing rows read its default);
  * a retention change: ALTER TABLE ... MODIFY TTL (or REMOVE TTL for retention_days: null),
    where the target has TTL at all.
  * a redacted table's ingest table (Null engine: it stores nothing) and its view, created
    after the columns are in place; a view of an older SELECT (its name's digest differs) is
    dropped after the new one exists, so a row inserted in between is stored twice, never
    lost. A view writes into its table and holds no data: dropping it loses no row.
Nothing else is ever dropped, and nothing rewritten. What would need that is refused with the reason and
the fix: a column whose type changed (every part rewritten, values may not convert), a
column the spec no longer declares (dropping it deletes its data), another engine,
partition key or sort key (a new table and a copy of every row), another storage policy
(moving data between disks). A refusal holds back the whole plan, so a run that refuses
changes nothing. Tables in a log database that the spec does not declare are reported and
left alone (readers of the database can read them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.column_types import canonical_type, same_type
from hardhouse.provision.desired import DesiredDatabase, DesiredTable, DesiredView
from hardhouse.provision.state import ExistingState, ExistingTable
from hardhouse.spec.redaction import is_view_of

VIEW_ENGINE = "MaterializedView"


@dataclass(frozen=True)
class Step:
    target: str  # database, database.table or database.table.column
    # create_database | create_table | create_view | add_column | modify_ttl | remove_ttl | rewrite_rows | drop_view
    kind: str
    statement: str
    why: str

    @property
    def outcome(self) -> str:
        if self.kind.startswith("create"):
            return "created"
        return "dropped" if self.kind.startswith("drop") else "altered"


@dataclass(frozen=True)
class Refusal:
    target: str
    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.target}: {self.reason}. Fix: {self.fix}"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    matched: list[tuple[str, str]] = field(default_factory=list)  # (table, its shape): as found and wanted
    refusals: list[Refusal] = field(default_factory=list)
    left_alone: list[tuple[str, str]] = field(default_factory=list)  # (table, why): not declared by the spec
    notes: list[tuple[str, str]] = field(default_factory=list)  # (table, what the change means for it)

    @property
    def runnable(self) -> list[Step]:
        """The steps to run: none when anything is refused."""
        return [] if self.refusals else list(self.steps)


def plan(desired: list[DesiredDatabase], existing: ExistingState, version: versions.Version) -> Plan:
    """Steps in order: databases, tables, then columns and retention of existing tables."""
    result = Plan()
    alters: list[Step] = []
    views: list[Step] = []
    drops: list[Step] = []
    for database in desired:
        if database.name not in existing.databases:
            result.steps.append(Step(database.name, "create_database", database.create, "missing"))
        else:
            result.matched.append((database.name, "the database exists"))
        wanted = {table.name for table in database.tables} | {view.name for view in database.views}
        for table in database.tables:
            found = existing.tables.get((table.database, table.name))
            if found is None:
                result.steps.append(Step(table.qualified, "create_table", table.create, "missing"))
                if table.stores_for is not None and (table.database, table.stores_for) in existing.tables:
                    result.notes.append((f"{table.database}.{table.stores_for}", _redaction_starts(table)))
            else:
                alters += _compare(table, found, version, result, existing.unredacted)
        for view in database.views:
            step, replaced = _view(view, existing, result)
            views += [step] if step else []
            drops += replaced
            wanted |= {step.target.split(".", 1)[1] for step in replaced}
        result.left_alone += [
            (f"{t.database}.{t.name}", f"not in the spec; left as it is (readers of {database.name} can read it)")
            for t in existing.tables_in(database.name)
            if t.name not in wanted
        ]
    result.steps += alters + views + drops
    return result


def _view(view: DesiredView, existing: ExistingState, result: Plan) -> tuple[Step | None, list[Step]]:
    """(the step creating the wanted view, or None when it is there; the older views to drop)."""
    found = existing.tables.get((view.database, view.name))
    if found is not None and found.engine != VIEW_ENGINE:
        result.refusals.append(
            Refusal(
                view.qualified,
                f"a {found.engine} table has the name of {view.table}'s redaction view",
                "rename or drop that table yourself; hardhouse names its views TABLE_redact_ and a digest",
            )
        )
        return None, []
    named_alike = [
        t
        for t in existing.tables_in(view.database)
        if t.engine == VIEW_ENGINE and t.name != view.name and is_view_of(t.name, view.table)
    ]
    stored = f"{view.database}.{view.table}"
    older = [t for t in named_alike if t.writes_to == stored]
    for stranger in (t for t in named_alike if t.writes_to != stored):
        # Not one hardhouse made: a view without TO keeps rows of its own, which DROP would delete.
        where = f"writes into {stranger.writes_to}" if stranger.writes_to else "keeps rows of its own"
        result.refusals.append(
            Refusal(
                f"{stranger.database}.{stranger.name}",
                f"a materialized view named like {view.table}'s redaction view {where}; hardhouse never drops it",
                "rename or drop it yourself, after moving any rows it keeps",
            )
        )
    drops = [
        Step(
            f"{t.database}.{t.name}",
            "drop_view",
            f"DROP TABLE {t.database}.{t.name}",
            f"replaced by {view.name} (another SELECT: the rules or columns changed); a view holds no rows",
        )
        for t in older
    ]
    if found is not None:
        result.matched.append((view.qualified, f"the redaction view into {view.table} exists"))
        return None, drops
    return Step(view.qualified, "create_view", view.create, f"redaction into {view.table}"), drops


def _redaction_starts(ingest: DesiredTable) -> str:
    stored = f"{ingest.database}.{ingest.stores_for}"
    return (
        f"redaction starts now: writers insert into {ingest.qualified} from this run on (on targets with users.d "
        f"grants they lose INSERT on {stored}); rows already in {stored} keep their text and are not rewritten. "
        "Count the secrets among them with `hardhouse scan`"
    )


def _compare(
    table: DesiredTable,
    found: ExistingTable,
    version: versions.Version,
    result: Plan,
    existing_unredacted: Mapping[str, int],
) -> list[Step]:
    """The steps for one existing table; refusals and a match go into result."""
    refusals = _structure_refusals(table, found)
    steps: list[Step] = []
    present = dict(found.columns)
    previous: str | None = None
    for name, wanted_type in table.columns:
        if name not in present:
            after = f" AFTER {previous}" if previous else ""
            steps.append(
                Step(
                    f"{table.qualified}.{name}",
                    "add_column",
                    f"ALTER TABLE {table.qualified} ADD COLUMN {name} {wanted_type}{after}",
                    "declared in the spec, missing from the table",
                )
            )
        elif not same_type(wanted_type, present[name]):
            refusals.append(
                Refusal(
                    f"{table.qualified}.{name}",
                    f"the column is {present[name]}, the spec says {canonical_type(wanted_type)}; changing a "
                    "column's type rewrites every part and can lose values that do not convert",
                    f"keep the spec at {present[name]}, or add a column under a new name and move the data yourself",
                )
            )
        previous = name
    declared = {name for name, _ in table.columns}
    for name, server_type in found.columns:
        if name not in declared:
            refusals.append(
                Refusal(
                    f"{table.qualified}.{name}",
                    f"the table has a column {name} {server_type} that the spec does not declare; hardhouse never "
                    "drops a column (its data would go)",
                    f"declare it again in log_databases.{table.database}.tables.{table.name}.columns, or drop it "
                    "yourself as an owner if its data may go",
                )
            )
    if found.ttl != table.ttl:
        if not versions.has(version, "table_ttl"):
            refusals.append(
                Refusal(
                    table.qualified,
                    f"the table has TTL {found.ttl}, and ClickHouse {version} (the spec's target) has no TTL",
                    "check clickhouse_version; remove the TTL yourself if the server really is that version",
                )
            )
        elif table.ttl_sql is None:
            steps.append(
                Step(
                    table.qualified,
                    "remove_ttl",
                    f"ALTER TABLE {table.qualified} REMOVE TTL",
                    f"retention_days is null: rows are kept (the table had TTL {found.ttl})",
                )
            )
        else:
            was = f"TTL {found.ttl}" if found.ttl else "no TTL"
            steps.append(
                Step(
                    table.qualified,
                    "modify_ttl",
                    f"ALTER TABLE {table.qualified} MODIFY TTL {table.ttl_sql}",
                    f"retention: TTL {table.ttl} (the table had {was})",
                )
            )
    result.refusals += refusals
    unredacted = existing_unredacted.get(table.qualified, 0)
    if unredacted and table.rewrites:
        assignments = ", ".join(f"{column} = {value}" for column, value in table.rewrites)
        steps.append(
            Step(
                table.qualified,
                "rewrite_rows",
                f"ALTER TABLE {table.qualified} UPDATE {assignments} WHERE {table.unredacted_rows()}",
                f"{unredacted} rows stored before redaction are rewritten as asked (a mutation: ClickHouse "
                "removes the old parts after old_parts_lifetime; backups taken before keep the text)",
            )
        )
    if not steps and not refusals:
        result.matched.append((table.qualified, _shape(found)))
    return steps  # with a refusal they are only shown: Plan.runnable holds them back


def _structure_refusals(table: DesiredTable, found: ExistingTable) -> list[Refusal]:
    """Engine, keys and storage policy: none of them changes in place."""
    copy = "a new table and a copy of every row"
    fix = (
        f"move the data yourself (a new table, INSERT ... SELECT, RENAME TABLE), or give "
        f"log_databases.{table.database}.tables.{table.name} another name"
    )
    refusals = []
    for what, have, want in (
        ("engine", found.engine, table.engine),
        ("partition key", found.partition_key, table.partition_key),
        ("sort key (the time column)", found.sorting_key, table.sorting_key),
    ):
        if have != want:
            refusals.append(
                Refusal(
                    table.qualified, f"the {what} is {have or 'none'}, the spec's is {want}; that needs {copy}", fix
                )
            )
    if (
        table.storage_policy is not None
        and found.storage_policy is not None
        and found.storage_policy != table.storage_policy
    ):
        refusals.append(
            Refusal(
                table.qualified,
                f"the table is on storage policy {found.storage_policy}, the spec's is {table.storage_policy}; "
                "moving it means rewriting its data on other disks",
                fix,
            )
        )
    return refusals


def _shape(found: ExistingTable) -> str:
    ttl = f"TTL {found.ttl}" if found.ttl else "no TTL"
    policy = f", storage policy {found.storage_policy}" if found.storage_policy else ""
    return (
        f"{len(found.columns)} columns, {found.engine} PARTITION BY {found.partition_key} "
        f"ORDER BY {found.sorting_key}, {ttl}{policy}"
    )
