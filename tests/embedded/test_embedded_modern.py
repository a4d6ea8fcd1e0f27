"""Issue 6's controls in modern ClickHouse's own code (chdb-core 26.9): stronger hashes,
certificate users, and least-privilege log databases with encrypted storage.

Each user is exercised through hardhouse.embedded.run_as: the rendered account is swapped
into the session's `default` with every right it was rendered with (grants, allow-list,
profile), only its authentication and networks opened; each query returns ClickHouse's own
result or error code. 497 is ACCESS_DENIED, 164 READONLY, 516 AUTHENTICATION_FAILED.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

import pytest

from hardhouse.embedded import EmbeddedReport, RunAsReport, run_as, validate_embedded
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

ACCESS_DENIED, READONLY, AUTH_FAILED = 497, 164, 516
# No 4-byte sequence repeats, so LZ4 keeps it as one literal run in an unencrypted part.
FAKE_KEY = "sk-live-FAKE9x2Kq7Lm4Wp8Zr3Tn6Vb5Yc1"
TABLE = "logs.log_stream"
INSERT = f"INSERT INTO {TABLE} (ts, message) VALUES (now(), 'api_key={FAKE_KEY}')"
SELECT = f"SELECT count() AS n FROM {TABLE}"
WRITE_PROBES = [INSERT, f"INSERT INTO {TABLE} (ts, message) SELECT ts, message FROM {TABLE}"]
DESTROY_PROBES = [
    f"DROP TABLE {TABLE}",
    f"TRUNCATE TABLE {TABLE}",
    f"ALTER TABLE {TABLE} DELETE WHERE 1",
    "DROP DATABASE logs",
]
SEED = [f"INSERT INTO {TABLE} (ts, message) VALUES (now(), 'seeded by the owner')"]
PASSWORDS = {
    "CH_INGEST_PASSWORD": secrets.token_urlsafe(24),
    "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24),
    "CH_APP_PASSWORD": secrets.token_urlsafe(24),
}


def spec(version: str = "24.8", *, encryption: dict[str, str] | None = None, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "clickhouse_version": version,
        "listen_hosts": ["10.0.0.5"],
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
            "ca_certificate": "/etc/clickhouse-server/tls/ca.crt",
            "verify_clients": True,
        },
        "users": [
            {"name": "ingest", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.0.0.0/8"]},
            {
                "name": "analyst",
                "password_env": "CH_ANALYST_PASSWORD",
                "networks": ["10.1.2.0/24"],
                "profile": "readonly",
            },
            {"name": "admin", "certificate_common_name": "admin.logs.example", "networks": ["10.9.9.9"]},
            {"name": "app", "password_env": "CH_APP_PASSWORD", "networks": ["10.0.0.0/8"], "databases": ["app"]},
        ],
        "log_databases": {
            "logs": {
                "tables": {"log_stream": {"columns": {"ts": "DateTime", "message": "String"}, "time_column": "ts"}},
                "writers": ["ingest"],
                "readers": ["analyst"],
                "owners": ["admin"],
                "encryption": encryption,
            }
        },
    }
    data.update(changes)
    return data


def rendered(data: dict[str, Any]) -> list[RenderedFile]:
    return render(load_spec(data), environ=PASSWORDS)


def as_user(files: list[RenderedFile], user: str, queries: list[str], **kwargs: Any) -> RunAsReport:
    report = run_as(files, user, queries, setup=["CREATE DATABASE IF NOT EXISTS app", *SEED], **kwargs)
    assert report.errors == [], report.errors
    assert report.logged_in, report.login
    return report


def codes(report: RunAsReport) -> dict[str, int | None]:
    return {o.query: (None if o.ok else o.code) for o in report.outcomes}


def summary(report: EmbeddedReport) -> str:
    return f"ok={report.ok} errors={report.errors} users={report.users} passwordless={report.passwordless}"


# ---------------------------------------------------------------- the whole set loads


@pytest.mark.parametrize("version", ["23.8", "24.8", "25.8", "26.9"])
def test_log_database_spec_loads_with_ddl_and_no_passwordless_login(version: str) -> None:
    data = spec(version, encryption={"key_env": "CH_LOGS_KEY"})
    report = validate_embedded(rendered(data))
    assert report.ok, summary(report)
    assert report.users == ["admin", "analyst", "app", "ingest"]
    logins = {login.name: login for login in report.logins}
    assert all(not login.passwordless and f"Code: {AUTH_FAILED}" in login.login for login in logins.values())
    assert logins["admin"].auth_type == ["ssl_certificate"]
    expected = "scram_sha256_password" if version == "26.9" else "sha256_password"
    assert logins["ingest"].auth_type == [expected]
    assert "zz-hardhouse-log-storage.xml" in report.config_d


def test_control_scram_hash_of_an_empty_password_is_caught() -> None:
    files = rendered(spec("26.9"))
    empty_scram = hashlib.pbkdf2_hmac("sha256", b"", b"", 4096).hex()
    real = hashlib.pbkdf2_hmac("sha256", PASSWORDS["CH_INGEST_PASSWORD"].encode(), b"", 4096).hex()
    files = [RenderedFile(f.path, f.content.replace(real, empty_scram), f.mode) for f in files]
    report = validate_embedded(files)
    assert report.passwordless == ["ingest"], summary(report)


def test_bad_ddl_is_reported_with_clickhouses_own_message() -> None:
    files = rendered(spec())
    files = [RenderedFile(f.path, f.content.replace("ORDER BY ts", "ORDER BY no_such_column"), f.mode) for f in files]
    report = validate_embedded(files)
    assert not report.ok
    assert any(
        e.startswith("ClickHouse on sql/zz-hardhouse-log-databases.sql:") and "no_such_column" in e
        for e in report.errors
    ), report.errors


# ---------------------------------------------------------------- least privilege, with users.d grants


@pytest.fixture(scope="module", params=["24.8", "26.9"])
def granted(request: pytest.FixtureRequest) -> list[RenderedFile]:
    return rendered(spec(request.param))


def test_writer_can_insert_but_cannot_read_or_drop(granted: list[RenderedFile]) -> None:
    report = as_user(
        granted, "ingest", [INSERT, SELECT, *DESTROY_PROBES, WRITE_PROBES[1], "SELECT count() FROM app.nothing"]
    )
    result = codes(report)
    assert result[INSERT] is None
    assert result[SELECT] == ACCESS_DENIED
    assert result[WRITE_PROBES[1]] == ACCESS_DENIED  # INSERT ... SELECT reads
    assert all(result[q] == ACCESS_DENIED for q in DESTROY_PROBES), result


def test_reader_can_read_but_cannot_write_or_drop(granted: list[RenderedFile]) -> None:
    report = as_user(granted, "analyst", [SELECT, *WRITE_PROBES, *DESTROY_PROBES])
    assert report.outcome(SELECT).rows == [{"n": 1}]  # the owner's seeded row
    result = codes(report)
    assert all(result[q] in (ACCESS_DENIED, READONLY) for q in WRITE_PROBES + DESTROY_PROBES), result


def test_nobody_else_sees_the_log_database(granted: list[RenderedFile]) -> None:
    probes = ["SHOW DATABASES", "SELECT name FROM system.tables WHERE database = 'logs'", SELECT, INSERT]
    report = as_user(granted, "app", probes)
    assert report.outcome("SHOW DATABASES").rows == [{"name": "app"}]
    assert report.outcome(probes[1]).rows == []
    result = codes(report)
    assert result[SELECT] == ACCESS_DENIED and result[INSERT] == ACCESS_DENIED


def test_owner_has_every_right(granted: list[RenderedFile]) -> None:
    report = as_user(
        granted, "admin", [INSERT, SELECT, f"ALTER TABLE {TABLE} MODIFY TTL ts + INTERVAL 7 DAY", f"DROP TABLE {TABLE}"]
    )
    assert all(o.ok for o in report.outcomes), [(o.query, o.message) for o in report.outcomes]


# ---------------------------------------------------------------- before users.d grants: readers only


def test_reader_before_grants_is_an_allow_list_with_a_read_only_profile() -> None:
    data = spec("23.3")
    data["log_databases"]["logs"]["writers"] = []
    data["users"][0]["databases"] = ["app"]  # ingest is no log user here; confine it elsewhere
    files = rendered(data)
    reader = as_user(files, "analyst", [SELECT, *WRITE_PROBES, *DESTROY_PROBES])
    assert reader.outcome(SELECT).rows == [{"n": 1}]
    result = codes(reader)
    assert all(result[q] == READONLY for q in WRITE_PROBES + DESTROY_PROBES), result
    other = as_user(files, "ingest", [SELECT, INSERT, "SHOW DATABASES"])
    assert codes(other)[SELECT] == ACCESS_DENIED and codes(other)[INSERT] == ACCESS_DENIED
    assert other.outcome("SHOW DATABASES").rows == [{"name": "app"}]


# ---------------------------------------------------------------- encrypted storage


@pytest.mark.parametrize(
    "key",
    [{"key_env": "CH_LOGS_KEY"}, {"key_file": "/etc/clickhouse-server/secrets/log-keys.xml"}],
    ids=["key from env", "key from file"],
)
def test_encrypted_log_table_keeps_no_plaintext_on_disk(tmp_path: Path, key: dict[str, str]) -> None:
    files = rendered(spec(encryption=key))
    report = run_as(
        files,
        "analyst",
        [f"SELECT message FROM {TABLE}", "SELECT storage_policy FROM system.tables WHERE database = 'logs'"],
        setup=[INSERT],
        data_dir=tmp_path,
    )
    assert report.errors == [] and report.logged_in, (report.errors, report.login)
    assert report.outcomes[0].rows == [{"message": f"api_key={FAKE_KEY}"}]  # readable through ClickHouse
    assert report.outcomes[1].rows == [{"storage_policy": "hardhouse_logs"}]
    on_disk = [p for p in tmp_path.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert on_disk == []


def test_control_unencrypted_log_table_has_the_key_on_disk(tmp_path: Path) -> None:
    report = run_as(
        rendered(spec()), "analyst", [f"SELECT count() AS n FROM {TABLE}"], setup=[INSERT], data_dir=tmp_path
    )
    assert report.outcomes[0].rows == [{"n": 1}]
    assert [p for p in tmp_path.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()], (
        "the check above could not fail"
    )
