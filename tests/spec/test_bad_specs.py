"""A table of mistakes a person makes in a spec. Each must give exactly one problem that
names the field, says what is wrong and how to fix it; the CLI must exit 2 and write nothing."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hardhouse.cli import main
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.spec.errors import SpecError
from tests.helpers import PASSWORDS, VALID_SPEC

Mutation = Callable[[dict[str, Any], dict[str, str]], None]


def set_path(path: str, value: Any) -> Mutation:
    """Set a dotted path (users.0.networks) to value."""

    def mutate(spec: dict[str, Any], environ: dict[str, str]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def delete(path: str) -> Mutation:
    def mutate(spec: dict[str, Any], environ: dict[str, str]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


def env(name: str, value: str | None) -> Mutation:
    def mutate(spec: dict[str, Any], environ: dict[str, str]) -> None:
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(spec: dict[str, Any], environ: dict[str, str]) -> None:
        for mutation in mutations:
            mutation(spec, environ)

    return mutate


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def log_db(**changes: Any) -> Mutation:
    """A valid log database `audit` (analyst reads it), changed by changes."""
    base: dict[str, Any] = {
        "tables": {"events": {"columns": {"ts": "DateTime", "message": "String"}, "time_column": "ts"}},
        "readers": ["analyst"],
    }
    return set_path("log_databases", {"audit": {**base, **changes}})


def cert_user(common_name: str = "ingest.logs.example") -> Mutation:
    return both(delete("users.0.password_env"), set_path("users.0.certificate_common_name", common_name))


def rule(**fields: Any) -> Mutation:
    return set_path("query_masking", {"rules": [{"name": "card_numbers", "regexp": r"\d{16}", **fields}]})


def add_tables(path: str, value: Any) -> Mutation:
    return set_path(f"log_databases.audit.tables.events.{path}", value)


ONE_TABLE = {"e": {"columns": {"ts": "DateTime"}, "time_column": "ts"}}
LEAKABLE = "Tr0ub4dor&3-plain"  # a plaintext a user wrongly put in a spec; must never be echoed

BAD_SPECS = [
    pytest.param(
        set_path("listen_host", ["10.0.0.5"]),
        "listen_host",
        "unknown field",
        "listen_hosts",
        id="typo in a top-level field",
    ),
    pytest.param(
        set_path("users.0.password", LEAKABLE),
        "users[0].password",
        "plaintext password",
        "password_env",
        id="plaintext password",
    ),
    pytest.param(
        set_path("clickhouse_version", 22.10),
        "clickhouse_version",
        "is a number",
        "quote it",
        id="version as a YAML number",
    ),
    pytest.param(
        set_path("clickhouse_version", "20.3"),
        "clickhouse_version",
        "not a supported target",
        "18.16",
        id="unsupported version",
    ),
    pytest.param(
        set_path("clickhouse_version", "24"),
        "clickhouse_version",
        "major.minor",
        "supported targets",
        id="malformed version",
    ),
    pytest.param(
        set_path("listen_hosts", ["0.0.0.0"]),
        "listen_hosts[0]",
        "every interface",
        "allow_all_interfaces",
        id="listen on every interface",
    ),
    pytest.param(
        set_path("listen_hosts", ["10.0.0.5", "db.example"]),
        "listen_hosts[1]",
        "not an IP address",
        "explicit address",
        id="hostname as listen address",
    ),
    pytest.param(
        set_path("listen_hosts", []), "listen_hosts", "no listen address", "list the addresses", id="no listen address"
    ),
    pytest.param(
        set_path("users.0.networks", ["::/0"]),
        "users[0].networks[0]",
        "any address",
        "allow_any_network",
        id="user reachable from anywhere",
    ),
    pytest.param(
        set_path("users.0.networks", ["10.0.0.300/8"]),
        "users[0].networks[0]",
        "not an IP network",
        "CIDR",
        id="malformed network",
    ),
    pytest.param(
        set_path("users.0.networks", ["10.0.0.1/8"]),
        "users[0].networks[0]",
        "not an IP network",
        "10.0.0.0/8",
        id="network with host bits",
    ),
    pytest.param(
        set_path("users.0.networks", []),
        "users[0].networks",
        "no client network",
        "list the networks",
        id="no networks",
    ),
    pytest.param(delete("users.0.password_env"), "users[0]", "no password source", "exactly one", id="no password"),
    pytest.param(
        set_path("users.0.password_sha256_hex", sha("x" * 20)),
        "users[0]",
        "several password sources",
        "exactly one",
        id="two password sources",
    ),
    pytest.param(
        both(delete("users.0.password_env"), set_path("users.0.password_sha256_hex", "ABC")),
        "users[0].password_sha256_hex",
        "64 lowercase hex",
        "sha256sum",
        id="malformed hash",
    ),
    pytest.param(
        both(delete("users.0.password_env"), set_path("users.0.password_sha256_hex", sha(""))),
        "users[0].password_sha256_hex",
        "empty password",
        "strong password",
        id="hash of the empty password",
    ),
    pytest.param(
        both(delete("users.0.password_env"), set_path("users.0.password_sha256_hex", sha("clickhouse"))),
        "users[0].password_sha256_hex",
        "well-known password",
        "strong password",
        id="hash of a well-known password",
    ),
    pytest.param(
        env("CH_INGEST_PASSWORD", None),
        "users[0].password_env",
        "is not set",
        "export CH_INGEST_PASSWORD",
        id="password variable not set",
    ),
    pytest.param(
        env("CH_INGEST_PASSWORD", ""), "users[0].password_env", "empty", "random password", id="empty password"
    ),
    pytest.param(
        env("CH_INGEST_PASSWORD", "Zq8#xv"),
        "users[0].password_env",
        "fewer than 12",
        "at least 12",
        id="short password",
    ),
    pytest.param(
        env("CH_INGEST_PASSWORD", "password1234"),
        "users[0].password_env",
        "trivially guessable",
        "random password",
        id="guessable password",
    ),
    pytest.param(
        env("CH_INGEST_PASSWORD", "ingestingest"),
        "users[0].password_env",
        "trivially guessable",
        "random password",
        id="password made of the user name",
    ),
    pytest.param(
        both(delete("users.0.password_env"), set_path("users.0.password_file", "/nonexistent/hardhouse-secret")),
        "users[0].password_file",
        "cannot read",
        "readable file",
        id="missing password file",
    ),
    pytest.param(
        set_path("users.0.name", "log<writer>"),
        "users[0].name",
        "cannot be used",
        "starts with a letter",
        id="user name that breaks XML",
    ),
    pytest.param(
        set_path("users.0.name", "default"),
        "users[0].name",
        "stock default user",
        "default_user",
        id="declaring the default user",
    ),
    pytest.param(set_path("users.1.name", "ingest"), "users[1].name", "declared twice", "once", id="duplicate user"),
    pytest.param(delete("tls"), "tls", "no certificate and key", "tls.certificate", id="TLS port without certificate"),
    pytest.param(
        set_path("tls.private_key", "server.key"),
        "tls.private_key",
        "absolute path",
        "full path",
        id="relative key path",
    ),
    pytest.param(
        set_path("tls.verify_clients", True),
        "tls",
        "no ca_certificate",
        "ca_certificate",
        id="client verification without CA",
    ),
    pytest.param(
        set_path("tls.min_protocol", "tlsv1_1"), "tls.min_protocol", "not allowed", "tlsv1_2", id="TLS 1.1 as minimum"
    ),
    pytest.param(set_path("tls.cert", "/x.crt"), "tls.cert", "unknown field", "certificate", id="typo in a TLS field"),
    pytest.param(
        both(set_path("clickhouse_version", "18.16"), set_path("ports.mysql", 9004)),
        "ports.mysql",
        "needs ClickHouse 22.8",
        "ports.mysql: null",
        id="feature the target lacks",
    ),
    pytest.param(set_path("ports.https", 70000), "ports.https", "not a TCP port", "1 to 65535", id="port out of range"),
    pytest.param(
        set_path("ports.https", "8443"), "ports.https", "not a whole number", "without quotes", id="port as a string"
    ),
    pytest.param(
        set_path("ports.native_tls", 8443), "ports.native_tls", "also used", "own port", id="two interfaces on one port"
    ),
    pytest.param(
        set_path("ports", {"https": None, "native_tls": None}),
        "ports",
        "every port is closed",
        "open at least",
        id="every port closed",
    ),
    pytest.param(
        set_path("users.0.profile", "writers"), "users[0].profile", "not defined", "writer", id="unknown profile"
    ),
    pytest.param(
        set_path("users.0.quota", "hourly"),
        "users[0].quota",
        "not defined",
        "define it under quotas",
        id="unknown quota",
    ),
    pytest.param(
        set_path("profiles.writer", {"max memory": 1}),
        "profiles",
        "setting name",
        "starts with a letter",
        id="setting name that breaks XML",
    ),
    pytest.param(
        set_path("profiles.writer", {"log_comment": "a\x00b"}),
        "profiles",
        "control character",
        "single-line",
        id="control character in a setting",
    ),
    pytest.param(
        set_path("profiles.hardhouse_locked", {"readonly": 1}),
        "profiles.hardhouse_locked",
        "reserved",
        "rename",
        id="reserved profile name",
    ),
    pytest.param(
        set_path("default_user", "keep"),
        "default_user",
        "not allowed",
        "'remove' or 'lock'",
        id="unknown default_user mode",
    ),
    pytest.param(
        set_path("undeclared_users", "delete"),
        "undeclared_users",
        "not a choice",
        "refuse (the deploy stops before going live and names each user), remove",
        id="unknown undeclared_users mode",
    ),
    pytest.param(
        set_path("users.0.databases", []),
        "users[0].databases",
        "empty allow-list",
        "omit databases",
        id="empty database allow-list",
    ),
    pytest.param(
        set_path("users.0.databases", ["logs;drop"]),
        "users[0].databases[0]",
        "cannot be used",
        "starts with a letter",
        id="bad database name",
    ),
    pytest.param(delete("users"), "users", "required field is missing", "users", id="no users section"),
    pytest.param(
        set_path("users.0.allow_any_network", "yes"),
        "users[0].allow_any_network",
        "not true or false",
        "true or false",
        id="boolean as a string",
    ),
    # Modern controls (issue 6): password hashes, certificate users, server-wide refusal, masking.
    pytest.param(set_path("password_hash", "bcrypt"), "password_hash", "bcrypt", "scram_sha256", id="bcrypt requested"),
    pytest.param(
        set_path("users.0.password_hash", "bcrypt"),
        "users[0].password_hash",
        "bcrypt",
        "SQL",
        id="bcrypt requested for one user",
    ),
    pytest.param(
        set_path("password_hash", "argon2"),
        "password_hash",
        "not allowed",
        "'auto', 'sha256' or 'scram_sha256'",
        id="unknown password hash",
    ),
    pytest.param(
        set_path("password_hash", "scram_sha256"),
        "password_hash",
        "needs ClickHouse 26.9",
        "auto or sha256",
        id="SCRAM on a target without it",
    ),
    pytest.param(
        set_path("users.0.password_hash", "scram_sha256"),
        "users[0].password_hash",
        "needs ClickHouse 26.9",
        "sha256",
        id="SCRAM for one user on a target without it",
    ),
    pytest.param(
        both(
            set_path("clickhouse_version", "26.9"),
            delete("users.0.password_env"),
            set_path("users.0.password_sha256_hex", sha("x" * 20)),
            set_path("users.0.password_hash", "scram_sha256"),
        ),
        "users[0].password_sha256_hex",
        "cannot be turned into a SCRAM",
        "password_env",
        id="SCRAM from a SHA-256 hash",
    ),
    pytest.param(
        cert_user(),
        "users[0].certificate_common_name",
        "verifies client certificates",
        "verify_clients: true",
        id="certificate user without client verification",
    ),
    pytest.param(
        both(cert_user(), set_path("clickhouse_version", "18.16")),
        "users[0].certificate_common_name",
        "needs ClickHouse 22.8",
        "password source",
        id="certificate user on 18.16",
    ),
    pytest.param(
        set_path("users.0.certificate_common_name", "ingest.logs.example"),
        "users[0]",
        "several password sources",
        "certificate_common_name",
        id="certificate and password",
    ),
    pytest.param(
        cert_user(" ingest"),
        "users[0].certificate_common_name",
        "leading or trailing spaces",
        "subject CN",
        id="common name with a space",
    ),
    pytest.param(
        both(
            cert_user(),
            set_path("tls.verify_clients", True),
            set_path("tls.ca_certificate", "/etc/clickhouse-server/tls/ca.crt"),
            set_path("users.0.password_hash", "sha256"),
        ),
        "users[0].password_hash",
        "no password to hash",
        "remove password_hash",
        id="hash choice for a certificate user",
    ),
    pytest.param(
        both(set_path("clickhouse_version", "18.16"), set_path("refuse_insecure_auth", True)),
        "refuse_insecure_auth",
        "needs ClickHouse 22.8",
        "refuse_insecure_auth: null",
        id="server-wide refusal on 18.16",
    ),
    pytest.param(
        both(set_path("clickhouse_version", "18.16"), rule()),
        "query_masking.rules",
        "needs ClickHouse 22.8",
        "remove it",
        id="masking rules on 18.16",
    ),
    pytest.param(
        both(set_path("clickhouse_version", "18.16"), set_path("query_masking", {"builtin_rules": True})),
        "query_masking.builtin_rules",
        "needs ClickHouse 22.8",
        "builtin_rules: null",
        id="built-in masking forced on 18.16",
    ),
    pytest.param(
        rule(regexp=r"(?<=key=)\w+"),
        "query_masking.rules[0]",
        "regexp: the regexp is not valid RE2 (invalid perl operator: (?<",
        "RE2 syntax",
        id="masking regexp RE2 cannot run",
    ),
    pytest.param(
        rule(regexp=r"x*"),
        "query_masking.rules[0]",
        "matches the empty string",
        "at least one character",
        id="masking regexp matching nothing",
    ),
    pytest.param(
        rule(regexp=r"(sk-)\w+", replace=r"\1***\2"),
        "query_masking.rules[0]",
        "replace: the replacement has \\'2', which is not \\\\ or a capture group",
        r"\0 to \1",
        id="masking replacement without its group",
    ),
    pytest.param(
        rule(name="hardhouse_api_keys"),
        "query_masking.rules[0].name",
        "already used",
        "its own name",
        id="masking rule named like a built-in",
    ),
    pytest.param(
        rule(regexp="(unclosed"),
        "query_masking.rules[0]",
        "the regexp is not valid RE2 (missing ): (unclosed)",
        "RE2 syntax",
        id="masking regexp that does not compile",
    ),
    pytest.param(
        set_path("query_masking", {"builtin_rules": "yes"}),
        "query_masking.builtin_rules",
        "not true or false",
        "true or false",
        id="masking switch as a string",
    ),
    # Log databases (issue 6): least privilege, retention, encryption.
    pytest.param(
        both(set_path("clickhouse_version", "22.8"), log_db(writers=["ingest"])),
        "log_databases.audit.writers",
        "needs ClickHouse 23.6",
        "remove the writers",
        id="insert-only writer before users.d grants",
    ),
    pytest.param(
        both(set_path("clickhouse_version", "18.16"), log_db()),
        "log_databases.audit.retention_days",
        "needs ClickHouse 22.8",
        "retention_days: null",
        id="retention on 18.16",
    ),
    pytest.param(
        both(
            set_path("clickhouse_version", "18.16"), log_db(retention_days=None, encryption={"key_env": "CH_AUDIT_KEY"})
        ),
        "log_databases.audit.encryption",
        "needs ClickHouse 22.8",
        "encryption: null",
        id="encrypted log storage on 18.16",
    ),
    pytest.param(
        log_db(writers=["nobody"]),
        "log_databases.audit.writers[0]",
        "not declared",
        "analyst",
        id="log writer that is not a user",
    ),
    pytest.param(
        log_db(readers=["analyst", "analyst"]),
        "log_databases.audit.readers[1]",
        "listed twice",
        "once",
        id="log reader listed twice",
    ),
    pytest.param(
        log_db(owners=["analyst"]),
        "log_databases.audit.owners[0]",
        "already has every right",
        "remove it from log_databases.audit.readers",
        id="owner also listed as reader",
    ),
    pytest.param(
        both(log_db(), set_path("users.0.databases", ["audit"])),
        "users[0].databases[0]",
        "is a log database",
        "log_databases.audit.readers",
        id="log database in a user's allow-list",
    ),
    pytest.param(
        log_db(readers=[]),
        "users[1].databases",
        "may use every database",
        "databases allow-list",
        id="user who would see the log database",
    ),
    pytest.param(
        both(set_path("clickhouse_version", "23.3"), log_db(), set_path("users.1.profile", "writer")),
        "log_databases.audit.readers[0]",
        "read-only profile",
        "readonly",
        id="reader that could write before grants",
    ),
    pytest.param(
        set_path("log_databases", {"system": {"tables": ONE_TABLE, "readers": ["analyst"]}}),
        "log_databases",
        "ClickHouse's own database",
        "its own name",
        id="log database named system",
    ),
    pytest.param(
        log_db(tables={}), "log_databases.audit.tables", "no table", "at least one", id="log database without tables"
    ),
    pytest.param(
        both(log_db(), add_tables("time_column", "when")),
        "log_databases.audit.tables.events",
        "not among the columns",
        "ts, message",
        id="retention column missing",
    ),
    pytest.param(
        both(log_db(), add_tables("time_column", "message")),
        "log_databases.audit.tables.events",
        "not a date or time",
        "DateTime",
        id="retention column not a time",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.message", "String) ENGINE = Log; DROP TABLE x; --")),
        "log_databases.audit.tables.events.columns.message",
        "not a column type",
        "LowCardinality(String)",
        id="column type that smuggles SQL",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.message", "String, extra String")),
        "log_databases.audit.tables.events.columns.message",
        "not a column type",
        "String",
        id="column type that adds a column",
    ),
    pytest.param(
        log_db(retention_days=0),
        "log_databases.audit.retention_days",
        "keeps nothing",
        "null to keep",
        id="zero retention",
    ),
    pytest.param(
        log_db(encryption={"key_env": "CH_AUDIT_KEY", "key_file": "/etc/clickhouse-server/secrets/keys.xml"}),
        "log_databases.audit.encryption",
        "exactly one place",
        "key_env",
        id="two key sources",
    ),
    pytest.param(
        log_db(encryption={"key_hex": "00" * 32}),
        "log_databases.audit.encryption.key_hex",
        "unknown field",
        "key_env",
        id="key material in the spec",
    ),
    pytest.param(
        log_db(encryption={"key_env": "CH-AUDIT-KEY"}),
        "log_databases.audit.encryption.key_env",
        "not an environment variable name",
        "CH_LOGS_KEY",
        id="bad key variable",
    ),
    pytest.param(
        log_db(encryption={"key_file": "keys.xml"}),
        "log_databases.audit.encryption.key_file",
        "absolute path",
        "full path",
        id="relative key file",
    ),
    pytest.param(
        both(
            log_db(encryption={"key_file": "/etc/clickhouse-server/a.xml"}),
            set_path(
                "log_databases.more",
                {
                    "tables": ONE_TABLE,
                    "readers": ["analyst"],
                    "encryption": {"key_file": "/etc/clickhouse-server/b.xml"},
                },
            ),
        ),
        "log_databases.more.encryption.key_file",
        "one include file",
        "log_databases.audit.encryption.key_file",
        id="two key files",
    ),
    pytest.param(
        log_db(retention=7),
        "log_databases.audit.retention",
        "unknown field",
        "retention_days",
        id="typo in a log database field",
    ),
    # Canonical input: every pattern matches the whole string (a trailing newline is not a name).
    pytest.param(
        set_path("users.0.name", "default\n"),
        "users[0].name",
        "cannot be used",
        "starts with a letter",
        id="default user with a trailing newline",
    ),
    pytest.param(
        set_path("users.1.name", "ingest\n"),
        "users[1].name",
        "'ingest\\n' cannot be used",
        "starts with a letter",
        id="a second ingest told apart by a newline",
    ),
    pytest.param(
        set_path("log_databases", {"system\n": {"tables": ONE_TABLE, "readers": ["analyst"]}}),
        "log_databases",
        "cannot be used",
        "starts with a letter",
        id="log database system with a trailing newline",
    ),
    pytest.param(
        set_path("clickhouse_version", "24.8\n"),
        "clickhouse_version",
        "major.minor",
        "24.8",
        id="version with a trailing newline",
    ),
    pytest.param(
        log_db(readers=["analyst\n"]),
        "log_databases.audit.readers[0]",
        "cannot be used",
        "starts with a letter",
        id="log reader with a trailing newline",
    ),
    pytest.param(
        rule(name="card\n"),
        "query_masking.rules[0].name",
        "cannot be used",
        "starts with a letter",
        id="masking rule name with a trailing newline",
    ),
    # Control characters (C0, DEL, C1, U+2028/2029) in every string that reaches XML, SQL or a shell.
    pytest.param(
        set_path("tls.certificate", "/etc/clickhouse-server/tls/server\x01.crt"),
        "tls.certificate",
        "character other than",
        "/etc/clickhouse-server/tls/server.crt",
        id="control character in a TLS path",
    ),
    pytest.param(
        set_path("listen_hosts", ["fe80::1%eth0\x01"]),
        "listen_hosts[0]",
        "scope id",
        "fe80::1%eth0",
        id="control character in an IPv6 scope id",
    ),
    pytest.param(
        set_path("listen_hosts", ["fe80::1%<eth0>"]),
        "listen_hosts[0]",
        "scope id",
        "fe80::1%eth0",
        id="markup in an IPv6 scope id",
    ),
    pytest.param(
        set_path("users.0.networks", ["fe80::%eth0/64"]),
        "users[0].networks[0]",
        "scope id",
        "without %",
        id="scope id in a client network",
    ),
    pytest.param(
        set_path("profiles.writer", {"log_comment": "a\x85b"}),
        "profiles",
        "control character",
        "single-line",
        id="C1 control in a setting",
    ),
    pytest.param(
        set_path("profiles.writer", {"log_comment": "a\u2028b"}),
        "profiles",
        "control character",
        "single-line",
        id="line separator in a setting",
    ),
    pytest.param(
        set_path("profiles.writer", {"log_comment": "a\x7fb"}),
        "profiles",
        "control character",
        "single-line",
        id="DEL in a setting",
    ),
    pytest.param(
        rule(replace="***\u2029"),
        "query_masking.rules[0]",
        "control character",
        "plain text",
        id="paragraph separator in a masking replacement",
    ),
    pytest.param(
        rule(regexp="\\d{16}\x9b"),
        "query_masking.rules[0]",
        "control character",
        "\\n",
        id="C1 control in a masking regexp",
    ),
    pytest.param(
        both(
            cert_user("ingest\x85.logs.example"),
            set_path("tls.verify_clients", True),
            set_path("tls.ca_certificate", "/etc/clickhouse-server/tls/ca.crt"),
        ),
        "users[0].certificate_common_name",
        "control character",
        "subject CN",
        id="C1 control in a common name",
    ),
    pytest.param(
        both(delete("users.0.password_env"), set_path("users.0.password_file", "/run/secrets/in\x00gest")),
        "users[0].password_file",
        "control character or NUL",
        "path of the file",
        id="NUL in a password file path",
    ),
    # One host-path rule: absolute, normalized, plain characters.
    pytest.param(
        set_path("tls.certificate", "/etc/clickhouse-server/../../root/server.crt"),
        "tls.certificate",
        "not normalized",
        "/etc/clickhouse-server/tls/server.crt",
        id="TLS path with ..",
    ),
    pytest.param(
        set_path("tls.private_key", "/etc/clickhouse-server//tls/server.key"),
        "tls.private_key",
        "not normalized",
        "full path",
        id="TLS path with //",
    ),
    pytest.param(
        set_path("tls.private_key", "/etc/clickhouse-server/tls/"),
        "tls.private_key",
        "not normalized",
        "full path",
        id="TLS path with a trailing slash",
    ),
    pytest.param(
        both(
            set_path("tls.verify_clients", True), set_path("tls.ca_certificate", "/etc/clickhouse-server/tls/my ca.crt")
        ),
        "tls.ca_certificate",
        "character other than",
        "full path",
        id="space in the CA path",
    ),
    pytest.param(
        set_path("tls.certificate", "/etc/" + "a" * 4100),
        "tls.certificate",
        "longer than 4096 bytes",
        "full path",
        id="TLS path longer than PATH_MAX",
    ),
    pytest.param(
        log_db(encryption={"key_file": "/etc/clickhouse-server/./keys.xml"}),
        "log_databases.audit.encryption.key_file",
        "not normalized",
        "/etc/clickhouse-server/secrets/log-keys.xml",
        id="key file with a dot segment",
    ),
    pytest.param(
        log_db(encryption={"key_file": "/etc/clickhouse-server/$(id).xml"}),
        "log_databases.audit.encryption.key_file",
        "character other than",
        "full path",
        id="key file with shell syntax",
    ),
    # Any-network: the union of a user's networks, IPv4-mapped forms included.
    pytest.param(
        set_path("users.0.networks", ["0.0.0.0/1", "128.0.0.0/1"]),
        "users[0].networks",
        "together cover every IPv4 address",
        "allow_any_network",
        id="two IPv4 halves",
    ),
    pytest.param(
        set_path("users.0.networks", ["::ffff:0:0/97", "::ffff:128.0.0.0/97"]),
        "users[0].networks",
        "together cover every IPv4 address",
        "allow_any_network",
        id="two IPv4-mapped halves",
    ),
    pytest.param(
        set_path("users.0.networks", ["0.0.0.0/1", "::ffff:128.0.0.0/97"]),
        "users[0].networks",
        "together cover every IPv4 address",
        "allow_any_network",
        id="an IPv4 half and a mapped half",
    ),
    pytest.param(
        set_path("users.0.networks", ["2000::/4", "3000::/4"]),
        "users[0].networks",
        "every public IPv6 address",
        "allow_any_network",
        id="two halves of the public IPv6 space",
    ),
    pytest.param(
        set_path("users.0.networks", ["::/1"]),
        "users[0].networks[0]",
        "any address",
        "allow_any_network",
        id="an IPv6 network holding every mapped IPv4 address",
    ),
    pytest.param(
        set_path("users.0.networks", ["0.0.0.0/0"]),
        "users[0].networks[0]",
        "any address",
        "allow_any_network",
        id="every IPv4 address",
    ),
    # Any-interface: IPv4-mapped wildcards.
    pytest.param(
        set_path("listen_hosts", ["::ffff:0.0.0.0"]),
        "listen_hosts[0]",
        "every interface",
        "allow_all_interfaces",
        id="listen on the mapped IPv4 wildcard",
    ),
    pytest.param(
        set_path("listen_hosts", ["10.0.0.5", "::ffff:0:0"]),
        "listen_hosts[1]",
        "every interface",
        "allow_all_interfaces",
        id="listen on ::ffff:0:0",
    ),
    # Column types from a grammar: no clause rides along.
    pytest.param(
        both(log_db(), add_tables("columns.message", "String DEFAULT 'x'")),
        "log_databases.audit.tables.events.columns.message",
        "only a type goes here",
        "LowCardinality(String)",
        id="column type with DEFAULT",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.message", "String CODEC(ZSTD(1))")),
        "log_databases.audit.tables.events.columns.message",
        "only a type goes here",
        "String",
        id="column type with CODEC",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.ts", "DateTime TTL ts + 1")),
        "log_databases.audit.tables.events.columns.ts",
        "only a type goes here",
        "DateTime",
        id="column type with TTL",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.message", "String MATERIALIZED x")),
        "log_databases.audit.tables.events.columns.message",
        "only a type goes here",
        "String",
        id="column type with MATERIALIZED",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.message", "Nullable(String) ALIAS x")),
        "log_databases.audit.tables.events.columns.message",
        "only a type goes here",
        "String",
        id="column type with ALIAS",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.message", "String COMMENT 'x'")),
        "log_databases.audit.tables.events.columns.message",
        "only a type goes here",
        "String",
        id="column type with COMMENT",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.message", "Enum8('a;b' = 1)")),
        "log_databases.audit.tables.events.columns.message",
        "quoted value",
        "String",
        id="enum label with a semicolon",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.message", "Nullable(Evil)")),
        "log_databases.audit.tables.events.columns.message",
        "not a type family",
        "String",
        id="unknown type family",
    ),
    # Secrets are never echoed.
    pytest.param(
        set_path("users.0.password_env", LEAKABLE),
        "users[0].password_env",
        "not an environment variable name",
        "CH_INGEST_PASSWORD",
        id="password pasted into password_env",
    ),
    pytest.param(
        set_path("users.0.password_env", 12345678901234),
        "users[0].password_env",
        "not shown",
        "string",
        id="numeric password pasted into password_env",
    ),
    pytest.param(
        both(delete("users.0.password_env"), set_path("users.0.password_sha256_hex", LEAKABLE)),
        "users[0].password_sha256_hex",
        "64 lowercase hex",
        "sha256sum",
        id="password pasted into password_sha256_hex",
    ),
    pytest.param(
        both(delete("users.0.password_env"), set_path("users.0.password_file", LEAKABLE)),
        "users[0].password_file",
        "cannot read",
        "readable file",
        id="password pasted into password_file",
    ),
    pytest.param(
        log_db(encryption={"key_env": LEAKABLE}),
        "log_databases.audit.encryption.key_env",
        "not shown",
        "CH_LOGS_KEY",
        id="key pasted into key_env",
    ),
    pytest.param(
        log_db(encryption={"key_file": LEAKABLE}),
        "log_databases.audit.encryption.key_file",
        "absolute path",
        "full path",
        id="key pasted into key_file",
    ),
    pytest.param(
        set_path("users.0.api_key", LEAKABLE),
        "users[0].api_key",
        "not shown",
        "known fields",
        id="secret under an unknown field",
    ),
    pytest.param(
        set_path("users.0.passwd", LEAKABLE),
        "users[0].passwd",
        "plaintext password",
        "password_env",
        id="plaintext password as passwd",
    ),
    pytest.param(
        set_path("password_hash", LEAKABLE),
        "password_hash",
        "not shown",
        "'auto'",
        id="secret pasted into password_hash",
    ),
    # ---------------------------------------------------------- redaction at ingest
    pytest.param(
        both(log_db(), add_tables("redact", {"rules": [{"name": "card", "regexp": "(?<=card )\\d+"}]})),
        "log_databases.audit.tables.events.redact.rules[0]",
        "regexp: the regexp is not valid RE2",
        "RE2 syntax",
        id="redaction rule not RE2",
    ),
    pytest.param(
        both(log_db(), add_tables("redact", {"rules": [{"name": "any", "regexp": "x*"}]})),
        "log_databases.audit.tables.events.redact.rules[0]",
        "matches the empty string",
        "at least one character",
        id="redaction rule matching nothing",
    ),
    pytest.param(
        both(log_db(), add_tables("redact", {"rules": [{"name": "g", "regexp": "(a)b", "replace": "\\2"}]})),
        "log_databases.audit.tables.events.redact.rules[0]",
        "replace: the replacement has",
        "\\0 to \\1",
        id="redaction replacement naming a missing group",
    ),
    pytest.param(
        both(log_db(), add_tables("redact", {"rules": [{"name": "api_key", "regexp": "k-[0-9]+"}]})),
        "log_databases.audit.tables.events.redact.rules[0].name",
        "built-in rule",
        "its own name",
        id="redaction rule under a built-in name",
    ),
    pytest.param(
        both(log_db(), add_tables("redact", {"columns": ["ts"]})),
        "log_databases.audit.tables.events",
        "a DateTime column, and only String columns are rewritten",
        "String",
        id="redaction of a column that is not text",
    ),
    pytest.param(
        both(log_db(), add_tables("redact", {"columns": ["body"]})),
        "log_databases.audit.tables.events",
        "not among the columns",
        "ts, message",
        id="redaction of a column that does not exist",
    ),
    pytest.param(
        both(log_db(), add_tables("columns.attributes", "Map(String, String)"), add_tables("redact", {})),
        "log_databases.audit.tables.events",
        "can hold text that redaction cannot rewrite",
        "redact.columns",
        id="redaction that would leave a Map column unredacted",
    ),
    pytest.param(
        both(log_db(), add_tables("redact", {"builtin_rules": False})),
        "log_databases.audit.tables.events.redact",
        "nothing would be redacted",
        "builtin_rules: true",
        id="redaction with no rule",
    ),
    pytest.param(
        both(log_db(), add_tables("redact", {"rules": [{"name": f"r{i}", "regexp": f"x{i}y"} for i in range(51)]})),
        "log_databases.audit.tables.events.redact",
        "at most 50",
        "alternation",
        id="redaction with too many rules",
    ),
    pytest.param(
        both(
            log_db(
                tables={
                    "events": {
                        "columns": {f"c{i}": "String" for i in range(30)} | {"ts": "DateTime"},
                        "time_column": "ts",
                        "redact": {"rules": [{"name": f"r{i}", "regexp": "z" * 900 + str(i)} for i in range(10)]},
                    }
                }
            ),
        ),
        "log_databases.audit.tables.events",
        "over ClickHouse's query size limit",
        "redact fewer columns",
        id="redaction view too large to parse",
    ),
    pytest.param(
        log_db(
            tables={
                "events": {"columns": {"ts": "DateTime", "m": "String"}, "time_column": "ts", "redact": {}},
                "events_ingest": {"columns": {"ts": "DateTime"}, "time_column": "ts"},
            }
        ),
        "log_databases.audit.tables",
        "the name of 'events''s ingest table",
        "rename",
        id="table under a redacted table's ingest name",
    ),
    pytest.param(
        both(
            set_path("clickhouse_version", "23.8"),
            log_db(writers=["ingest"]),
            add_tables("redact", {}),
        ),
        "log_databases.audit.tables.events.redact",
        "writes with the inserting user's rights before 24.3",
        "24.3 or newer",
        id="writers of a redacted table before 24.3",
    ),
]


def problems_of(mutation: Mutation) -> tuple[list[Any], dict[str, str]]:
    spec, environ = copy.deepcopy(VALID_SPEC), dict(PASSWORDS)
    mutation(spec, environ)
    try:
        render(load_spec(spec), environ)
    except SpecError as error:
        return error.problems, environ
    return [], environ


@pytest.mark.parametrize(("mutation", "path", "problem", "fix"), BAD_SPECS)
def test_bad_spec_gives_one_clear_problem(mutation: Mutation, path: str, problem: str, fix: str) -> None:
    problems, _ = problems_of(mutation)
    assert len(problems) == 1, problems
    assert problems[0].path == path
    assert problem in problems[0].problem
    assert fix in problems[0].fix
    assert LEAKABLE not in str(problems[0])


@pytest.mark.parametrize(("mutation", "path", "problem", "fix"), BAD_SPECS)
def test_cli_exits_2_names_the_field_and_writes_nothing(
    tmp_path: Path, mutation: Mutation, path: str, problem: str, fix: str
) -> None:
    spec, environ = copy.deepcopy(VALID_SPEC), dict(PASSWORDS)
    mutation(spec, environ)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    arguments = ["render", "--spec", str(spec_file), "--out", str(out)]
    result = CliRunner().invoke(main, arguments, env={**{k: None for k in PASSWORDS}, **environ})
    assert result.exit_code == 2, result.output
    assert f"{path}: " in result.output or (not path and "spec:" in result.output)
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "a staging directory was left behind"
    for secret in (*environ.values(), LEAKABLE):
        if len(secret) >= 6:
            assert secret not in result.output


def test_every_problem_is_reported_at_once(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["listen_hosts"] = ["db.example"]
    spec_dict["ports"]["https"] = 0
    spec_dict["users"][1]["networks"] = ["10.1.2.3/24"]
    with pytest.raises(SpecError) as error:
        load_spec(spec_dict)
    assert [p.path for p in error.value.problems] == ["listen_hosts[0]", "ports.https", "users[1].networks[0]"]


def test_all_secret_problems_are_reported_at_once(spec_dict: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as error:
        render(load_spec(spec_dict), {})
    assert [p.path for p in error.value.problems] == ["users[0].password_env", "users[1].password_env"]


def test_spec_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(SpecError) as error:
        load_spec(["not", "a", "mapping"])
    assert "not a mapping" in str(error.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text('clickhouse_version: "24.8"\nlisten_hosts: [10.0.0.5\n')
    result = CliRunner().invoke(main, ["check", "--spec", str(spec_file)])
    assert result.exit_code == 2
    assert "not valid YAML at line" in result.output


def test_missing_spec_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", "--spec", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "cannot read spec file" in result.output
    assert not (tmp_path / "out").exists()
