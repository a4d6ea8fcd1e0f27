"""The log_databases section's files: the encrypted disks and storage policies (config.d), and
the DDL an owner applies (sql/), which names no secret: the deploy plans from it without
reading any password (hardhouse.provision)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.column_types import ColumnType, parse_column_type
from hardhouse.clickhouse.literals import sql_string
from hardhouse.render.jinja import environment
from hardhouse.secret_shapes import SecretRule
from hardhouse.spec.log_databases import LogTable
from hardhouse.spec.model import HardeningSpec
from hardhouse.spec.redaction import ingest_table, redacted_columns, view_name

if TYPE_CHECKING:
    from hardhouse.render.inputs import RenderInput

KEY_INCLUDE_PREFIX = "hardhouse_key_"  # element name of a log database key in key_file


def log_disk_name(database: str) -> str:
    return f"hardhouse_{database}_encrypted"


def log_policy_name(database: str) -> str:
    return f"hardhouse_{database}"


def log_storage(given: RenderInput) -> dict[str, Any] | None:
    disks = []
    include_from = None
    for name, db in given.spec.log_databases.items():
        if db.encryption is None:
            continue
        if db.encryption.key_file is not None:
            include_from = db.encryption.key_file
        disks.append(
            {
                "database": name,
                "name": log_disk_name(name),
                "policy": log_policy_name(name),
                "key_env": db.encryption.key_env,
                "key_include": f"{KEY_INCLUDE_PREFIX}{name}",
            }
        )
    if not disks:
        return None
    return {"disks": disks, "include_from": include_from}


def rewritten(value: str, parsed: ColumnType, rules: tuple[SecretRule, ...], depth: int = 1) -> str:
    """`value` with every rule's replaceRegexpAll applied, in order; an Array's elements each
    (arrayMap, one lambda variable per level). Nullable and LowCardinality pass through."""
    if parsed.family == "Array":
        inner = parsed.arguments[0].type
        assert inner is not None
        element = f"x{depth}"
        return f"arrayMap({element} -> {rewritten(element, inner, rules, depth + 1)}, {value})"
    for rule in rules:
        value = f"replaceRegexpAll({value}, {sql_string(rule.regexp)}, {sql_string(rule.replace)})"
    return value


def redaction_context(database: str, name: str, table: LogTable) -> dict[str, Any] | None:
    """The ingest table and view of a redacted table: names, and the view's SELECT."""
    if table.redact is None:
        return None
    rules = table.redact.secret_rules()
    rewrite = set(redacted_columns(table.columns, table.redact))
    ingest = ingest_table(name)
    lines = [
        f"    {rewritten(column, parse_column_type(text), rules)} AS {column}" if column in rewrite else f"    {column}"
        for column, text in table.columns.items()
    ]
    select = "SELECT\n" + ",\n".join(lines) + f"\nFROM {database}.{ingest}"
    return {
        "ingest": ingest,
        "view": view_name(name, select),
        "select": select,
        "columns": [column for column in table.columns if column in rewrite],
        "rules": [rule.name for rule in rules],
    }


def log_database_context(spec: HardeningSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "retention_days": db.retention_days,
            "policy": log_policy_name(name) if db.encryption is not None else None,
            "writers": db.writers,
            "readers": db.readers,
            "owners": db.owners,
            "tables": [
                {
                    "name": t_name,
                    "columns": table.columns,
                    "time_column": table.time_column,
                    "redact": redaction_context(name, t_name, table),
                }
                for t_name, table in db.tables.items()
            ],
        }
        for name, db in spec.log_databases.items()
    ]


def log_database_sql(spec: HardeningSpec) -> str:
    """The log database DDL (sql/)."""
    version = spec.version
    template = environment().get_template("log_databases.sql.j2")
    return template.render(
        concern="log databases",
        databases=log_database_context(spec),
        cluster=spec.cluster.name if spec.cluster else None,
        version=str(version),
        has=lambda feature: versions.has(version, feature),
    )
