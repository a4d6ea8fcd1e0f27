"""The hardening spec (public contract v1) as a typed, validated model.

Every default lives here with its reason (`why`), and the README's field reference is
generated from these same Field declarations (see hardhouse.spec.reference). Rules for
single strings live in hardhouse.spec.fields; rules that span fields in hardhouse.spec.checks.
Secrets are not read here; see hardhouse.render.credentials.

The module is over 500 lines because it is the whole public contract in one place: every
field with its default, description and reason, which the README reference is generated from.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.column_types import is_time_type, parse_column_type
from hardhouse.clickhouse.stock import RESERVED_DATABASES
from hardhouse.spec.errors import excerpt, listing
from hardhouse.spec.fields import (
    COMMON_NAME_MAX,
    REWRITE_ESCAPE,
    AnyNetwork,
    check_address,
    check_column_type,
    check_database,
    check_env_name,
    check_host_path,
    check_local_path,
    check_name,
    check_network,
    check_re2,
    check_sha256_hex,
    check_user_reference,
    fail,
    has_control_character,
    parse_network,
)

PasswordHash = Literal["auto", "sha256", "scram_sha256"]
UndeclaredUsers = Literal["refuse", "remove", "keep"]
UNDECLARED_USERS_MODES = ("refuse", "remove", "keep")
UNDECLARED_USERS_FIX = (
    "use refuse (the deploy stops before going live and names each user), remove (the deploy deletes them) "
    "or keep (they stay, judged by every control; a failing one needs a waiver); or declare the user under users"
)
HOST_PATH_RULE = "absolute, normalized, only letters, digits, . _ + @ - and /"
# The read-only profile the locked default user gets; the spec may not define it.
LOCKED_PROFILE = "hardhouse_locked"
BCRYPT_FIX = (
    "use scram_sha256 (PBKDF2-HMAC-SHA256, 4096 rounds) where the target reads it, or sha256: "
    "ClickHouse accepts bcrypt only for users created by SQL (IDENTIFIED WITH bcrypt_hash), "
    "never in users.d files, which is what hardhouse renders"
)


def described(default: Any = ..., *, description: str, why: str = "", **kwargs: Any) -> Any:
    """A Field whose description and reason feed the README reference."""
    extra = {"why": why} if why else {}
    return Field(default, description=description, json_schema_extra=extra, **kwargs)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def refuse_bcrypt(value: Any) -> Any:
    if value == "bcrypt":
        raise fail("bcrypt hashes cannot be rendered into users.d", BCRYPT_FIX)
    return value


# List items validated one by one, so an error names its index (users[0].networks[1]).
Address = Annotated[str, AfterValidator(check_address)]
Network = Annotated[str, AfterValidator(check_network)]
DatabaseName = Annotated[str, AfterValidator(check_database)]
ColumnType = Annotated[str, AfterValidator(check_column_type)]
UserReference = Annotated[str, AfterValidator(check_user_reference)]
# The shape of a version, checked before parsing: "24.8\n" or " 24.8" is not canonical.
VERSION_SHAPE = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")


class Ports(StrictModel):
    http: int | None = described(
        None,
        description="plaintext HTTP port (stock 8123)",
        why="plaintext leaks credentials and data; closed unless asked for",
    )
    native: int | None = described(
        None,
        description="plaintext native-protocol port (stock 9000)",
        why="plaintext leaks credentials and data; closed unless asked for",
    )
    https: int | None = described(8443, description="HTTPS port", why="the HTTP interface, over TLS")
    native_tls: int | None = described(
        9440, description="native protocol over TLS", why="the native interface, over TLS"
    )
    interserver_http: int | None = described(
        None,
        description="replication port (stock 9009)",
        why="unauthenticated by default; single servers do not need it",
    )
    mysql: int | None = described(
        None,
        description="MySQL compatibility port (stock 9004 on modern versions)",
        why="a second way in with its own auth quirks; closed unless asked for",
    )
    postgresql: int | None = described(
        None,
        description="PostgreSQL compatibility port (stock 9005 on modern versions)",
        why="a second way in with its own auth quirks; closed unless asked for",
    )
    grpc: int | None = described(
        None,
        description="gRPC port",
        why="a second way in; closed unless asked for",
    )

    @field_validator("*")
    @classmethod
    def port_range(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 65535:
            raise fail(f"{excerpt(value)} is not a TCP port", "use a number from 1 to 65535, or null to close it")
        return value

    def open(self) -> dict[str, int]:
        return {name: port for name, port in self.model_dump().items() if port is not None}


class Tls(StrictModel):
    certificate: str = described(
        description=f"server certificate (PEM), path on the ClickHouse host ({HOST_PATH_RULE})"
    )
    private_key: str = described(description="its private key (PEM), path on the ClickHouse host (same rule)")
    ca_certificate: str | None = described(
        None,
        description="CA bundle (PEM) used to verify clients; required when verify_clients is true",
    )
    min_protocol: Literal["tlsv1_2", "tlsv1_3"] = described(
        "tlsv1_2",
        description="oldest TLS version accepted",
        why="TLS 1.0/1.1 are broken or deprecated (RFC 8996)",
    )
    verify_clients: bool = described(
        False,
        description="require a client certificate signed by ca_certificate",
        why="passwords already authenticate; mTLS is an extra layer to opt into",
    )

    @field_validator("certificate", "private_key", "ca_certificate")
    @classmethod
    def plain_host_path(cls, value: str | None) -> str | None:
        return None if value is None else check_host_path(value)

    @model_validator(mode="after")
    def ca_for_client_verification(self) -> Tls:
        if self.verify_clients and not self.ca_certificate:
            raise PydanticCustomError(
                "hardhouse",
                "verify_clients is true but no ca_certificate is given",
                {
                    "fix": (
                        "set tls.ca_certificate to the CA that signs client certificates, or set verify_clients: false"
                    )
                },
            )
        return self


PASSWORD_SOURCES = ("password_env", "password_file", "password_sha256_hex", "certificate_common_name")


class User(StrictModel):
    name: str = described(description="login name")
    password_env: str | None = described(
        None, description="environment variable holding the password (read at render time)"
    )
    password_file: str | None = described(
        None,
        description=(
            "file holding the password (read at render time, trailing newline ignored): a regular file of at most "
            "4 KiB that only its owner may read or write (chmod 600), as ssh requires of keys"
        ),
    )
    password_sha256_hex: str | None = described(None, description="SHA-256 of the password, 64 lowercase hex digits")
    certificate_common_name: str | None = described(
        None,
        description=(
            "authenticate by TLS client certificate with this common name instead of a password (needs "
            "tls.verify_clients; 22.8+)"
        ),
        why="a key that never crosses the wire beats a password; opt in per user",
    )
    password_hash: PasswordHash | None = described(
        None,
        description="hash for this user's password, as password_hash; null uses the top-level password_hash",
    )
    networks: list[Network] = described(
        description=(
            "client networks allowed to log in as this user (addresses or CIDR, IPv4 or IPv6; no %zone); "
            "judged together, IPv4 also as ::ffff:a.b.c.d"
        ),
        why="a stolen password is useless from elsewhere",
    )
    allow_any_network: bool = described(
        False,
        description=(
            "permit networks that alone or together cover every IPv4 address (0.0.0.0/0, ::ffff:0:0/96) or every "
            "public IPv6 address (::/0, 2000::/3)"
        ),
        why="logging in from anywhere must be a visible decision",
    )
    profile: str = described("default", description="settings profile (from profiles, or stock default/readonly)")
    quota: str = described("default", description="quota (from quotas, or stock default)")
    databases: list[DatabaseName] | None = described(
        None,
        description=(
            "databases this user may use (allow-list); omitted means all, except for a writer or reader of a log "
            "database, who gets its log roles plus this list"
        ),
        why="least privilege: a log writer needs its log database only",
    )

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        check_name(value, "user name")
        if value == "default":
            raise fail(
                "the stock default user is not declared under users",
                "pick another name; default_user (remove | lock) decides the stock user's fate",
            )
        return value

    @field_validator("password_env")
    @classmethod
    def valid_env_name(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value, "CH_INGEST_PASSWORD")

    @field_validator("password_file")
    @classmethod
    def valid_password_file(cls, value: str | None) -> str | None:
        return None if value is None else check_local_path(value)

    @field_validator("password_sha256_hex")
    @classmethod
    def valid_hash(cls, value: str | None) -> str | None:
        return None if value is None else check_sha256_hex(value)

    @field_validator("password_hash", mode="before")
    @classmethod
    def no_bcrypt(cls, value: Any) -> Any:
        return refuse_bcrypt(value)

    @field_validator("certificate_common_name")
    @classmethod
    def valid_common_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value or value != value.strip():
            raise fail(
                "the common name is empty or has leading or trailing spaces",
                "write the certificate's subject CN exactly, e.g. ingest.logs.example",
            )
        if len(value) > COMMON_NAME_MAX:
            raise fail(
                f"the common name has {len(value)} characters, more than X.509 allows ({COMMON_NAME_MAX})",
                "use the certificate's subject CN",
            )
        if has_control_character(value):
            raise fail("the common name contains a control character", "use the certificate's subject CN")
        return value

    @field_validator("networks")
    @classmethod
    def valid_networks(cls, value: list[str]) -> list[str]:
        if not value:
            raise fail(
                "no client network is listed",
                'list the networks this user connects from, e.g. ["10.0.0.0/8"]',
            )
        return value

    @field_validator("profile")
    @classmethod
    def valid_profile_name(cls, value: str) -> str:
        return check_name(value, "profile name")

    @field_validator("quota")
    @classmethod
    def valid_quota_name(cls, value: str) -> str:
        return check_name(value, "quota name")

    @field_validator("databases")
    @classmethod
    def valid_databases(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise fail(
                    "an empty allow-list locks the user out of every database",
                    "list at least one database, or omit databases",
                )
        return value

    @model_validator(mode="after")
    def one_password_source(self) -> User:
        sources = [s for s in PASSWORD_SOURCES if getattr(self, s) is not None]
        if len(sources) != 1:
            problem = "no password source is given"
            if sources:
                problem = f"several password sources are given ({', '.join(sources)})"
            raise PydanticCustomError(
                "hardhouse",
                problem,
                {
                    "fix": (
                        "give exactly one of password_env, password_file, password_sha256_hex "
                        "or certificate_common_name"
                    )
                },
            )
        return self

    @property
    def has_password(self) -> bool:
        return self.certificate_common_name is None

    def parsed_networks(self) -> list[AnyNetwork]:
        return [parse_network(text) for text in self.networks]


class Quota(StrictModel):
    duration: int = described(3600, description="interval length in seconds")
    queries: int = described(0, description="queries per interval (0 = unlimited)")
    errors: int = described(0, description="failed queries per interval (0 = unlimited)")
    result_rows: int = described(0, description="result rows per interval (0 = unlimited)")
    read_rows: int = described(0, description="rows read per interval (0 = unlimited)")
    execution_time: int = described(0, description="query seconds per interval (0 = unlimited)")

    @field_validator("*")
    @classmethod
    def not_negative(cls, value: int) -> int:
        if value < 0:
            raise fail(f"{excerpt(value)} is negative", "use 0 for unlimited or a positive number")
        return value


class MaskingRule(StrictModel):
    name: str = described(description="rule name (unique)")
    regexp: str = described(description="RE2 regular expression matching the secret")
    replace: str = described("******", description="replacement text; \\1..\\9 insert capture groups")

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        return check_name(value, "rule name")

    @model_validator(mode="after")
    def valid_rule(self) -> MaskingRule:
        try:
            compiled = check_re2(self.regexp)
        except PydanticCustomError as error:
            raise PydanticCustomError("hardhouse", f"regexp: {error.message()}", error.context) from None
        if has_control_character(self.replace):
            raise PydanticCustomError("hardhouse", "replace contains a control character", {"fix": "use plain text"})
        for match in REWRITE_ESCAPE.finditer(self.replace):
            after = match.group(1)
            if after == "\\":
                continue
            if not after.isdigit() or int(after) > compiled.groups:
                raise PydanticCustomError(
                    "hardhouse",
                    f"replace refers to \\{after}, which is not a capture group of regexp",
                    {"fix": f"use \\0 to \\{compiled.groups} for capture groups, or \\\\ for a backslash"},
                )
        return self


class QueryMasking(StrictModel):
    builtin_rules: bool | None = described(
        None,
        description=(
            "apply hardhouse's rules for API keys (sk-...), bearer tokens, key=value secrets and passwords in "
            "IDENTIFIED BY; null: where the target supports masking (22.8+)"
        ),
        why="the incident leaked API keys through logs; masking costs nothing where the server has it",
    )
    rules: list[MaskingRule] = described(
        default_factory=list, description="your own rules, applied after the built-in ones (needs 22.8+)"
    )


class LogTable(StrictModel):
    columns: dict[str, ColumnType] = described(
        description=(
            "column name -> ClickHouse type, a type only (no DEFAULT, CODEC or TTL): String, UInt8..Int256, "
            "Float32/64, Decimal, Bool, Date, DateTime, DateTime64, UUID, IPv4/6, FixedString, Enum8/16, Array, "
            "Tuple, Map, Nullable, LowCardinality"
        )
    )
    time_column: str = described(description="column (Date/DateTime) the retention counts from; also the sort key")

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
    retention_days: int | None = described(
        30,
        description=(
            "rows older than this are deleted (TTL on time_column); null keeps them forever (the only choice on 18.16)"
        ),
        why="logs hold secrets; what is gone cannot leak",
    )
    writers: list[UserReference] = described(
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
    encryption: LogEncryption | None = described(
        None,
        description="encrypted disk and storage policy for the tables (22.8+); null stores them unencrypted",
        why="the server needs a key it can read at start; providing one is the operator's decision",
    )

    @field_validator("tables")
    @classmethod
    def valid_tables(cls, value: dict[str, LogTable]) -> dict[str, LogTable]:
        if not value:
            raise fail("no table is declared", "declare at least one log table with its columns and time_column")
        for name in value:
            check_name(name, "table name")
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


# ---------------------------------------------------------------- clusters (cluster section)
# The server needs these secrets as plaintext (it sends them to its peers), so they are read at
# render time from the environment or an owner-only file and go into one rendered file of their
# own (hardhouse.render.cluster); the spec only says where they are.
HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def check_host_name(value: str) -> str:
    """A DNS name or an IP address that peers use to reach a node (no port, no scheme)."""
    try:
        check_address(value)
        return value
    except PydanticCustomError:
        pass
    if not HOST_NAME.fullmatch(value):
        raise fail(
            f"{excerpt(value)} is neither a host name nor an IP address",
            "write the name the other nodes resolve (ch1.logs.example) or its address (10.0.0.11)",
        )
    return value


class SecretSource(StrictModel):
    """A plaintext secret the server itself needs: from an environment variable or a file."""

    password_env: str | None = described(None, description="environment variable holding it (read at render time)")
    password_file: str | None = described(
        None, description="file holding it (read at render time; owner-only, at most 4 KiB, as users[].password_file)"
    )

    @field_validator("password_env")
    @classmethod
    def valid_env_name(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value, "CH_INTERSERVER_PASSWORD")

    @field_validator("password_file")
    @classmethod
    def valid_password_file(cls, value: str | None) -> str | None:
        return None if value is None else check_local_path(value)

    def given(self) -> bool:
        return self.password_env is not None or self.password_file is not None

    def one_source(self, what: str) -> None:
        if self.password_env is not None and self.password_file is not None:
            raise PydanticCustomError(
                "hardhouse", f"{what}: both password_env and password_file are given", {"fix": "give exactly one"}
            )


class Replica(StrictModel):
    host: str = described(
        description="name (or address) the other nodes reach this replica by; also its replica name and "
        "interserver_https_host"
    )
    address: Address = described(description="the replica's IP address (this node's must be in listen_hosts)")

    @field_validator("host")
    @classmethod
    def valid_host(cls, value: str) -> str:
        return check_host_name(value)


class Shard(StrictModel):
    replicas: list[Replica] = described(description="replicas holding the same data")

    @field_validator("replicas")
    @classmethod
    def some_replicas(cls, value: list[Replica]) -> list[Replica]:
        if not value:
            raise fail("this shard has no replica", "list at least one replica (host and address)")
        return value


class InterserverOld(SecretSource):
    password_env: str | None = described(
        None, description="environment variable holding the previous interserver password"
    )
    user: str = described(description="the previous interserver user, still accepted while every replica rolls")


class Interserver(SecretSource):
    password_env: str | None = described(
        None, description="environment variable holding the interserver password (read at render time)"
    )
    https_port: int = described(
        9010,
        description="interserver port over TLS (interserver_https_port); the plaintext one stays closed",
        why="replicas send table parts and credentials over it; TLS keeps both off the wire",
    )
    user: str = described(description="interserver user (interserver_http_credentials)")
    old: InterserverOld | None = described(
        None,
        description="credentials still accepted during a rotation (needs 22.8+)",
        why="rotate without stopping every replica at once",
    )

    @field_validator("user")
    @classmethod
    def valid_user(cls, value: str) -> str:
        return check_name(value, "interserver user")

    @field_validator("https_port")
    @classmethod
    def valid_port(cls, value: int) -> int:
        return Ports.port_range(value)  # type: ignore[return-value]

    @model_validator(mode="after")
    def with_password(self) -> Interserver:
        self.one_source("cluster.interserver")
        if not self.given():
            raise PydanticCustomError(
                "hardhouse",
                "the interserver port has no credentials: anyone reaching it could fetch table parts",
                {"fix": "give password_env or password_file (the interserver password)"},
            )
        return self


class ZooKeeperNode(StrictModel):
    host: str = described(description="ZooKeeper host name or address")
    port: int = described(2181, description="ZooKeeper client port")

    @field_validator("port")
    @classmethod
    def valid_port(cls, value: int) -> int:
        return Ports.port_range(value)  # type: ignore[return-value]

    @field_validator("host")
    @classmethod
    def valid_host(cls, value: str) -> str:
        return check_host_name(value)


class ZooKeeper(SecretSource):
    password_env: str | None = described(
        None, description="environment variable holding the identity's digest password (read at render time)"
    )
    nodes: list[ZooKeeperNode] = described(description="ZooKeeper ensemble")
    user: str = described(
        description="digest user of ClickHouse's identity; its znodes get an ACL only this identity passes",
        why="world-readable znodes let anyone rewrite replication metadata",
    )
    root: str | None = described(
        None, description="chroot for ClickHouse's znodes (must exist in ZooKeeper); null: the ensemble's root"
    )

    @field_validator("nodes")
    @classmethod
    def some_nodes(cls, value: list[ZooKeeperNode]) -> list[ZooKeeperNode]:
        if not value:
            raise fail("no ZooKeeper node is listed", "list the ensemble's hosts")
        return value

    @field_validator("user")
    @classmethod
    def valid_user(cls, value: str) -> str:
        return check_name(value, "ZooKeeper user")

    @field_validator("root")
    @classmethod
    def valid_root(cls, value: str | None) -> str | None:
        return None if value is None else check_host_path(value, "/clickhouse")

    @model_validator(mode="after")
    def with_identity(self) -> ZooKeeper:
        self.one_source("cluster.zookeeper")
        if not self.given():
            raise PydanticCustomError(
                "hardhouse",
                "ZooKeeper has no identity: ClickHouse's znodes would be open to anyone",
                {"fix": "give password_env or password_file (the digest password for user)"},
            )
        return self


class Keeper(SecretSource):
    password_env: str | None = described(
        None, description="environment variable holding the identity's digest password (read at render time)"
    )
    port: int = described(9281, description="Keeper client port over TLS (keeper_server tcp_port_secure)")
    raft_port: int = described(9234, description="Keeper raft port between replicas, over TLS (raft secure)")
    user: str = described(description="digest user of ClickHouse's identity in Keeper (as zookeeper.user)")

    @field_validator("user")
    @classmethod
    def valid_user(cls, value: str) -> str:
        return check_name(value, "Keeper user")

    @model_validator(mode="after")
    def with_identity(self) -> Keeper:
        self.one_source("cluster.keeper")
        if not self.given():
            raise PydanticCustomError(
                "hardhouse",
                "Keeper has no identity: ClickHouse's znodes would be open to anyone",
                {"fix": "give password_env or password_file (the digest password for user)"},
            )
        return self

    @field_validator("port", "raft_port")
    @classmethod
    def valid_port(cls, value: int) -> int:
        return Ports.port_range(value)  # type: ignore[return-value]


class Cluster(SecretSource):
    password_env: str | None = described(
        None,
        description="environment variable holding cluster.user's password (remote_servers needs the plaintext)",
    )
    name: str = described(description="cluster name in remote_servers (and the {cluster} macro)")
    replica: str = described(
        description="host of the replica this render is for (one of shards[].replicas[].host); the deploy sets it "
        "per node"
    )
    shards: list[Shard] = described(description="shards, each with its replicas")
    user: str | None = described(
        None,
        description="user that Distributed queries log in as on the other nodes (one of users, its password in "
        "password_env/password_file); or use secret_env/secret_file",
    )
    secret_env: str | None = described(
        None, description="environment variable holding the cluster secret (remote_servers secret, 22.8+)"
    )
    secret_file: str | None = described(None, description="file holding the cluster secret (as password_file)")
    secure: bool = described(
        True,
        description="Distributed queries between nodes over native TLS (remote_servers secure, port native_tls)",
        why="query results and credentials cross the network",
    )
    interserver: Interserver | None = described(
        None, description="replication port over HTTPS with credentials; null keeps it closed"
    )
    zookeeper: ZooKeeper | None = described(None, description="ZooKeeper coordination with a digest identity")
    keeper: Keeper | None = described(
        None, description="ClickHouse Keeper on the replicas instead of ZooKeeper, over TLS (22.8+)"
    )

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        return check_name(value, "cluster name")

    @field_validator("user")
    @classmethod
    def valid_user(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value, "user name")

    @field_validator("secret_env")
    @classmethod
    def valid_secret_env(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value, "CH_CLUSTER_SECRET")

    @field_validator("secret_file")
    @classmethod
    def valid_secret_file(cls, value: str | None) -> str | None:
        return None if value is None else check_local_path(value)

    @field_validator("shards")
    @classmethod
    def some_shards(cls, value: list[Shard]) -> list[Shard]:
        if not value:
            raise fail("no shard is listed", "list at least one shard with its replicas")
        return value

    def replicas(self) -> list[tuple[int, int, Replica]]:
        """(shard index, replica index, replica) in order."""
        return [(s, r, replica) for s, shard in enumerate(self.shards) for r, replica in enumerate(shard.replicas)]

    def this_replica(self) -> tuple[int, int, Replica] | None:
        return next((found for found in self.replicas() if found[2].host == self.replica), None)

    def has_secret(self) -> bool:
        return self.secret_env is not None or self.secret_file is not None


# Issue 12 (HTTP surface, egress and files, server-side password policy).
SOURCE_TABLE_FUNCTIONS = ("url", "file", "s3", "remote", "mysql", "postgresql")
STOCK_USER_FILES_PATH = "/var/lib/clickhouse/user_files"
# Directories file() must not be given: the root, the stock data path and its parents, system ones.
SHARED_DIRECTORIES = (
    "/",
    "/var",
    "/var/lib",
    "/var/lib/clickhouse",
    "/etc",
    "/etc/clickhouse-server",
    "/tmp",
    "/root",
    "/home",
)
# A reserved name (RFC 2606) that never resolves: an allow-list holding only it admits no host.
NO_REMOTE_HOST = "hardhouse.invalid"


class HttpSurface(StrictModel):
    cors_any_origin: bool = described(
        False,
        description=(
            "send Access-Control-Allow-Origin: * to browsers (add_http_cors_header 1 in every rendered profile); "
            "false writes 0"
        ),
        why="a wildcard CORS header lets any web page a logged-in analyst visits read query results",
    )
    web_ui: bool = described(
        False,
        description=(
            "keep the built-in web pages (/play, /dashboard, /binary, /js/...) where the target serves them (22.8+); "
            "false keeps only the query handler and /ping (http_handlers without <defaults/>)"
        ),
        why="a query console in the browser is one more surface for a stolen password; opt in",
    )
    stack_traces: bool = described(
        False,
        description=(
            "let the server compute and send exception stack traces to clients (calculate_text_stack_trace in "
            "the default and every rendered profile)"
        ),
        why="binary paths and addresses in a refused login's answer help an attacker pick an exploit",
    )


class Egress(StrictModel):
    remote_url_allow_hosts: list[str] = described(
        default_factory=list,
        description=(
            "hosts (host or host:port) url(), s3(), remote() and URL engines may reach (22.8+); empty admits none "
            f"(rendered as the reserved name {NO_REMOTE_HOST})"
        ),
        why="a stolen credential must not turn the server into a proxy into the internal network or out of it",
    )
    send_crash_reports: bool = described(
        False,
        description="send crash reports to ClickHouse's Sentry endpoint (send_crash_reports.enabled, 22.8+)",
        why="a crash report can carry query text and memory contents off the host",
    )
    user_files_path: str = described(
        STOCK_USER_FILES_PATH,
        description=(
            f"the only directory file() reads and writes ({HOST_PATH_RULE}; written with a trailing /); never /, "
            "the data path or anything holding it"
        ),
        why="file() must not reach the data, temporary or schema directories, let alone the whole disk",
    )

    @field_validator("remote_url_allow_hosts")
    @classmethod
    def valid_hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?", host):
                raise fail(
                    f"{excerpt(host)} is not a host name, address or host:port",
                    "list hosts like files.example.net or 10.0.0.7:9000 (no scheme, no path, no wildcard)",
                )
        return value

    @field_validator("user_files_path")
    @classmethod
    def dedicated_user_files(cls, value: str) -> str:
        """Kept without its trailing slash; the template writes one, so that no sibling such as
        user_files_evil/ can ever match a prefix test."""
        stripped = value.rstrip("/") or "/"
        if stripped in SHARED_DIRECTORIES:
            raise fail(
                f"{excerpt(value)} is not a directory of its own",
                f"give file() a directory nothing else uses, e.g. {STOCK_USER_FILES_PATH}/",
            )
        return check_host_path(stripped, f"{STOCK_USER_FILES_PATH}/")


PasswordType = Literal["sha256_password", "bcrypt_password"]


class PasswordPolicy(StrictModel):
    server_side: bool | None = described(
        None,
        description=(
            "make the server judge passwords set by CREATE/ALTER USER (password_complexity with the render-time "
            "minimum length, default_password_type); null: where the target has them (23.3+)"
        ),
        why="a user created later through SQL must face the same rule as the rendered ones",
    )
    sql_password_type: PasswordType = described(
        "sha256_password",
        description="how CREATE USER ... IDENTIFIED BY stores a password (default_password_type)",
        why="never plaintext_password; bcrypt_password costs a stolen access directory more per guess",
    )


SettingValue = int | float | str | bool
# The key of a profile that holds its constraints, as in ClickHouse's own <profiles><NAME><constraints>.
CONSTRAINTS_KEY = "constraints"
# Union tags pydantic puts in error locations; hardhouse.spec.load leaves them out of field paths.
SETTING_TAG, CONSTRAINTS_TAG = "setting value", "setting constraints"


class SettingConstraint(StrictModel):
    min: int | float | None = described(None, description="lowest value a user may SET")
    max: int | float | None = described(None, description="highest value a user may SET")
    readonly: bool = described(False, description="the user may not change the setting at all")

    @model_validator(mode="after")
    def consistent(self) -> SettingConstraint:
        if self.readonly and (self.min is not None or self.max is not None):
            raise PydanticCustomError(
                "hardhouse",
                "a readonly setting cannot also have min or max",
                {"fix": "give readonly: true alone, or min and/or max"},
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError(
                "hardhouse", f"min {self.min} is above max {self.max}", {"fix": "swap them, or widen the range"}
            )
        return self


def _profile_entry_kind(value: Any) -> str:
    return CONSTRAINTS_TAG if isinstance(value, dict) else SETTING_TAG


# A profile maps setting names to values, and the key `constraints` to {setting: constraint}.
ProfileEntry = Annotated[
    Annotated[SettingValue, Tag(SETTING_TAG)] | Annotated[dict[str, SettingConstraint], Tag(CONSTRAINTS_TAG)],
    Discriminator(_profile_entry_kind),
]


class SystemLogs(StrictModel):
    retention_days: int | None = described(
        None,
        description=(
            "rows of query_log, query_thread_log, part_log, text_log, trace_log and session_log older than this are "
            "deleted (ttl); null: 30 days where the target can (23.8+), kept forever before, where it cannot"
        ),
        why="the server's own logs hold query text, users and addresses: a log server's logs are secrets too",
    )
    session_log: bool | None = described(
        None,
        description="record every login, refused or not, with user and address (system.session_log); null: 22.8+",
        why="who logged in from where, and who was refused, is the first question after a leak",
    )

    @field_validator("retention_days")
    @classmethod
    def positive_retention(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise fail(f"{excerpt(value)} days keeps nothing", "use a number of days (1 or more), or null")
        return value


class ServerLimits(StrictModel):
    max_connections: int = described(
        1024,
        description="server-wide cap on simultaneous client connections (stock 4096)",
        why="a flood of connections from one leaked credential or scanner cannot exhaust threads and descriptors",
    )
    max_concurrent_queries: int = described(
        100,
        description="server-wide cap on queries running at once (0 = unlimited, the modern stock)",
        why="a credential running queries in a loop cannot take every core; a log server needs few at once",
    )
    keep_alive_timeout: int = described(
        10,
        description="seconds an idle HTTP keep-alive connection stays open (stock 3 on 18.16, 30 on modern)",
        why="idle sockets cannot pile up (slowloris) while a client's next request still reuses its connection",
    )
    max_concurrent_queries_for_user: int = described(
        20,
        description=(
            "per user: queries one user may run at once; added to every profile that does not set it, and locked "
            "(1..value) where the target has settings constraints"
        ),
        why="one leaked credential cannot crowd out every other user",
    )

    @field_validator("*")
    @classmethod
    def positive(cls, value: int) -> int:
        if value < 1:
            raise fail(f"{excerpt(value)} is not a limit", "use a positive number")
        return value


class HardeningSpec(StrictModel):
    clickhouse_version: str = described(
        description=f'target server, "major.minor" ({versions.SUPPORTED_TEXT})',
        why="features the target lacks are refused instead of silently ignored",
    )
    listen_hosts: list[Address] = described(
        description="addresses the server listens on (IP addresses; an IPv6 zone such as %eth0 may follow)",
        why="the stock config listens wherever its packager chose; say where",
    )
    allow_all_interfaces: bool = described(
        False,
        description="permit 0.0.0.0, :: or ::ffff:0.0.0.0 in listen_hosts",
        why="listening on every interface is how the incident's server was exposed",
    )
    ports: Ports = described(default_factory=Ports, description="ports to open; null closes one")
    tls: Tls | None = described(None, description="TLS material and policy; required when a TLS port is open")
    default_user: Literal["remove", "lock"] = described(
        "remove",
        description="fate of the stock passwordless default user",
        why="the stock default user has no password and accepts any address",
    )
    undeclared_users: UndeclaredUsers = described(
        "refuse",
        description=(
            "users the host already has that the spec does not declare (an application's own, from users.xml or "
            "users.d; not default, which default_user decides): refuse fails the deploy before going live, naming "
            'each with its file:line; remove deletes them by name (remove="1"); keep leaves them, judged by every '
            "control like any user, so a failing one needs a waiver (hardhouse_waivers)"
        ),
        why="adopting hardhouse on a server must neither lock an application out nor leave it open without saying so",
    )
    users: list[User] = described(description="accounts, each with a password and networks")
    profiles: dict[str, dict[str, ProfileEntry]] = described(
        default_factory=dict,
        description=(
            "settings profiles by name: {setting: value}, and optionally constraints: {setting: {min, max, "
            "readonly}} as in ClickHouse (22.8+); {} leaves a setting free"
        ),
    )
    quotas: dict[str, Quota] = described(default_factory=dict, description="quotas by name (one interval each)")
    password_hash: PasswordHash = described(
        "auto",
        description=(
            "how passwords are stored: auto is scram_sha256 where the target reads it (26.9+) and the password is "
            "given as plaintext source, else sha256; bcrypt is refused (ClickHouse reads it only for SQL users)"
        ),
        why="PBKDF2 with 4096 rounds costs a stolen users.d file 4096 times more per guess than bare SHA-256",
    )
    refuse_insecure_auth: bool | None = described(
        None,
        description=(
            "server-wide: refuse users with no password or a plaintext one (allow_no_password, "
            "allow_plaintext_password 0); null: where the target has it (22.8+)"
        ),
        why="a passwordless user added later by hand must stop the server, not open it",
    )
    query_masking: QueryMasking = described(
        default_factory=QueryMasking,
        description="masking of secrets in query logs and server logs",
    )
    log_databases: dict[str, LogDatabase] = described(
        default_factory=dict, description="log databases by name: tables, retention, who may write, read or own them"
    )
    cluster: Cluster | None = described(
        None,
        description="replicated cluster: shards and replicas, interserver HTTPS with credentials, remote_servers, "
        "ZooKeeper or Keeper; null: a single server",
    )
    lock_profile_settings: bool | None = described(
        None,
        description=(
            "every setting a profile sets becomes a constraint (a number n >= 1: min 1, max n; anything else: "
            "readonly), and log_queries 1 and format_display_secrets_in_show_and_select 0 are added locked; a "
            "profile's own constraints win; null: where the target has constraints (22.8+)"
        ),
        why="a limit the user can SET away is no limit: a leaked credential would lift it, or switch query logging off",
    )
    system_logs: SystemLogs = described(
        default_factory=SystemLogs, description="retention of the server's own log tables, and the login log"
    )
    server_limits: ServerLimits = described(
        default_factory=ServerLimits, description="limits against abuse: connections, queries, idle keep-alive"
    )
    http: HttpSurface = described(
        default_factory=HttpSurface, description="what the HTTP interface shows browsers and clients"
    )
    egress: Egress = described(
        default_factory=Egress, description="where table functions may reach: remote hosts, local files, crash reports"
    )
    password_policy: PasswordPolicy = described(
        default_factory=PasswordPolicy, description="server-side rules for passwords set through SQL"
    )

    @field_validator("clickhouse_version", mode="before")
    @classmethod
    def version_text(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise fail(
                f"{excerpt(value)} is a number, not a version string",
                'quote it, e.g. clickhouse_version: "24.8" (YAML reads 22.10 as 22.1)',
            )
        if isinstance(value, str):
            if not VERSION_SHAPE.fullmatch(value):
                raise fail(
                    f"{excerpt(value)} is not of the form major.minor",
                    f'use one of the supported targets: {versions.SUPPORTED_TEXT}, e.g. "24.8"',
                )
            try:
                versions.parse_version(value)
            except ValueError as error:
                raise fail(str(error), f"use one of the supported targets: {versions.SUPPORTED_TEXT}") from None
        return value

    @field_validator("password_hash", mode="before")
    @classmethod
    def no_bcrypt(cls, value: Any) -> Any:
        return refuse_bcrypt(value)

    @field_validator("undeclared_users", mode="before")
    @classmethod
    def undeclared_users_mode(cls, value: Any) -> Any:
        if value not in UNDECLARED_USERS_MODES:
            raise fail(f"{excerpt(value)} is not a choice", UNDECLARED_USERS_FIX)
        return value

    @field_validator("log_databases")
    @classmethod
    def valid_log_database_names(cls, value: dict[str, LogDatabase]) -> dict[str, LogDatabase]:
        for name in value:
            check_name(name, "database name")
            if name in RESERVED_DATABASES:
                raise fail(
                    f"{excerpt(name)} is ClickHouse's own database",
                    "give the log database its own name, e.g. logs",
                )
        return value

    @field_validator("listen_hosts")
    @classmethod
    def valid_listen_hosts(cls, value: list[str]) -> list[str]:
        if not value:
            raise fail(
                "no listen address is given",
                'list the addresses clients reach the server on, e.g. ["10.0.0.5"]',
            )
        if len(set(value)) != len(value):
            raise fail("an address is listed twice", "list each address once")
        return value

    @field_validator("users")
    @classmethod
    def some_users(cls, value: list[User]) -> list[User]:
        if not value:
            raise fail("no user is declared", "declare at least one user with a password and networks")
        return value

    @field_validator("profiles", mode="before")
    @classmethod
    def profile_shape(cls, value: Any) -> Any:
        """Only `constraints` holds a mapping; said before the types are checked, so the message names it."""
        if not isinstance(value, dict):
            return value
        for name, settings in value.items():
            if not isinstance(settings, dict):
                continue
            for setting, setting_value in settings.items():
                if (setting == CONSTRAINTS_KEY) != isinstance(setting_value, dict):
                    what = (
                        "must be a mapping of settings to constraints" if setting == CONSTRAINTS_KEY else "is a mapping"
                    )
                    raise fail(
                        f"{excerpt(setting, 40)} in profile {excerpt(name, 40)} {what}",
                        f"write settings as setting: value, and limits under {CONSTRAINTS_KEY}: "
                        "{setting: {min: 1, max: 300}}",
                    )
        return value

    @field_validator("profiles")
    @classmethod
    def valid_profiles(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, settings in value.items():
            check_name(name, "profile name")
            for setting, setting_value in settings.items():
                check_name(setting, f"setting name in profile {name!r}")
                if setting == CONSTRAINTS_KEY:
                    for constrained in setting_value:
                        check_name(constrained, f"constrained setting in profile {name!r}")
                    continue
                # XML 1.0 cannot carry control characters, escaped or not.
                if isinstance(setting_value, str) and has_control_character(setting_value):
                    raise fail(
                        f"setting {setting!r} in profile {name!r} contains a control character",
                        "remove it; setting values are single-line text without control characters",
                    )
        return value

    @field_validator("quotas")
    @classmethod
    def valid_quota_names(cls, value: dict[str, Quota]) -> dict[str, Quota]:
        for name in value:
            check_name(name, "quota name")
        return value

    @property
    def version(self) -> versions.Version:
        return versions.parse_version(self.clickhouse_version)

    def tls_ports_open(self) -> bool:
        return self.ports.https is not None or self.ports.native_tls is not None
