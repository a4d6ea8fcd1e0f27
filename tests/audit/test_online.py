"""The online audit: accounts the running server reports beside what its files define."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hardhouse.audit.online import USERS_QUERY, online_findings
from hardhouse.clickhouse.stock import EMPTY_SHA256

# Rows as 26.9's system.users gives them (auth_type is an array since 24.x).
SQL_USER = {
    "name": "intruder",
    "storage": "local_directory",
    "auth_type": ["no_password"],
    "host_ip": ["::/0"],
    "host_names": [],
    "host_names_regexp": [],
    "host_names_like": [],
}
FILE_USER = {**SQL_USER, "name": "ingest", "storage": "users_xml", "auth_type": ["sha256_password"], "host_ip": []}


def rows_query(rows: list[dict]) -> object:
    def query(sql: str) -> list[dict]:
        return [{"v": "26.9.2.1"}] if sql.startswith("SELECT version()") else rows

    return query


def test_a_user_created_through_sql_is_judged_and_reported_as_drift() -> None:
    result = online_findings(rows_query([FILE_USER, SQL_USER]), {"ingest"}, with_spec=True)
    seen = {(f.control, f.rule, f.subject) for f in result.findings}
    subject = "user intruder (server, storage local_directory)"
    assert seen == {
        ("HH-DRIFT-1", "online-user", subject),
        ("HH-AUTH-1", "online-passwordless-user", subject),
        ("HH-NET-1", "online-any-network", subject),
    }
    assert "26.9.2.1" in result.note and "2 accounts" in result.note


def test_a_file_user_the_files_no_longer_define_is_drift_only_with_a_spec() -> None:
    with_spec = online_findings(rows_query([FILE_USER]), set(), with_spec=True)
    assert [f.rule for f in with_spec.findings] == ["online-user"]
    assert "not reloaded" in with_spec.findings[0].problem
    assert online_findings(rows_query([FILE_USER]), set(), with_spec=False).findings == []


@pytest.mark.chdb
def test_modern_system_users_answers_the_query_the_online_audit_sends(tmp_path: Path) -> None:
    """ClickHouse 26.9 (embedded) runs USERS_QUERY on its real system.users; its rows judge cleanly."""
    pytest.importorskip("chdb")
    (tmp_path / "data").mkdir()
    (tmp_path / "users.xml").write_text(
        "<clickhouse><users><default>"
        f"<password_sha256_hex>{EMPTY_SHA256}</password_sha256_hex>"
        "<networks><ip>::1</ip><ip>127.0.0.1</ip></networks><access_management>1</access_management>"
        "<profile>default</profile><quota>default</quota></default></users>"
        "<profiles><default/></profiles><quotas><default/></quotas></clickhouse>"
    )
    (tmp_path / "config.xml").write_text(
        f"<clickhouse><path>{tmp_path}/data/</path><tmp_path>{tmp_path}/data/tmp/</tmp_path>"
        f"<users_config>{tmp_path}/users.xml</users_config></clickhouse>"
    )
    script = textwrap.dedent(
        f"""
        import json, chdb
        from hardhouse.audit.online import online_findings
        session = chdb.connect(":memory:?config-file={tmp_path}/config.xml")
        def query(sql):
            return [json.loads(line) for line in session.query(sql, "JSONEachRow").data().splitlines() if line]
        result = online_findings(query, {{"default"}}, with_spec=True)
        print(json.dumps({{"note": result.note, "rows": query({USERS_QUERY!r}),
                          "findings": [f.as_dict() for f in result.findings]}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["findings"] == [] and "ClickHouse 26.9" in answer["note"] and "1 accounts" in answer["note"]
    (row,) = answer["rows"]
    assert row["name"] == "default" and row["storage"] == "users_xml" and row["auth_type"] == ["sha256_password"]
