"""Issue 6's controls as rendered, read back as XML/SQL: each appears exactly where the target
version has it (hardhouse.versions.FEATURES), and secrets never appear in any output."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hardhouse.clickhouse import versions
from hardhouse.render import SQL_FILE, RenderedFile, render, sql_statements
from hardhouse.render.credentials import scram_sha256_hex
from hardhouse.spec import load_spec
from hardhouse.spec.masking import BUILTIN_MASKING_RULES

AUTH = "zz-hardhouse-auth.xml"
MASKING = "zz-hardhouse-masking.xml"
STORAGE = "zz-hardhouse-log-storage.xml"
USERS = "zz-hardhouse-users.xml"


def by_name(files: list[RenderedFile]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for file in files:
        name = Path(file.path).name
        out[name] = file.content if name.endswith(".sql") else etree.fromstring(file.content.encode())
    return out


def audit_db(**changes: Any) -> dict[str, Any]:
    db: dict[str, Any] = {
        "tables": {
            "events": {
                "columns": {"ts": "DateTime", "level": "LowCardinality(String)", "message": "String"},
                "time_column": "ts",
            }
        },
        "readers": ["analyst"],
    }
    db.update(changes)
    return db


# ---------------------------------------------------------------- server-wide refusal


@pytest.mark.parametrize(("version", "implicit"), [("22.8", False), ("22.10", True), ("24.8", True), ("26.9", True)])
def test_insecure_auth_is_refused_server_wide_on_modern_targets(spec_dict, environ, version, implicit) -> None:
    spec_dict["clickhouse_version"] = version
    auth = by_name(render(load_spec(spec_dict), environ))[AUTH]
    assert auth.findtext("allow_no_password") == "0"
    assert auth.findtext("allow_plaintext_password") == "0"
    assert (auth.findtext("allow_implicit_no_password") == "0") is implicit


def test_no_refusal_file_for_18_16_or_when_switched_off(spec_dict, environ) -> None:
    spec_dict["clickhouse_version"] = "18.16"
    assert AUTH not in by_name(render(load_spec(spec_dict), environ))
    spec_dict["clickhouse_version"] = "24.8"
    spec_dict["refuse_insecure_auth"] = False
    assert AUTH not in by_name(render(load_spec(spec_dict), environ))


# ---------------------------------------------------------------- password hashes


def test_auto_hash_is_scram_where_the_target_reads_it(spec_dict, environ) -> None:
    spec_dict["clickhouse_version"] = "26.9"
    users = by_name(render(load_spec(spec_dict), environ))[USERS]
    ingest = users.find("users/ingest")
    # Exactly what ClickHouse derives from the password: PBKDF2-HMAC-SHA256, empty salt, 4096 rounds.
    expected = hashlib.pbkdf2_hmac("sha256", environ["CH_INGEST_PASSWORD"].encode(), b"", 4096).hex()
    assert ingest.findtext("password_scram_sha256_hex") == expected
    assert ingest.find("password_sha256_hex") is None


def test_scram_matches_clickhouses_documented_example() -> None:
    # ClickHouse's docs: user_with_sha256 / password "abacaba".
    assert scram_sha256_hex("abacaba") == "04e7a70338d7af7bb6142fe7e19fef46d9b605f3e78b932a60e8200ef9154976"


@pytest.mark.parametrize("version", ["18.16", "22.8", "25.8"])
def test_auto_hash_is_sha256_on_older_targets(spec_dict, environ, version) -> None:
    spec_dict["clickhouse_version"] = version
    users = by_name(render(load_spec(spec_dict), environ))[USERS]
    assert (
        users.findtext("users/ingest/password_sha256_hex")
        == hashlib.sha256(environ["CH_INGEST_PASSWORD"].encode()).hexdigest()
    )
    assert users.find("users/ingest/password_scram_sha256_hex") is None


def test_hash_choice_per_user_and_for_given_hashes(spec_dict, environ) -> None:
    spec_dict["clickhouse_version"] = "26.9"
    spec_dict["password_hash"] = "sha256"
    spec_dict["users"][1]["password_hash"] = "scram_sha256"
    given = hashlib.sha256(b"a long random preimage nobody guesses").hexdigest()
    spec_dict["users"].append(
        {"name": "app", "password_sha256_hex": given, "networks": ["10.0.0.0/8"], "databases": ["app"]}
    )
    spec_dict["password_hash"] = "auto"
    spec_dict["users"][0]["password_hash"] = "sha256"
    users = by_name(render(load_spec(spec_dict), environ))[USERS]
    assert users.find("users/ingest/password_sha256_hex") is not None
    assert users.find("users/analyst/password_scram_sha256_hex") is not None
    # auto cannot turn a given SHA-256 into SCRAM: the hash is written as given.
    assert users.findtext("users/app/password_sha256_hex") == given


def test_scram_render_is_reproducible(spec_dict, environ) -> None:
    spec_dict["clickhouse_version"] = "26.9"
    spec = load_spec(spec_dict)
    assert render(spec, environ) == render(spec, environ)


# ---------------------------------------------------------------- certificate users


def test_certificate_user_has_no_password_element(spec_dict, environ) -> None:
    spec_dict["tls"].update(verify_clients=True, ca_certificate="/etc/clickhouse-server/tls/ca.crt")
    spec_dict["users"].append(
        {"name": "admin", "certificate_common_name": "admin.logs.example", "networks": ["10.9.9.9"]}
    )
    admin = by_name(render(load_spec(spec_dict), environ))[USERS].find("users/admin")
    assert [e.text for e in admin.findall("ssl_certificates/common_name")] == ["admin.logs.example"]
    assert not [e for e in admin if isinstance(e.tag, str) and e.tag.startswith("password")]


# ---------------------------------------------------------------- query masking


def masking_rules(files: list[RenderedFile]) -> dict[str, tuple[str, str]]:
    root = by_name(files)[MASKING].find("query_masking_rules")
    return {e.findtext("name"): (e.findtext("regexp"), e.findtext("replace")) for e in root}


def test_builtin_masking_rules_on_modern_targets_and_user_rules_after_them(spec_dict, environ) -> None:
    spec_dict["query_masking"] = {"rules": [{"name": "card_numbers", "regexp": r"\b\d{16}\b", "replace": "****"}]}
    root = by_name(render(load_spec(spec_dict), environ))[MASKING].find("query_masking_rules")
    names = [e.findtext("name") for e in root]
    assert names == [n for n, _, _ in BUILTIN_MASKING_RULES] + ["card_numbers"]
    # Each rule has its own element (rule_*), so ClickHouse's merge never folds it into another file's <rule>.
    assert [e.tag for e in root] == [f"rule_{n}" for n in names]


def test_no_masking_on_18_16_by_default(spec_dict, environ) -> None:
    spec_dict["clickhouse_version"] = "18.16"
    assert MASKING not in by_name(render(load_spec(spec_dict), environ))


def test_masking_can_be_reduced_to_the_users_rules(spec_dict, environ) -> None:
    spec_dict["query_masking"] = {"builtin_rules": False}
    assert MASKING not in by_name(render(load_spec(spec_dict), environ))


def re2_replace(pattern: str, replacement: str, text: str) -> str:
    """RE2::GlobalReplace approximated with Python's re (the rules avoid what differs)."""
    return re.sub(pattern, re.sub(r"\\(\d)", r"\\g<\1>", replacement), text)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            "INSERT INTO logs.log_stream VALUES (now(), 'api_key=sk-live-FAKE0000000000000000000001')",
            "sk-live-FAKE0000000000000000000001",
        ),
        (
            "SELECT * FROM url('https://api.example/v1', headers('Authorization'='Bearer eyJhbGciOi.payload.sig'))",
            "eyJhbGciOi.payload.sig",
        ),
        ("CREATE USER app IDENTIFIED WITH sha256_password BY 'S3cret-Passw0rd!'", "S3cret-Passw0rd!"),
        ("ALTER USER app IDENTIFIED BY 'it''s a secret'", "a secret"),
        ("INSERT INTO t VALUES ('token: ghp_0123456789abcdefABCDEF')", "ghp_0123456789abcdefABCDEF"),
        ('INSERT INTO t FORMAT JSONEachRow {"msg": "password=hunter2-but-longer"}', "hunter2-but-longer"),
    ],
)
def test_builtin_rules_remove_the_secret_and_keep_the_query_readable(spec_dict, environ, text, secret) -> None:
    masked = text
    for _, (pattern, replacement) in masking_rules(render(load_spec(spec_dict), environ)).items():
        masked = re2_replace(pattern, replacement, masked)
    assert secret not in masked
    assert "******" in masked
    assert masked.split()[0] == text.split()[0]


# ---------------------------------------------------------------- log databases


def test_writer_reader_owner_rights_with_users_d_grants(spec_dict, environ) -> None:
    spec_dict["users"].append(
        {"name": "admin", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.9.9.9"], "databases": ["ops"]}
    )
    spec_dict["log_databases"] = {"audit": audit_db(writers=["ingest"], owners=["admin"])}
    users = by_name(render(load_spec(spec_dict), environ))[USERS]
    # ingest's own allow-list (logs) becomes a grant too: users.d cannot mix grants and allow_databases.
    assert [q.text for q in users.findall("users/ingest/grants/query")] == [
        "GRANT INSERT ON audit.*",
        "GRANT ALL ON logs.*",
        "REVOKE ACCESS MANAGEMENT ON *.*",
        "REVOKE NAMED COLLECTION CONTROL ON *.*",
    ]
    assert users.find("users/ingest/allow_databases") is None
    assert [q.text for q in users.findall("users/analyst/grants/query")] == ["GRANT SELECT ON audit.*"]
    # admin's allow-list and ownership are grants too: ALL on those databases and nothing else.
    assert [q.text for q in users.findall("users/admin/grants/query")] == [
        "GRANT ALL ON ops.*",
        "GRANT ALL ON audit.*",
        "REVOKE ACCESS MANAGEMENT ON *.*",
        "REVOKE NAMED COLLECTION CONTROL ON *.*",
    ]
    assert users.find("users/admin/allow_databases") is None


def test_readers_fall_back_to_allow_databases_before_grants(spec_dict, environ) -> None:
    spec_dict["clickhouse_version"] = "23.3"
    spec_dict["log_databases"] = {"audit": audit_db()}
    users = by_name(render(load_spec(spec_dict), environ))[USERS]
    assert users.find("users/analyst/grants") is None
    assert [d.text for d in users.findall("users/analyst/allow_databases/database")] == ["audit"]
    assert users.findtext("users/analyst/profile") == "readonly"


def test_log_database_ddl_has_retention_and_storage_policy(spec_dict, environ) -> None:
    spec_dict["log_databases"] = {"audit": audit_db(retention_days=14, encryption={"key_env": "CH_AUDIT_KEY"})}
    sql = by_name(render(load_spec(spec_dict), environ))[Path(SQL_FILE).name]
    statements = sql_statements(sql)
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS audit"
    table = statements[1]
    assert table.startswith("CREATE TABLE IF NOT EXISTS audit.events")
    assert "level LowCardinality(String)" in table
    assert "TTL toDateTime(ts) + INTERVAL 14 DAY" in table
    assert "SETTINGS storage_policy = 'hardhouse_audit'" in table
    assert len(statements) == 2


def test_18_16_log_database_has_no_ttl_and_no_policy(spec_dict, environ) -> None:
    spec_dict["clickhouse_version"] = "18.16"
    db = audit_db(retention_days=None)
    db["tables"]["events"]["columns"]["level"] = "String"  # 18.16 has no LowCardinality
    spec_dict["log_databases"] = {"audit": db}
    files = by_name(render(load_spec(spec_dict), environ))
    table = sql_statements(files[Path(SQL_FILE).name])[1]
    assert "TTL" not in table and "storage_policy" not in table
    assert STORAGE not in files


@pytest.mark.parametrize(("version", "hidden"), [("23.8", False), ("24.8", True)])
def test_encrypted_disk_reads_the_key_from_the_environment(spec_dict, environ, version, hidden) -> None:
    spec_dict["clickhouse_version"] = version
    spec_dict["log_databases"] = {"audit": audit_db(encryption={"key_env": "CH_AUDIT_KEY"})}
    storage = by_name(render(load_spec(spec_dict), environ))[STORAGE]
    disk = storage.find("storage_configuration/disks/hardhouse_audit_encrypted")
    assert disk.findtext("type") == "encrypted" and disk.findtext("disk") == "default"
    assert disk.findtext("algorithm") == "AES_256_CTR"
    key = disk.find("key_hex")
    assert key.get("from_env") == "CH_AUDIT_KEY" and not (key.text or "").strip()
    assert (key.get("hide_in_preprocessed") == "true") is hidden
    assert (
        storage.findtext("storage_configuration/policies/hardhouse_audit/volumes/main/disk")
        == "hardhouse_audit_encrypted"
    )
    # The wrapped disk is announced before the encrypted one, as ClickHouse requires.
    assert [e.tag for e in storage.find("storage_configuration/disks") if isinstance(e.tag, str)][0] == "default"
    assert versions.has(load_spec(spec_dict).version, "hide_in_preprocessed") is hidden


def test_encrypted_disk_reads_the_key_from_a_file_on_the_server(spec_dict, environ) -> None:
    spec_dict["log_databases"] = {
        "audit": audit_db(encryption={"key_file": "/etc/clickhouse-server/secrets/log-keys.xml"})
    }
    storage = by_name(render(load_spec(spec_dict), environ))[STORAGE]
    assert storage.findtext("include_from") == "/etc/clickhouse-server/secrets/log-keys.xml"
    assert (
        storage.find("storage_configuration/disks/hardhouse_audit_encrypted/key_hex").get("incl")
        == "hardhouse_key_audit"
    )


def test_sql_statements_split_and_skip_comments() -> None:
    text = (
        "-- a comment; not a statement\nCREATE DATABASE IF NOT EXISTS a;\n\n"
        "-- another\nCREATE TABLE IF NOT EXISTS a.t\n(\n    x String\n)\nENGINE = Log\n;\n"
    )
    assert sql_statements(text) == [
        "CREATE DATABASE IF NOT EXISTS a",
        "CREATE TABLE IF NOT EXISTS a.t\n(\n    x String\n)\nENGINE = Log",
    ]


def test_no_secret_reaches_any_output(spec_dict, environ) -> None:
    spec_dict["clickhouse_version"] = "26.9"
    spec_dict["log_databases"] = {"audit": audit_db(encryption={"key_env": "CH_AUDIT_KEY"})}
    environ = {**environ, "CH_AUDIT_KEY": "ab" * 32}
    everything = "".join(f.content for f in render(load_spec(spec_dict), environ))
    for secret in environ.values():
        assert secret not in everything


def test_write_files_puts_the_ddl_in_sql_and_drops_it_when_no_longer_rendered(
    tmp_path: Path, spec_dict, environ
) -> None:
    from hardhouse.render import write_files

    spec_dict["log_databases"] = {"audit": audit_db()}
    write_files(render(load_spec(spec_dict), environ), tmp_path)
    assert (tmp_path / SQL_FILE).is_file()
    del spec_dict["log_databases"]
    write_files(render(load_spec(spec_dict), environ), tmp_path)
    assert not (tmp_path / SQL_FILE).exists()
    assert not (tmp_path / "sql").exists() or list((tmp_path / "sql").iterdir()) == []
    # Without log databases no sql/ directory appears at all.
    write_files(render(load_spec(spec_dict), environ), tmp_path / "fresh")
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["config.d", "users.d"]
