"""The spec's `log_databases.NAME.tables.T.redact`: which columns of a log table have secrets
rewritten before a row is stored, by which rules (hardhouse's built-in shapes and the team's
own, hardhouse.secret_shapes), and the names of the ingest table and view that do it.

How it is built (rendered by render/log_databases, planned by provision): writers insert into
T_ingest (Null engine: it stores nothing), whose materialized view T_redact_<digest> rewrites
the named columns with replaceRegexpAll and inserts into T. The view's name carries a digest of
its SELECT, so a change of rules or columns is a new view (created before the old one is
dropped: a row inserted in between is stored twice, never lost)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.column_types import ColumnType, parse_column_type
from hardhouse.secret_shapes import (
    BUILTIN_NAMES,
    BUILTIN_RULES,
    REDACTED,
    RuleError,
    SecretRule,
    check_replacement,
    compile_rule,
)
from hardhouse.spec.declare import StrictModel, described
from hardhouse.spec.errors import Problem, excerpt, listing
from hardhouse.spec.fields import check_name, fail

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec

INGEST_SUFFIX = "_ingest"
VIEW_INFIX = "_redact_"
DIGEST_HEX = 12
# A table name leaves room for its view's name within ClickHouse's 63 characters here.
TABLE_NAME_MAX = 63 - len(VIEW_INFIX) - DIGEST_HEX
RULES_MAX = 50  # the team's own; each is one more nested call (ClickHouse parses at most 1000 levels)
# The view's SELECT stays well inside ClickHouse's max_query_size (262,144 bytes by default).
VIEW_TEXT_MAX = 200_000


class RedactRule(StrictModel):
    name: str = described(description="rule name (unique in the table; not one of the built-in names)")
    regexp: str = described(description="RE2 regular expression matching the secret (ClickHouse's engine)")
    replace: str = described(REDACTED, description="what replaces each match; \\0..\\9 insert capture groups")

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        check_name(value, "rule name")
        if value in BUILTIN_NAMES:
            raise fail(f"{value!r} is a built-in rule's name", "give the rule its own name")
        return value

    @model_validator(mode="after")
    def valid_rule(self) -> RedactRule:
        for field, check in (("regexp", lambda: compile_rule(self.regexp)), ("replace", self._check_replace)):
            try:
                check()
            except RuleError as error:
                raise PydanticCustomError("hardhouse", f"{field}: {error.reason}", {"fix": error.fix}) from None
        return self

    def _check_replace(self) -> None:
        check_replacement(self.replace, compile_rule(self.regexp).groups)

    def as_secret_rule(self) -> SecretRule:
        return SecretRule(self.name, self.regexp, self.replace, "the spec's own rule")


class Redaction(StrictModel):
    columns: list[str] | None = described(
        None,
        description=(
            "the columns whose text is rewritten (String, Nullable(String), LowCardinality(String) or an Array of "
            "them); null: every such column of the table"
        ),
    )
    builtin_rules: bool = described(
        True,
        description=(
            "apply hardhouse's rules: API keys (sk-/pk_/rk_, ghp_, xox?-, AKIA), bearer tokens, JWTs, "
            "password=/secret=/token=/api_key= pairs, passwords in URLs, private key blocks"
        ),
        why="shippers forward whatever applications print; the incident's log table held API keys",
    )
    rules: list[RedactRule] = described(
        default_factory=list, description=f"the team's own rules (at most {RULES_MAX}), applied after the built-in ones"
    )

    @field_validator("columns")
    @classmethod
    def valid_columns(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise fail("an empty column list redacts nothing", "name the columns, or omit columns for all of them")
            for name in value:
                check_name(name, "column name")
            if len(set(value)) != len(value):
                raise fail("a column is listed twice", "list each column once")
        return value

    @model_validator(mode="after")
    def redacts_something(self) -> Redaction:
        if not self.builtin_rules and not self.rules:
            raise PydanticCustomError(
                "hardhouse",
                "builtin_rules is false and no rule is given, so nothing would be redacted",
                {"fix": "keep builtin_rules: true, or add rules"},
            )
        if len(self.rules) > RULES_MAX:
            raise PydanticCustomError(
                "hardhouse",
                f"{len(self.rules)} rules; at most {RULES_MAX} are rendered",
                {"fix": "merge rules with alternation (a|b), or drop the ones the built-in rules cover"},
            )
        names = [rule.name for rule in self.rules]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise PydanticCustomError(
                "hardhouse", f"rule {listing(twice, quoted=True)} is named twice", {"fix": "name each rule once"}
            )
        return self

    def secret_rules(self) -> tuple[SecretRule, ...]:
        """The rules in the order they rewrite: the built-in ones, then the spec's."""
        own = tuple(rule.as_secret_rule() for rule in self.rules)
        return (BUILTIN_RULES if self.builtin_rules else ()) + own


def redactable(parsed: ColumnType) -> bool:
    """A column whose text replaceRegexpAll can rewrite: String, or String in Nullable,
    LowCardinality or Array (arrayMap rewrites each element)."""
    if parsed.family == "String":
        return True
    if parsed.family in ("Nullable", "LowCardinality", "Array"):
        inner = parsed.arguments[0].type
        return inner is not None and redactable(inner)
    return False


def holds_text(parsed: ColumnType) -> bool:
    """A column that can hold text a secret may be in (FixedString, Map, Tuple of strings too)."""
    if parsed.family in ("String", "FixedString"):
        return True
    return any(argument.type is not None and holds_text(argument.type) for argument in parsed.arguments)


def redacted_columns(columns: dict[str, str], redaction: Redaction) -> list[str]:
    """The columns rewritten, in the table's order."""
    wanted = set(redaction.columns) if redaction.columns is not None else None
    return [
        name
        for name, text in columns.items()
        if (wanted is None or name in wanted) and redactable(parse_column_type(text))
    ]


def redaction_problem(columns: dict[str, str], redact: Redaction) -> tuple[str, str] | None:
    """(problem, fix), or None: the named columns exist and are text replaceRegexpAll rewrites;
    with no names, every column that can hold text is one it rewrites (else it keeps secrets)."""
    for name in redact.columns or []:
        column_type = columns.get(name)
        if column_type is None:
            return (
                f"redact.columns names {excerpt(name)}, which is not among the columns",
                f"use one of: {listing(columns)}",
            )
        if not redactable(parse_column_type(column_type)):
            return (
                f"redact.columns names {name!r}, a {column_type} column, and only String columns are rewritten",
                "name String, Nullable(String), LowCardinality(String) or Array(String) columns only",
            )
    if redact.columns is None:
        kept = [
            name
            for name, text in columns.items()
            if holds_text(parsed := parse_column_type(text)) and not redactable(parsed)
        ]
        if kept:
            return (
                f"column {listing(kept, quoted=True)} can hold text that redaction cannot rewrite "
                "(FixedString, Map or Tuple)",
                "list the columns to redact in redact.columns (the others are stored as written), "
                "or make the column String",
            )
    rewritten = redacted_columns(columns, redact)
    if not rewritten:
        return (
            "redact is set and the table has no String column to rewrite",
            "remove redact, or add the String column that holds the log text",
        )
    # Each rewritten column repeats every rule (as escaped SQL literals in a nested call).
    per_column = sum(2 * (len(rule.regexp) + len(rule.replace)) + 40 for rule in redact.secret_rules())
    if per_column * len(rewritten) > VIEW_TEXT_MAX:
        return (
            f"the redaction view would be about {per_column * len(rewritten):,} bytes of SQL "
            f"({len(rewritten)} columns x {len(redact.secret_rules())} rules), over ClickHouse's query size limit",
            "redact fewer columns (redact.columns), or use fewer or shorter rules",
        )
    return None


def ingest_table(table: str) -> str:
    return f"{table}{INGEST_SUFFIX}"


def view_name(table: str, select: str) -> str:
    """The view's name: the table's, and a digest of the SELECT it runs."""
    return f"{table}{VIEW_INFIX}{hashlib.sha256(select.encode()).hexdigest()[:DIGEST_HEX]}"


def is_view_of(name: str, table: str) -> bool:
    """A name hardhouse gives a redaction view of `table` (any digest)."""
    prefix = f"{table}{VIEW_INFIX}"
    rest = name[len(prefix) :]
    return name.startswith(prefix) and len(rest) == DIGEST_HEX and all(c in "0123456789abcdef" for c in rest)


def rules_by_table(spec: HardeningSpec) -> dict[tuple[str, str], tuple[SecretRule, ...]]:
    """(database, table) -> its redaction's rules, for every redacted log table (what a scan of
    that table counts; the others are scanned with the built-in rules)."""
    return {
        (db_name, t_name): table.redact.secret_rules()
        for db_name, database in spec.log_databases.items()
        for t_name, table in database.tables.items()
        if table.redact is not None
    }


def checks(spec: HardeningSpec) -> list[Problem]:
    """Writers of a redacted table only where the view, not the writer, writes into it."""
    if not versions.has(spec.version, "users_xml_grants") or versions.has(spec.version, "view_definer"):
        return []  # 18.16 has no writers at all (refused with the log databases)
    return [
        Problem(
            f"log_databases.{db_name}.tables.{t_name}.redact",
            f"on ClickHouse {spec.version} a writer inserting through the redaction view needs INSERT on {t_name} "
            "itself (a view writes with the inserting user's rights before 24.3), so writers could store "
            "unredacted rows",
            "target ClickHouse 24.3 or newer, or remove the writers and let an owner write",
        )
        for db_name, db in spec.log_databases.items()
        if db.writers
        for t_name, table in db.tables.items()
        if table.redact is not None
    ]
