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


def replaced(value: str, rules: tuple[SecretRule, ...]) -> str:
    """`value` with every rule's replaceRegexpAll applied, in order."""
    for rule in rules:
        value = f"replaceRegexpAll({value}, {sql_string(rule.regexp)}, {sql_string(rule.replace)})"
    return value


def any_rule(rules: tuple[SecretRule, ...]) -> str:
    """One RE2 alternation of the rules: it matches a text exactly when one of them does (each
    rule in its own non-capturing group, so its flags and alternatives stay its own)."""
    return "|".join(f"(?:{rule.regexp})" for rule in rules)


def rewritten(value: str, parsed: ColumnType, rules: tuple[SecretRule, ...], depth: int = 1) -> str:
    """`value` with every rule's replaceRegexpAll applied, in order; an Array's elements each
    (arrayMap, one lambda variable per level). Nullable and LowCardinality pass through.

    With more than one rule, only a text that one of them matches is rewritten: the rules run
    inside arrayMap over arrayFilter(match(any rule), [value]), which evaluates them on the
    matching texts alone (18.16's `if` would evaluate both branches for every row), and
    arrayConcat(..., [value])[1] takes the rewrite or else the text as it came. A text no rule
    matches is what the rewrite would leave, so the stored text is the same; most log lines
    then cost one RE2 scan instead of one per rule (bench/redaction_bench.py). The alternation
    starts at its top level, so ClickHouse's match() runs RE2 on it (18.16's literal shortcut
    for a single pattern folds case in ASCII only, RE2 in Unicode)."""
    if parsed.family == "Array":
        inner = parsed.arguments[0].type
        assert inner is not None
        element = f"x{depth}"
        return f"arrayMap({element} -> {rewritten(element, inner, rules, depth + 1)}, {value})"
    if len(rules) < 2:
        return replaced(value, rules)
    element = f"x{depth}"
    # A NULL is tested as '' (no rule matches an empty text) and passes through as NULL.
    tested = f"assumeNotNull({element})" if nullable(parsed) else element
    matching = f"arrayFilter({element} -> match({tested}, {sql_string(any_rule(rules))}), [{value}])"
    return f"arrayConcat(arrayMap({element} -> {replaced(element, rules)}, {matching}), [{value}])[1]"


def nullable(parsed: ColumnType) -> bool:
    if parsed.family == "Nullable":
        return True
    inner = parsed.arguments[0].type if parsed.family == "LowCardinality" and parsed.arguments else None
    return inner is not None and nullable(inner)


def rewrites(table: LogTable) -> tuple[tuple[str, str], ...]:
    """(column, the SQL of its redacted value) for each column a redacted table rewrites."""
    if table.redact is None:
        return ()
    rules = table.redact.secret_rules()
    return tuple(
        (column, rewritten(column, parse_column_type(table.columns[column]), rules))
        for column in redacted_columns(table.columns, table.redact)
    )


def redaction_context(database: str, name: str, table: LogTable) -> dict[str, Any] | None:
    """The ingest table and view of a redacted table: names, and the view's SELECT."""
    if table.redact is None:
        return None
    rewrite = dict(rewrites(table))
    ingest = ingest_table(name)
    lines = [f"    {rewrite[column]} AS {column}" if column in rewrite else f"    {column}" for column in table.columns]
    select = "SELECT\n" + ",\n".join(lines) + f"\nFROM {database}.{ingest}"
    return {
        "ingest": ingest,
        "view": view_name(name, select),
        "select": select,
        "columns": list(rewrite),
        "rules": [rule.name for rule in table.redact.secret_rules()],
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
