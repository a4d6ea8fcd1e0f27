"""The spec's log_databases section: the databases that hold logs, their tables, retention,
encryption, and who may write, read or own them; the models and the rules that span them (and
the users and versions they rely on). The rights each user gets from them: spec.rights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.column_types import families, is_time_type, parse_column_type
from hardhouse.clickhouse.stock import RESERVED_DATABASES
from hardhouse.spec.declare import ColumnType, StrictModel, UserReference, described
from hardhouse.spec.errors import Problem, excerpt, listing
from hardhouse.spec.fields import check_env_name, check_host_path, check_name, fail, has_control_character
from hardhouse.spec.gates import Gate, needs, refusals
from hardhouse.spec.redaction import TABLE_NAME_MAX, Redaction, ingest_table, redaction_problem
from hardhouse.spec.settings import profile_is_read_only

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec


class LogTable(StrictModel):
    columns: dict[str, ColumnType] = described(
        description=(
            "column name -> ClickHouse type, a type only (no DEFAULT, CODEC or TTL): String, UInt8..Int256, "
            "Float32/64, Decimal, Bool, Date, DateTime, DateTime64, UUID, IPv4/6, FixedString, Enum8/16, Array, "
            "Tuple, Map, Nullable, LowCardinality"
        )
    )
    time_column: str = described(description="column (Date/DateTime) the retention counts from; also the sort key")
    redact: Redaction | None = described(
        None,
        description=(
            "rewrite secrets in the table's text columns before a row is stored: writers insert into TABLE_ingest, "
            "whose materialized view applies the rules and stores into TABLE; null: rows are stored as written"
        ),
        why="a log table that stores an API key hands it to every reader, replica and backup",
    )

    @field_validator("columns")
    @classmethod
    def valid_columns(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise fail("no column is declared", "declare the columns, e.g. {ts: DateTime, message: String}")
        for name in value:
            check_name(name, "column name")
        return value

    @model_validator(mode="after")
    def valid_time_column(self) -> LogTable:
        column_type = self.columns.get(self.time_column)
        if column_type is None:
            raise PydanticCustomError(
                "hardhouse",
                f"time_column {excerpt(self.time_column)} is not among the columns",
                {"fix": f"use one of: {listing(self.columns)}"},
            )
        if not is_time_type(parse_column_type(column_type)):
            raise PydanticCustomError(
                "hardhouse",
                f"time_column {self.time_column!r} has type {column_type}, not a date or time",
                {"fix": "point time_column at a Date, DateTime or DateTime64 column"},
            )
        if self.redact is not None:
            problem = redaction_problem(self.columns, self.redact)
            if problem is not None:
                raise PydanticCustomError("hardhouse", problem[0], {"fix": problem[1]})
        return self


class LogEncryption(StrictModel):
    key_env: str | None = described(
        None,
        description=(
            "environment variable of the clickhouse-server process holding the key (64 hex digits, AES-256); read by "
            "ClickHouse at start (from_env)"
        ),
    )
    key_file: str | None = described(
        None,
        description=(
            "XML file on the ClickHouse host whose element hardhouse_key_DATABASE holds the key (64 hex digits); read "
            "by ClickHouse at start (include_from); a path by the same rule as tls.certificate"
        ),
    )

    @field_validator("key_env")
    @classmethod
    def valid_env_name(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value, "CH_LOGS_KEY")

    @field_validator("key_file")
    @classmethod
    def valid_key_file(cls, value: str | None) -> str | None:
        return None if value is None else check_host_path(value, "/etc/clickhouse-server/secrets/log-keys.xml")

    @model_validator(mode="after")
    def one_key_source(self) -> LogEncryption:
        if (self.key_env is None) == (self.key_file is None):
            raise PydanticCustomError(
                "hardhouse",
                "the key must come from exactly one place",
                {
                    "fix": (
                        "give key_env (a variable of the server process) or key_file "
                        "(a file on the ClickHouse host); the "
                        "key itself never goes in the spec"
                    )
                },
            )
        return self


ROW_CONDITION_MAX = 1000


class ReaderLimit(StrictModel):
    tables: list[str] | None = described(
        None,
        description="tables of the log database this reader may SELECT (GRANT SELECT ON db.table); null: every table",
        why="a dashboard that needs one table should not read the others",
    )
    rows: dict[str, str] = described(
        default_factory=dict,
        description=(
            "table -> SQL condition a row must meet to be seen (a users.d row filter), e.g. "
            "\"level != 'secret'\"; ClickHouse parses it when the reader queries"
        ),
        why="rows outside the reader's concern stay invisible, not merely unqueried",
    )

    @field_validator("tables")
    @classmethod
    def valid_tables(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise fail("an empty table list locks the reader out", "list at least one table, or omit tables")
            for name in value:
                check_name(name, "table name")
        return value

    @field_validator("rows")
    @classmethod
    def valid_conditions(cls, value: dict[str, str]) -> dict[str, str]:
        for table, condition in value.items():
            check_name(table, "table name")
            if not condition.strip() or len(condition) > ROW_CONDITION_MAX:
                raise fail(
                    f"the condition for {table!r} is empty or longer than {ROW_CONDITION_MAX} characters",
                    "write one SQL boolean expression over the table's columns, e.g. level != 'secret'",
                )
            if has_control_character(condition) or ";" in condition:
                raise fail(
                    f"the condition for {table!r} contains a control character or a ';'",
                    "write one SQL boolean expression on one line, without ';'",
                )
        return value


class LogDatabase(StrictModel):
    tables: dict[str, LogTable] = described(description="log tables by name, created with retention and storage policy")
    retention_days: Annotated[
        int | None,
        Gate(
            "table_ttl",
            "set retention_days: null (and delete old rows yourself), or target a newer clickhouse_version",
        ),
    ] = described(
        30,
        description=(
            "rows older than this are deleted (TTL on time_column); null keeps them forever (the only choice on 18.16)"
        ),
        why="logs hold secrets; what is gone cannot leak",
    )
    writers: Annotated[
        list[UserReference],
        Gate(
            "users_xml_grants",
            "target a newer clickhouse_version, or remove the writers (an owner can write, but also read and drop)",
            note="; before it, a user allowed into a database may also read and drop it",
        ),
    ] = described(
        default_factory=list,
        description="users that may INSERT and nothing else: no SELECT, no DROP (needs users.d grants, 23.6+)",
        why="an ingest credential that leaks must not read the logs back",
    )
    readers: list[UserReference] = described(
        default_factory=list,
        description=(
            "users that may SELECT only (on targets without users.d grants: allow_databases plus a read-only profile)"
        ),
    )
    owners: list[UserReference] = described(
        default_factory=list,
        description=(
            "users with every right on the database (schema and retention changes); the deploy applies the DDL as one "
            "of them"
        ),
    )
    reader_limits: dict[UserReference, ReaderLimit] = described(
        default_factory=dict,
        description=(
            "readers (each also listed under readers) limited to some tables or rows (23.6+: users.d grants and row "
            "filters)"
        ),
        why="the log database holds more than any one reader needs",
    )
    encryption: Annotated[
        LogEncryption | None,
        Gate(
            "encrypted_disk",
            "set encryption: null (encrypt the filesystem instead), or target a newer clickhouse_version",
        ),
    ] = described(
        None,
        description="encrypted disk and storage policy for the tables (22.8+); null stores them unencrypted",
        why="the server needs a key it can read at start; providing one is the operator's decision",
    )

    @field_validator("tables")
    @classmethod
    def valid_tables(cls, value: dict[str, LogTable]) -> dict[str, LogTable]:
        if not value:
            raise fail("no table is declared", "declare at least one log table with its columns and time_column")
        for name, table in value.items():
            check_name(name, "table name")
            if table.redact is None:
                continue
            if len(name) > TABLE_NAME_MAX:
                raise fail(
                    f"table {name!r} is redacted and longer than {TABLE_NAME_MAX} characters",
                    f"shorten it: its redaction view is named {name}_redact_ and 12 hex digits, within 63",
                )
            if ingest_table(name) in value:
                raise fail(
                    f"table {ingest_table(name)!r} is declared, and it is the name of {name!r}'s ingest table",
                    f"rename {ingest_table(name)!r}",
                )
        return value

    @field_validator("retention_days")
    @classmethod
    def positive_retention(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise fail(
                f"{excerpt(value)} days keeps nothing",
                "use a number of days (1 or more), or null to keep rows forever",
            )
        return value

    def grantees(self) -> dict[str, list[str]]:
        return {"writers": self.writers, "readers": self.readers, "owners": self.owners}


def _log_database_names(value: dict[str, LogDatabase]) -> dict[str, LogDatabase]:
    for name in value:
        check_name(name, "database name")
        if name in RESERVED_DATABASES:
            raise fail(
                f"{excerpt(name)} is ClickHouse's own database",
                "give the log database its own name, e.g. logs",
            )
    return value


LogDatabases = Annotated[dict[str, LogDatabase], AfterValidator(_log_database_names)]


# ---------------------------------------------------------------- rules that span fields


def checks(spec: HardeningSpec) -> list[Problem]:
    """Grantees nobody declares or listed twice, roles the target cannot give, column types,
    retention and encryption it lacks; users that could reach a log database by accident."""
    problems: list[Problem] = []
    users = {user.name: index for index, user in enumerate(spec.users)}
    grants = versions.has(spec.version, "users_xml_grants")
    restricted: set[str] = set()
    key_files: dict[str, str] = {}
    for db_name, db in spec.log_databases.items():
        where = f"log_databases.{db_name}"
        held: dict[str, str] = {}
        for role, members in db.grantees().items():
            for index, member in enumerate(members):
                path = f"{where}.{role}[{index}]"
                if member not in users:
                    problems.append(
                        Problem(
                            path,
                            f"user {member!r} is not declared",
                            f"declare it under users, or use one of: {listing(sorted(users))}",
                        )
                    )
                    continue
                before = held.get(member)
                if before == role:
                    problems.append(Problem(path, f"user {member!r} is listed twice", "list each user once"))
                elif before is not None and "owners" in (before, role):
                    problems.append(
                        Problem(
                            path,
                            f"user {member!r} is an owner and so already has every right here",
                            f"remove it from {where}.{role if role != 'owners' else before}",
                        )
                    )
                held.setdefault(member, role)
                if role != "owners":
                    restricted.add(member)
        problems += refusals(db, "writers", spec.version, where)
        if spec.version == versions.LEGACY:
            problems += _legacy_column_problems(where, db)
        problems += refusals(db, "retention_days", spec.version, where)
        refused = refusals(db, "encryption", spec.version, where)
        problems += refused
        if not refused and db.encryption is not None and db.encryption.key_file is not None:
            first = next(iter(key_files), None)
            if first is not None and key_files[first] != db.encryption.key_file:
                problems.append(
                    Problem(
                        f"{where}.encryption.key_file",
                        "ClickHouse reads one include file and another log database names a different one",
                        f"keep every log database key in the one file log_databases.{first}.encryption.key_file names",
                    )
                )
            key_files.setdefault(db_name, db.encryption.key_file)
        if not grants:
            for index, reader in enumerate(db.readers):
                user_index = users.get(reader)
                if user_index is not None and not profile_is_read_only(spec, spec.users[user_index].profile):
                    problems.append(
                        Problem(
                            f"{where}.readers[{index}]",
                            f"on ClickHouse {spec.version} only a read-only profile keeps a reader from writing, and "
                            f"users[{user_index}].profile {spec.users[user_index].profile!r} is not read-only",
                            f"set users[{user_index}].profile to readonly (or a profile with readonly: 1), or target a "
                            "newer clickhouse_version",
                        )
                    )
    for index, user in enumerate(spec.users):
        for db_index, database in enumerate(user.databases or []):
            if database in spec.log_databases:
                problems.append(
                    Problem(
                        f"users[{index}].databases[{db_index}]",
                        f"{database!r} is a log database, whose rights are given by role",
                        f"remove it and name the user under log_databases.{database}.readers, writers or owners",
                    )
                )
        if user.name in restricted or user.databases is not None:
            continue
        exposed = [name for name, db in spec.log_databases.items() if user.name not in db.owners]
        if exposed:
            problems.append(
                Problem(
                    f"users[{index}].databases",
                    f"{user.name!r} may use every database, including log database {listing(exposed, quoted=True)}",
                    f"give it a databases allow-list, or name it under log_databases.{exposed[0]}.readers, writers or "
                    "owners",
                )
            )
    return problems


def _legacy_column_problems(where: str, db: LogDatabase) -> list[Problem]:
    """Column types 18.16 cannot create (its CREATE TABLE would fail at deploy time)."""
    problems = []
    for table_name, table in db.tables.items():
        for column, text in table.columns.items():
            missing = sorted(families(parse_column_type(text)) - versions.LEGACY_TYPE_FAMILIES)
            if missing:
                problems.append(
                    Problem(
                        f"{where}.tables.{table_name}.columns.{column}",
                        f"ClickHouse 18.16 has no {', '.join(missing)} type",
                        "use a type 18.16 has (String, Int64, UInt64, Float64, Date, DateTime, Decimal, Enum8, "
                        "Array, Nullable, Tuple, UUID, FixedString), or target a newer clickhouse_version",
                    )
                )
    return problems


def reader_limit_checks(spec: HardeningSpec) -> list[Problem]:
    problems: list[Problem] = []
    for db_name, db in spec.log_databases.items():
        for reader, limit in db.reader_limits.items():
            where = f"log_databases.{db_name}.reader_limits.{reader}"
            if reader not in db.readers:
                problems.append(
                    Problem(
                        where,
                        f"{reader!r} is not a reader of {db_name}",
                        f"list it under log_databases.{db_name}.readers",
                    )
                )
            problem = needs(
                "users_xml_row_filters",
                spec.version,
                where,
                "remove reader_limits, or target a newer clickhouse_version",
            )
            if problem is not None:
                problems.append(problem)
            visible = limit.tables if limit.tables is not None else list(db.tables)
            for field, names in (("tables", limit.tables or []), ("rows", list(limit.rows))):
                for name in names:
                    if name not in db.tables:
                        problems.append(
                            Problem(
                                f"{where}.{field}",
                                f"table {name!r} is not declared in {db_name}",
                                f"use one of: {listing(db.tables)}",
                            )
                        )
                    elif field == "rows" and name not in visible:
                        problems.append(
                            Problem(
                                f"{where}.rows",
                                f"table {name!r} is not among the reader's tables",
                                "add it to tables, or drop its filter",
                            )
                        )
    return problems
