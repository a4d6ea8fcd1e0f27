"""The hardening spec (public contract v1): a validated, typed model.

Every default lives here with its reason (`why`), and the README's field reference is
generated from these same Field declarations (see hardhouse.reference).

Validation happens in two passes so that every problem is reported at once:
1. structure and single fields (pydantic, all field errors collected);
2. rules that span fields (`cross_checks`), run when the structure is sound.
Secrets are not read here; see hardhouse.credentials.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse import versions
from hardhouse.problems import Problem, SpecError, field_path

# A name that is safe as an XML element name and as a ClickHouse identifier.
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
NAME_RULE = "starts with a letter or underscore, then letters, digits or underscores (at most 63)"
ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# X.509 limits a common name to 64 characters (RFC 5280, ub-common-name).
COMMON_NAME_MAX = 64

PasswordHash = Literal["auto", "sha256", "scram_sha256"]
BCRYPT_FIX = (
    "use scram_sha256 (PBKDF2-HMAC-SHA256, 4096 rounds) where the target reads it, or sha256: "
    "ClickHouse accepts bcrypt only for users created by SQL (IDENTIFIED WITH bcrypt_hash), "
    "never in users.d files, which is what hardhouse renders"
)

# Profiles and quotas that every stock users.xml defines, so users may name them unseen.
STOCK_PROFILES = frozenset({"default", "readonly"})
STOCK_QUOTAS = frozenset({"default"})
# The read-only profile the locked default user gets; the spec may not define it.
LOCKED_PROFILE = "hardhouse_locked"

STRONG_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
)


def fail(problem: str, fix: str) -> PydanticCustomError:
    """An error pydantic collects with the others, carrying our fix text."""
    # Braces would be read as pydantic placeholders; the message is plain text.
    problem = problem.replace("{", "(").replace("}", ")")
    return PydanticCustomError("hardhouse", problem, {"fix": fix})


def described(default: Any = ..., *, description: str, why: str = "", **kwargs: Any) -> Any:
    """A Field whose description and reason feed the README reference."""
    extra = {"why": why} if why else {}
    return Field(default, description=description, json_schema_extra=extra, **kwargs)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def has_control_character(text: str) -> bool:
    """XML 1.0 cannot carry these, escaped or not."""
    return any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF or c in "\ufffe\uffff" for c in text)


def refuse_bcrypt(value: Any) -> Any:
    if value == "bcrypt":
        raise fail("bcrypt hashes cannot be rendered into users.d", BCRYPT_FIX)
    return value


def check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value):
        raise fail(f"{what} {value!r} cannot be used", f"use a name that {NAME_RULE}")
    return value


def is_any_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if network.prefixlen == 0:
        return True
    # ::ffff:0:0/96 is every IPv4 address seen through IPv6.
    return network == ipaddress.ip_network("::ffff:0:0/96")


def check_address(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise fail(f"{text!r} is not an IP address", "use an explicit address such as 10.0.0.5 or ::1") from None
    return text


def check_network(text: str) -> str:
    parse_network(text)
    return text


def check_database(text: str) -> str:
    return check_name(text, "database name")


# List items validated one by one, so an error names its index (users[0].networks[1]).
Address = Annotated[str, AfterValidator(check_address)]
Network = Annotated[str, AfterValidator(check_network)]
DatabaseName = Annotated[str, AfterValidator(check_database)]


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
    https: int | None = described(
        8443, description="HTTPS port", why="the HTTP interface, over TLS"
    )
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
            raise fail(f"{value} is not a TCP port", "use a number from 1 to 65535, or null to close it")
        return value

    def open(self) -> dict[str, int]:
        return {name: port for name, port in self.model_dump().items() if port is not None}


class Tls(StrictModel):
    certificate: str = described(description="server certificate (PEM), path on the ClickHouse host")
    private_key: str = described(description="its private key (PEM), path on the ClickHouse host")
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
    def absolute_path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise fail(f"{value!r} is not an absolute path", "give the full path on the ClickHouse host, e.g. /etc/clickhouse-server/tls/server.crt")
        if value is not None and any(c in value for c in "\n\r\t<>&\"'"):
            raise fail(f"{value!r} contains characters that do not belong in a path", "use a plain file path")
        return value

    @model_validator(mode="after")
    def ca_for_client_verification(self) -> Tls:
        if self.verify_clients and not self.ca_certificate:
            raise PydanticCustomError(
                "hardhouse",
                "verify_clients is true but no ca_certificate is given",
                {"fix": "set tls.ca_certificate to the CA that signs client certificates, or set verify_clients: false"},
            )
        return self


PASSWORD_SOURCES = ("password_env", "password_file", "password_sha256_hex", "certificate_common_name")


class User(StrictModel):
    name: str = described(description="login name")
    password_env: str | None = described(
        None, description="environment variable holding the password (read at render time)"
    )
    password_file: str | None = described(
        None, description="file holding the password (read at render time, trailing newline ignored)"
    )
    password_sha256_hex: str | None = described(
        None, description="SHA-256 of the password, 64 lowercase hex digits"
    )
    certificate_common_name: str | None = described(
        None,
        description="authenticate by TLS client certificate with this common name instead of a password (needs tls.verify_clients; 22.8+)",
        why="a key that never crosses the wire beats a password; opt in per user",
    )
    password_hash: PasswordHash | None = described(
        None,
        description="hash for this user's password, as password_hash; null uses the top-level password_hash",
    )
    networks: list[Network] = described(
        description="client networks allowed to log in as this user (addresses or CIDR, IPv4 or IPv6)",
        why="a stolen password is useless from elsewhere",
    )
    allow_any_network: bool = described(
        False,
        description="permit 0.0.0.0/0 or ::/0 in networks",
        why="logging in from anywhere must be a visible decision",
    )
    profile: str = described("default", description="settings profile (from profiles, or stock default/readonly)")
    quota: str = described("default", description="quota (from quotas, or stock default)")
    databases: list[DatabaseName] | None = described(
        None,
        description="databases this user may use (allow-list); omitted means all, except for a writer or reader of a log database, who gets its log roles plus this list",
        why="least privilege: a log writer needs its log database only",
    )

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        check_name(value, "user name")
        if value == "default":
            raise fail("the stock default user is not declared under users", "pick another name; default_user (remove | lock) decides the stock user's fate")
        return value

    @field_validator("password_env")
    @classmethod
    def valid_env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_PATTERN.match(value):
            raise fail(f"{value!r} is not an environment variable name", "use letters, digits and underscores, e.g. CH_INGEST_PASSWORD")
        return value

    @field_validator("password_sha256_hex")
    @classmethod
    def valid_hash(cls, value: str | None) -> str | None:
        if value is not None and not SHA256_PATTERN.match(value):
            raise fail("is not 64 lowercase hex digits", "use the output of: printf '%s' \"$PASSWORD\" | sha256sum")
        return value

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
            raise fail("the common name is empty or has leading or trailing spaces", "write the certificate's subject CN exactly, e.g. ingest.logs.example")
        if len(value) > COMMON_NAME_MAX:
            raise fail(f"the common name has {len(value)} characters, more than X.509 allows ({COMMON_NAME_MAX})", "use the certificate's subject CN")
        if has_control_character(value):
            raise fail("the common name contains a control character", "use the certificate's subject CN")
        return value

    @field_validator("networks")
    @classmethod
    def valid_networks(cls, value: list[str]) -> list[str]:
        if not value:
            raise fail("no client network is listed", "list the networks this user connects from, e.g. [\"10.0.0.0/8\"]")
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
                raise fail("an empty allow-list locks the user out of every database", "list at least one database, or omit databases")
        return value

    @model_validator(mode="after")
    def one_password_source(self) -> User:
        sources = [s for s in PASSWORD_SOURCES if getattr(self, s) is not None]
        if len(sources) != 1:
            problem = "no password source is given" if not sources else f"several password sources are given ({', '.join(sources)})"
            raise PydanticCustomError(
                "hardhouse",
                problem,
                {"fix": "give exactly one of password_env, password_file, password_sha256_hex or certificate_common_name"},
            )
        return self

    @property
    def has_password(self) -> bool:
        return self.certificate_common_name is None

    def parsed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [parse_network(text) for text in self.networks]


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        fix = "write an address (10.0.0.5) or a network in CIDR form (10.0.0.0/8, 2001:db8::/64)"
        if "host bits set" in str(error):
            fix = f"write the network address: {ipaddress.ip_network(text, strict=False)}"
        raise fail(f"{text!r} is not an IP network", fix) from None


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
            raise fail(f"{value} is negative", "use 0 for unlimited or a positive number")
        return value



# ------------------------------------------------------------------ secrets out of logs

# RE2 (ClickHouse's regexp engine) has no lookaround, backreferences or atomic groups;
# Python's re would accept them, so they are refused before a server sees them.
RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\(\?>|\(\?P=|(?<!\\)\\[1-9]|(?<!\\)\\Z|(?<!\\)[*+?}]\+")
REWRITE_ESCAPE = re.compile(r"\\(.?)")


def check_re2(pattern: str) -> re.Pattern[str]:
    """Compile pattern as Python re after refusing what RE2 cannot do; raise fail(...)."""
    if not pattern:
        raise fail("the regexp is empty", "write a regular expression (RE2 syntax) matching the secret")
    if has_control_character(pattern):
        raise fail("the regexp contains a control character", "write \\n or \\t instead of the raw character")
    if RE2_UNSUPPORTED.search(pattern):
        raise fail(
            "the regexp uses lookaround, a backreference, \\Z or a possessive/atomic group, which RE2 does not support",
            "rewrite it in RE2 syntax (https://github.com/google/re2/wiki/Syntax); use a capture group and \\1 in replace instead of lookbehind",
        )
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise fail(f"the regexp does not compile ({error})", "fix the regular expression (RE2 syntax)") from None
    if compiled.search("") is not None:
        raise fail("the regexp matches the empty string, so it would rewrite every log line", "make it match at least one character of the secret")
    return compiled


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
        description="apply hardhouse's rules for API keys (sk-...), bearer tokens, key=value secrets and passwords in IDENTIFIED BY; null: where the target supports masking (22.8+)",
        why="the incident leaked API keys through logs; masking costs nothing where the server has it",
    )
    rules: list[MaskingRule] = described(
        default_factory=list, description="your own rules, applied after the built-in ones (needs 22.8+)"
    )


# ------------------------------------------------------------------ log databases

TIME_TYPE_PATTERN = re.compile(r"^(Date|Date32|DateTime|DateTime64)(\(.*\))?$")
TYPE_CHARS = re.compile(r"^[A-Za-z][A-Za-z0-9_(), ']*$")
TYPE_MAX = 120
# Names a log database may not take: ClickHouse's own and the stock one.
RESERVED_DATABASES = frozenset({"system", "information_schema", "INFORMATION_SCHEMA", "default"})
# AES_256_CTR takes a 32-byte key: 64 hex digits.
KEY_HEX_DIGITS = 64


def check_column_type(text: str) -> str:
    """A ClickHouse type name with no way to smuggle SQL: letters, digits, parentheses,
    commas only inside them, and quoted literals of plain characters."""
    depth, quoted = 0, False
    ok = bool(TYPE_CHARS.match(text)) and len(text) <= TYPE_MAX
    for char in text if ok else "":
        if char == "'":
            quoted = not quoted
        elif quoted:
            ok = char not in "(),"
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            ok = depth >= 0
        elif char == ",":
            ok = depth > 0
        if not ok:
            break
    if not ok or depth or quoted:
        raise fail(f"{text!r} is not a column type hardhouse can write safely", "use a ClickHouse type such as String, DateTime, LowCardinality(String) or DateTime64(3, 'UTC')")
    return text


ColumnType = Annotated[str, AfterValidator(check_column_type)]


class LogTable(StrictModel):
    columns: dict[str, ColumnType] = described(description="column name -> ClickHouse type")
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
            raise PydanticCustomError("hardhouse", f"time_column {self.time_column!r} is not among the columns", {"fix": f"use one of: {', '.join(self.columns)}"})
        if not TIME_TYPE_PATTERN.match(column_type):
            raise PydanticCustomError("hardhouse", f"time_column {self.time_column!r} has type {column_type}, not a date or time", {"fix": "point time_column at a Date, DateTime or DateTime64 column"})
        return self


class LogEncryption(StrictModel):
    key_env: str | None = described(
        None,
        description="environment variable of the clickhouse-server process holding the key (64 hex digits, AES-256); read by ClickHouse at start (from_env)",
    )
    key_file: str | None = described(
        None,
        description="XML file on the ClickHouse host whose element hardhouse_key_DATABASE holds the key (64 hex digits); read by ClickHouse at start (include_from)",
    )

    @field_validator("key_env")
    @classmethod
    def valid_env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_PATTERN.match(value):
            raise fail(f"{value!r} is not an environment variable name", "use letters, digits and underscores, e.g. CH_LOGS_KEY")
        return value

    @field_validator("key_file")
    @classmethod
    def valid_key_file(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or any(c in value for c in "\n\r\t<>&\"'")):
            raise fail(f"{value!r} is not a plain absolute path", "give the full path on the ClickHouse host, e.g. /etc/clickhouse-server/secrets/log-keys.xml")
        return value

    @model_validator(mode="after")
    def one_key_source(self) -> LogEncryption:
        if (self.key_env is None) == (self.key_file is None):
            raise PydanticCustomError("hardhouse", "the key must come from exactly one place", {"fix": "give key_env (a variable of the server process) or key_file (a file on the ClickHouse host); the key itself never goes in the spec"})
        return self


class LogDatabase(StrictModel):
    tables: dict[str, LogTable] = described(description="log tables by name, created with retention and storage policy")
    retention_days: int | None = described(
        30,
        description="rows older than this are deleted (TTL on time_column); null keeps them forever (the only choice on 18.16)",
        why="logs hold secrets; what is gone cannot leak",
    )
    writers: list[str] = described(
        default_factory=list,
        description="users that may INSERT and nothing else: no SELECT, no DROP (needs users.d grants, 23.6+)",
        why="an ingest credential that leaks must not read the logs back",
    )
    readers: list[str] = described(
        default_factory=list,
        description="users that may SELECT only (on targets without users.d grants: allow_databases plus a read-only profile)",
    )
    owners: list[str] = described(
        default_factory=list,
        description="users with every right on the database (schema and retention changes); the deploy applies the DDL as one of them",
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
            raise fail(f"{value} days keeps nothing", "use a number of days (1 or more), or null to keep rows forever")
        return value

    def grantees(self) -> dict[str, list[str]]:
        return {"writers": self.writers, "readers": self.readers, "owners": self.owners}


SettingValue = int | float | str | bool


class HardeningSpec(StrictModel):
    clickhouse_version: str = described(
        description=f'target server, "major.minor" ({versions.SUPPORTED_TEXT})',
        why="features the target lacks are refused instead of silently ignored",
    )
    listen_hosts: list[Address] = described(
        description="addresses the server listens on (IP addresses)",
        why="the stock config listens wherever its packager chose; say where",
    )
    allow_all_interfaces: bool = described(
        False,
        description="permit 0.0.0.0 or :: in listen_hosts",
        why="listening on every interface is how the incident's server was exposed",
    )
    ports: Ports = described(default_factory=Ports, description="ports to open; null closes one")
    tls: Tls | None = described(None, description="TLS material and policy; required when a TLS port is open")
    default_user: Literal["remove", "lock"] = described(
        "remove",
        description="fate of the stock passwordless default user",
        why="the stock default user has no password and accepts any address",
    )
    users: list[User] = described(description="accounts, each with a password and networks")
    profiles: dict[str, dict[str, SettingValue]] = described(
        default_factory=dict, description="settings profiles by name: {setting: value}"
    )
    quotas: dict[str, Quota] = described(default_factory=dict, description="quotas by name (one interval each)")
    password_hash: PasswordHash = described(
        "auto",
        description="how passwords are stored: auto is scram_sha256 where the target reads it (26.9+) and the password is given as plaintext source, else sha256; bcrypt is refused (ClickHouse reads it only for SQL users)",
        why="PBKDF2 with 4096 rounds costs a stolen users.d file 4096 times more per guess than bare SHA-256",
    )
    refuse_insecure_auth: bool | None = described(
        None,
        description="server-wide: refuse users with no password or a plaintext one (allow_no_password, allow_plaintext_password 0); null: where the target has it (22.8+)",
        why="a passwordless user added later by hand must stop the server, not open it",
    )
    query_masking: QueryMasking = described(default_factory=QueryMasking, description="masking of secrets in query logs and server logs")
    log_databases: dict[str, LogDatabase] = described(
        default_factory=dict, description="log databases by name: tables, retention, who may write, read or own them"
    )

    @field_validator("clickhouse_version", mode="before")
    @classmethod
    def version_text(cls, value: Any) -> Any:
        if isinstance(value, (int, float)):
            raise fail(
                f"{value!r} is a number, not a version string",
                'quote it, e.g. clickhouse_version: "24.8" (YAML reads 22.10 as 22.1)',
            )
        if isinstance(value, str):
            try:
                versions.parse_version(value)
            except ValueError as error:
                raise fail(str(error), f"use one of the supported targets: {versions.SUPPORTED_TEXT}") from None
        return value

    @field_validator("password_hash", mode="before")
    @classmethod
    def no_bcrypt(cls, value: Any) -> Any:
        return refuse_bcrypt(value)

    @field_validator("log_databases")
    @classmethod
    def valid_log_database_names(cls, value: dict[str, LogDatabase]) -> dict[str, LogDatabase]:
        for name in value:
            check_name(name, "database name")
            if name in RESERVED_DATABASES:
                raise fail(f"{name!r} is ClickHouse's own database", "give the log database its own name, e.g. logs")
        return value

    @field_validator("listen_hosts")
    @classmethod
    def valid_listen_hosts(cls, value: list[str]) -> list[str]:
        if not value:
            raise fail("no listen address is given", "list the addresses clients reach the server on, e.g. [\"10.0.0.5\"]")
        if len(set(value)) != len(value):
            raise fail("an address is listed twice", "list each address once")
        return value

    @field_validator("users")
    @classmethod
    def some_users(cls, value: list[User]) -> list[User]:
        if not value:
            raise fail("no user is declared", "declare at least one user with a password and networks")
        return value

    @field_validator("profiles")
    @classmethod
    def valid_profiles(cls, value: dict[str, dict[str, SettingValue]]) -> dict[str, dict[str, SettingValue]]:
        for name, settings in value.items():
            check_name(name, "profile name")
            for setting, setting_value in settings.items():
                check_name(setting, f"setting name in profile {name!r}")
                # XML 1.0 cannot carry control characters, escaped or not.
                if isinstance(setting_value, str) and has_control_character(setting_value):
                    raise fail(f"setting {setting!r} in profile {name!r} contains a control character", "remove it; setting values are single-line text")
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



# ------------------------------------------------------------------ derived decisions
# The renderer and the cross-checks both ask these, so a feature is never rendered where
# the checks would have refused it, or the other way round.

# Built-in masking rules: (name, RE2 regexp, replacement). Each replacement keeps enough of
# the match to show that something was there and what kind of secret it was.
BUILTIN_MASKING_RULES: tuple[tuple[str, str, str], ...] = (
    # OpenAI-style and similar API keys: sk-..., sk-live-..., sk-proj-...
    ("hardhouse_api_keys", r"sk-[A-Za-z0-9_-]{16,}", "sk-******"),
    # Authorization: Bearer <token>
    ("hardhouse_bearer_tokens", r"(?i)(bearer\s+)[A-Za-z0-9._~+/-]+=*", r"\1******"),
    # api_key=..., token: ..., secret=..., password=... inside log lines and query text
    ("hardhouse_secret_assignments", r"(?i)((?:api[_-]?key|access[_-]?token|token|secret|password)\s*[=:]\s*)[^\s'\",;&]+", r"\1******"),
    # CREATE/ALTER USER ... IDENTIFIED [WITH method] BY 'secret' (quotes escaped as \' or '')
    ("hardhouse_identified_by", r"(?i)(IDENTIFIED\s+(?:WITH\s+\w+\s+)?BY\s+)'(?:[^'\\]|\\.|'')*'", r"\1'******'"),
)


def password_hash_for(spec: HardeningSpec, user: User) -> str:
    """"certificate", "sha256" or "scram_sha256": what the renderer writes for this user."""
    if not user.has_password:
        return "certificate"
    choice = user.password_hash or spec.password_hash
    if choice == "auto":
        can_scram = versions.has(spec.version, "scram_sha256_hash") and user.password_sha256_hex is None
        return "scram_sha256" if can_scram else "sha256"
    return choice


def refuses_insecure_auth(spec: HardeningSpec) -> bool:
    if spec.refuse_insecure_auth is None:
        return versions.has(spec.version, "refuse_insecure_auth")
    return spec.refuse_insecure_auth


def masking_rules(spec: HardeningSpec) -> list[tuple[str, str, str]]:
    builtin = spec.query_masking.builtin_rules
    if builtin is None:
        builtin = versions.has(spec.version, "query_masking_rules")
    rules = list(BUILTIN_MASKING_RULES) if builtin else []
    return rules + [(rule.name, rule.regexp, rule.replace) for rule in spec.query_masking.rules]


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

    A user named as a writer or reader of a log database gets exactly its log rights plus its
    own `databases`: as GRANT queries where users.d takes them, else (readers only; writers
    are refused there) as an allow-list that a read-only profile keeps from writing.
    """
    roles = log_roles(spec, user.name)
    restricted = bool(roles["writers"] or roles["readers"])
    if restricted and versions.has(spec.version, "users_xml_grants"):
        grants = [f"GRANT INSERT ON {db}.*" for db in roles["writers"]]
        grants += [f"GRANT SELECT ON {db}.*" for db in roles["readers"]]
        grants += [f"GRANT ALL ON {db}.*" for db in _unique(roles["owners"] + list(user.databases or []))]
        return _unique(grants), None
    if restricted:
        return None, _unique(list(user.databases or []) + roles["readers"] + roles["writers"] + roles["owners"])
    if roles["owners"] and user.databases is not None:
        return None, _unique(list(user.databases) + roles["owners"])
    return None, user.databases


def profile_is_read_only(spec: HardeningSpec, profile: str) -> bool:
    """readonly 1 or 2 refuses every write (2 still lets the session change settings)."""
    if profile in spec.profiles:
        value = spec.profiles[profile].get("readonly")
        return value is True or str(value) in {"1", "2"}
    return profile == "readonly"


def cross_checks(spec: HardeningSpec) -> list[Problem]:
    """Rules that span several fields; each problem names the field to change."""
    problems: list[Problem] = []
    for index, host in enumerate(spec.listen_hosts):
        if ipaddress.ip_address(host).is_unspecified and not spec.allow_all_interfaces:
            problems.append(Problem(
                f"listen_hosts[{index}]",
                f"{host} listens on every interface",
                "list the specific addresses clients use, or set allow_all_interfaces: true if that is intended",
            ))
    open_ports = spec.ports.open()
    if not open_ports:
        problems.append(Problem("ports", "every port is closed, so nobody can reach the server", "open at least https or native_tls"))
    seen: dict[int, str] = {}
    for name, port in open_ports.items():
        if port in seen:
            problems.append(Problem(f"ports.{name}", f"port {port} is also used by ports.{seen[port]}", "give each interface its own port"))
        seen[port] = name
        feature = f"{name}_port"
        if feature in versions.FEATURES and not versions.has(spec.version, feature):
            problems.append(Problem(
                f"ports.{name}",
                versions.needs_message(feature, spec.version),
                f"set ports.{name}: null, or target a newer clickhouse_version",
            ))
    if spec.tls_ports_open() and spec.tls is None:
        problems.append(Problem(
            "tls",
            "a TLS port (https or native_tls) is open but no certificate and key are given",
            "add tls.certificate and tls.private_key, or close ports.https and ports.native_tls",
        ))
    if LOCKED_PROFILE in spec.profiles:
        problems.append(Problem(f"profiles.{LOCKED_PROFILE}", "this profile name is reserved for the locked default user", "rename the profile"))
    names: set[str] = set()
    for index, user in enumerate(spec.users):
        where = f"users[{index}]"
        if user.name in names:
            problems.append(Problem(f"{where}.name", f"user {user.name!r} is declared twice", "declare each user once"))
        names.add(user.name)
        for net_index, network in enumerate(user.parsed_networks()):
            if is_any_network(network) and not user.allow_any_network:
                problems.append(Problem(
                    f"{where}.networks[{net_index}]",
                    f"{network} lets {user.name!r} log in from any address",
                    f"list the client networks, or set {where}.allow_any_network: true if that is intended",
                ))
        if user.profile not in spec.profiles and user.profile not in STOCK_PROFILES:
            problems.append(Problem(
                f"{where}.profile",
                f"profile {user.profile!r} is not defined",
                f"define it under profiles, or use one of: {', '.join(sorted(STOCK_PROFILES | spec.profiles.keys()))}",
            ))
        if user.quota not in spec.quotas and user.quota not in STOCK_QUOTAS:
            problems.append(Problem(
                f"{where}.quota",
                f"quota {user.quota!r} is not defined",
                f"define it under quotas, or use one of: {', '.join(sorted(STOCK_QUOTAS | spec.quotas.keys()))}",
            ))

    problems.extend(_auth_checks(spec))
    problems.extend(_masking_checks(spec))
    problems.extend(_log_database_checks(spec))
    return problems


def _needs(feature: str, spec: HardeningSpec, path: str, fix: str) -> Problem | None:
    if versions.has(spec.version, feature):
        return None
    return Problem(path, versions.needs_message(feature, spec.version), fix)


def _auth_checks(spec: HardeningSpec) -> list[Problem]:
    problems: list[Problem] = []
    if spec.refuse_insecure_auth:
        problem = _needs("refuse_insecure_auth", spec, "refuse_insecure_auth", "set refuse_insecure_auth: null (or false), or target a newer clickhouse_version")
        if problem:
            problems.append(problem)
    top_scram_refused = False
    if spec.password_hash == "scram_sha256":
        problem = _needs("scram_sha256_hash", spec, "password_hash", "set password_hash: auto or sha256, or target a newer clickhouse_version")
        if problem:
            problems.append(problem)
            top_scram_refused = True
    for index, user in enumerate(spec.users):
        where = f"users[{index}]"
        if not user.has_password:
            problem = _needs("ssl_certificate_auth", spec, f"{where}.certificate_common_name", "give the user a password source, or target a newer clickhouse_version")
            if problem:
                problems.append(problem)
            elif spec.tls is None or not spec.tls.verify_clients or not spec.tls_ports_open():
                problems.append(Problem(
                    f"{where}.certificate_common_name",
                    "certificate login needs a TLS port whose server verifies client certificates",
                    "open https or native_tls and set tls.verify_clients: true with tls.ca_certificate",
                ))
            if user.password_hash is not None:
                problems.append(Problem(f"{where}.password_hash", "a certificate user has no password to hash", "remove password_hash"))
            continue
        if user.password_hash == "scram_sha256":
            problem = _needs("scram_sha256_hash", spec, f"{where}.password_hash", f"set {where}.password_hash: sha256, or target a newer clickhouse_version")
            if problem:
                problems.append(problem)
                continue
        explicit_scram = user.password_hash == "scram_sha256" or (user.password_hash is None and spec.password_hash == "scram_sha256" and not top_scram_refused)
        if explicit_scram and user.password_sha256_hex is not None:
            problems.append(Problem(
                f"{where}.password_sha256_hex",
                "a SHA-256 hash cannot be turned into a SCRAM-SHA-256 hash",
                f"give password_env or password_file instead, or set {where}.password_hash: sha256",
            ))
    return problems


def _masking_checks(spec: HardeningSpec) -> list[Problem]:
    problems: list[Problem] = []
    masking = spec.query_masking
    fix = "remove it (query masking needs 22.8+), or target a newer clickhouse_version"
    if masking.builtin_rules:
        problem = _needs("query_masking_rules", spec, "query_masking.builtin_rules", "set builtin_rules: null, or target a newer clickhouse_version")
        if problem:
            problems.append(problem)
    if masking.rules:
        problem = _needs("query_masking_rules", spec, "query_masking.rules", fix)
        if problem:
            problems.append(problem)
    taken = {name for name, _, _ in BUILTIN_MASKING_RULES}
    for index, rule in enumerate(masking.rules):
        if rule.name in taken:
            problems.append(Problem(f"query_masking.rules[{index}].name", f"rule name {rule.name!r} is already used", "give each rule its own name (names starting hardhouse_ are the built-in rules')"))
        taken.add(rule.name)
    return problems


def _log_database_checks(spec: HardeningSpec) -> list[Problem]:
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
                    problems.append(Problem(path, f"user {member!r} is not declared", f"declare it under users, or use one of: {', '.join(sorted(users))}"))
                    continue
                before = held.get(member)
                if before == role:
                    problems.append(Problem(path, f"user {member!r} is listed twice", "list each user once"))
                elif before is not None and "owners" in (before, role):
                    problems.append(Problem(path, f"user {member!r} is an owner and so already has every right here", f"remove it from {where}.{role if role != 'owners' else before}"))
                held.setdefault(member, role)
                if role != "owners":
                    restricted.add(member)
        if db.writers and not grants:
            problems.append(Problem(
                f"{where}.writers",
                versions.needs_message("users_xml_grants", spec.version)
                + "; before it, a user allowed into a database may also read and drop it",
                "target a newer clickhouse_version, or remove the writers (an owner can write, but also read and drop)",
            ))
        if db.retention_days is not None:
            problem = _needs("table_ttl", spec, f"{where}.retention_days", "set retention_days: null (and delete old rows yourself), or target a newer clickhouse_version")
            if problem:
                problems.append(problem)
        if db.encryption is not None:
            problem = _needs("encrypted_disk", spec, f"{where}.encryption", "set encryption: null (encrypt the filesystem instead), or target a newer clickhouse_version")
            if problem:
                problems.append(problem)
            elif db.encryption.key_file is not None:
                first = next(iter(key_files.values()), None)
                if first is not None and first != db.encryption.key_file:
                    problems.append(Problem(f"{where}.encryption.key_file", "ClickHouse reads one include file and another log database names a different one", f"keep every log database key in {first}"))
                key_files.setdefault(db_name, db.encryption.key_file)
        if not grants:
            for index, reader in enumerate(db.readers):
                user_index = users.get(reader)
                if user_index is not None and not profile_is_read_only(spec, spec.users[user_index].profile):
                    problems.append(Problem(
                        f"{where}.readers[{index}]",
                        f"on ClickHouse {spec.version} only a read-only profile keeps a reader from writing, and users[{user_index}].profile {spec.users[user_index].profile!r} is not read-only",
                        f"set users[{user_index}].profile to readonly (or a profile with readonly: 1), or target a newer clickhouse_version",
                    ))
    for index, user in enumerate(spec.users):
        for db_index, database in enumerate(user.databases or []):
            if database in spec.log_databases:
                problems.append(Problem(
                    f"users[{index}].databases[{db_index}]",
                    f"{database!r} is a log database, whose rights are given by role",
                    f"remove it and name the user under log_databases.{database}.readers, writers or owners",
                ))
        if user.name in restricted or user.databases is not None:
            continue
        exposed = [name for name, db in spec.log_databases.items() if user.name not in db.owners]
        if exposed:
            problems.append(Problem(
                f"users[{index}].databases",
                f"{user.name!r} may use every database, including log database {', '.join(repr(n) for n in exposed)}",
                f"give it a databases allow-list, or name it under log_databases.{exposed[0]}.readers, writers or owners",
            ))
    return problems


def problems_from_validation(error: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into Problems with a field path and a fix."""
    problems = []
    for item in error.errors(include_url=False):
        loc = [part for part in item["loc"] if not _is_union_tag(part)]
        path = field_path(loc)
        kind = item["type"]
        ctx = item.get("ctx") or {}
        if kind == "hardhouse":
            problems.append(Problem(path, item["msg"], ctx["fix"]))
        elif kind == "extra_forbidden":
            problems.append(_unknown_field(loc))
        elif kind == "missing":
            problems.append(Problem(path, "this required field is missing", f"add {loc[-1]}: (see the spec reference in README.md)"))
        elif kind == "literal_error":
            problems.append(Problem(path, f"{item['input']!r} is not allowed", f"use {ctx.get('expected')}"))
        elif kind in {"int_type", "int_parsing", "int_from_float"}:
            problems.append(Problem(path, f"{item['input']!r} is not a whole number", "write a plain number without quotes"))
        elif kind == "bool_type":
            problems.append(Problem(path, f"{item['input']!r} is not true or false", "write true or false without quotes"))
        elif kind in {"string_type"}:
            problems.append(Problem(path, f"{item['input']!r} is not text", "write a string (quote it in YAML)"))
        elif kind in {"list_type", "dict_type", "model_type"}:
            shape = "a list" if kind == "list_type" else "a mapping of keys to values"
            problems.append(Problem(path, f"{_short(item['input'])} is not {shape}", f"write {shape} here"))
        else:
            problems.append(Problem(path, item["msg"], "correct the value (see the spec reference in README.md)"))
    return _dedupe(problems)


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the tried member type to locations inside unions (e.g. "int", "str").
    return isinstance(part, str) and part in {"int", "float", "str", "bool"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out


MODELS_BY_FIELD: dict[str, type[StrictModel]] = {
    "ports": Ports, "tls": Tls, "users": User, "quotas": Quota, "query_masking": QueryMasking,
    "rules": MaskingRule, "log_databases": LogDatabase, "tables": LogTable, "encryption": LogEncryption,
}


def _unknown_field(loc: list[str | int]) -> Problem:
    name = str(loc[-1])
    path = field_path(loc)
    if name == "password":
        return Problem(
            path,
            "a plaintext password may not appear in a spec",
            "remove it and use password_env: VAR (or password_file / password_sha256_hex); only a hash is ever written",
        )
    parent = next((MODELS_BY_FIELD[p] for p in reversed(loc[:-1]) if isinstance(p, str) and p in MODELS_BY_FIELD), HardeningSpec)
    known = list(parent.model_fields)
    close = difflib.get_close_matches(name, known, n=1)
    fix = f"did you mean {close[0]!r}?" if close else f"remove it; known fields here: {', '.join(known)}"
    return Problem(path, f"unknown field {name!r}", fix)


def load_spec(data: Any) -> HardeningSpec:
    """Validate a spec given as a mapping (YAML document or pyinfra host data)."""
    if not isinstance(data, dict):
        raise SpecError([Problem("", f"the spec is {type(data).__name__}, not a mapping of fields", "write the spec as a YAML mapping (see README.md)")])
    try:
        spec = HardeningSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(problems_from_validation(error)) from None
    problems = cross_checks(spec)
    if problems:
        raise SpecError(problems)
    return spec


def load_spec_file(path: str | Path) -> HardeningSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError([Problem("", f"cannot read spec file {path}: {error.strerror}", "check the path given to --spec")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError([Problem("", f"{path} is not valid YAML{where}", "fix the YAML syntax there")]) from None
    return load_spec(data)
