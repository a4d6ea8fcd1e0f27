"""The specs and server states the provisioning tests share: what a live 18.16 and the embedded
26.9 engine are set up with before their system tables are read (tests/provision/capture.py
records the answers in states.json; the unit tests plan against those answers)."""

from __future__ import annotations

import copy
from typing import Any

from hardhouse.render.log_databases import log_database_sql
from hardhouse.render.sql import sql_statements
from hardhouse.spec import load_spec

LEGACY_ADDRESS = "127.0.0.2"
TABLE = "logs.log_stream"

# Spec types as a person writes them (spacing, shorthand); the server answers in its own form.
LEGACY_TYPES = {
    "ts": "DateTime",
    "amount": "Decimal(10,2)",
    "fee": "Decimal32(2)",
    "level": "Enum8('info' = 1,'error'=2)",
    "code": "FixedString(4)",
    "tags": "Array(Nullable(String))",
    "pair": "Tuple(String,UInt8)",
    "seen": "DateTime('UTC')",
    "note": "Nullable(String)",
    "id": "UUID",
    "day": "Date",
    "n": "Int64",
    "ratio": "Float64",
}
MODERN_TYPES = {
    **LEGACY_TYPES,
    "flag": "Bool",
    "kind": "Enum8('a','b')",
    "attributes": "Map(String,UInt64)",
    "event": "Tuple(name String, size UInt64)",
    "precise": "DateTime64(3, 'Europe/Paris')",
    "small": "Decimal64(4)",
    "peer": "IPv6",
    "born": "Date32",
    "host": "LowCardinality(String)",  # experimental on 18.16 (refused without a setting)
    "maybe": "LowCardinality(Nullable(String))",
}


def legacy_spec(
    https: int = 8443, native_tls: int = 9440, tls_dir: str = "/etc/clickhouse-server/tls"
) -> dict[str, Any]:
    """18.16: an owner and a reader (allow_databases + readonly profile); no TTL, no writers."""
    return {
        "clickhouse_version": "18.16",
        "listen_hosts": [LEGACY_ADDRESS],
        "ports": {"https": https, "native_tls": native_tls},
        "tls": {"certificate": f"{tls_dir}/server.crt", "private_key": f"{tls_dir}/server.key"},
        "users": [
            {"name": "admin", "password_env": "HH_ADMIN", "networks": ["127.0.0.0/8"]},
            {"name": "analyst", "password_env": "HH_ANALYST", "networks": ["127.0.0.0/8"], "profile": "readonly"},
            {"name": "app", "password_env": "HH_APP", "networks": ["127.0.0.0/8"], "databases": ["default"]},
        ],
        "profiles": {"readonly": {"readonly": 1}},
        "log_databases": {
            "logs": {
                "tables": {"log_stream": {"columns": {"ts": "DateTime", "message": "String"}, "time_column": "ts"}},
                "retention_days": None,
                "readers": ["analyst"],
                "owners": ["admin"],
            }
        },
    }


def modern_spec(
    version: str = "26.9", *, retention: int | None = 30, encryption: dict[str, str] | None = None
) -> dict[str, Any]:
    """A writer, a reader and an owner with users.d grants, retention and (optionally) encryption."""
    return {
        "clickhouse_version": version,
        "listen_hosts": ["10.0.0.5"],
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
        },
        "users": [
            {"name": "ingest", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.0.0.0/8"]},
            {
                "name": "analyst",
                "password_env": "CH_ANALYST_PASSWORD",
                "networks": ["10.1.2.0/24"],
                "profile": "readonly",
            },
            {"name": "admin", "password_env": "CH_ADMIN_PASSWORD", "networks": ["10.9.9.9"]},
        ],
        "profiles": {"readonly": {"readonly": 1}},
        "log_databases": {
            "logs": {
                "tables": {"log_stream": {"columns": {"ts": "DateTime", "message": "String"}, "time_column": "ts"}},
                "retention_days": retention,
                "writers": ["ingest"],
                "readers": ["analyst"],
                "owners": ["admin"],
                "encryption": encryption,
            }
        },
    }


def with_columns(data: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    changed["log_databases"]["logs"]["tables"]["log_stream"]["columns"] = dict(columns)
    return changed


def rendered_ddl(data: dict[str, Any]) -> list[str]:
    return sql_statements(log_database_sql(load_spec(data)))


def _types_table(types: dict[str, str]) -> list[str]:
    columns = ", ".join(f"{name} {kind}" for name, kind in types.items())
    return [
        "CREATE DATABASE logs",
        f"CREATE TABLE {TABLE} ({columns}) ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY ts",
    ]


# scenario -> the DDL that sets the server up (on a server without a `logs` database)
LEGACY_SCENARIOS: dict[str, list[str]] = {
    "rendered": rendered_ddl(legacy_spec()),
    # The incident's table, made by hand: no partition key, a `line` column the spec does not have.
    "hand_made": [
        "CREATE DATABASE logs",
        f"CREATE TABLE {TABLE} (ts DateTime, line String) ENGINE = MergeTree ORDER BY ts",
    ],
    "types": _types_table(LEGACY_TYPES),
    "extra_table": rendered_ddl(legacy_spec()) + ["CREATE TABLE logs.scratch (x UInt8) ENGINE = Memory"],
}
MODERN_SCENARIOS: dict[str, list[str]] = {
    "rendered_ttl_encrypted": rendered_ddl(modern_spec(encryption={"key_env": "CH_LOGS_KEY"})),
    "rendered_ttl": rendered_ddl(modern_spec()),
    "rendered_no_ttl": rendered_ddl(modern_spec(retention=None)),
    "types": _types_table(MODERN_TYPES),
}


def with_redaction(data: dict[str, Any], rules: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """log_stream redacted with the built-in rules (and `rules`)."""
    changed = copy.deepcopy(data)
    changed["log_databases"]["logs"]["tables"]["log_stream"]["redact"] = {"rules": rules or []}
    return changed
