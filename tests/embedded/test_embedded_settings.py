"""Settings locks and logs in modern ClickHouse's own code (chdb-core 26.9): limits a user cannot SET away,
query logging that stays on, secrets that stay hidden, and system logs that expire.

Each user runs through hardhouse.embedded.run_as with the profile it was rendered with; each
claim has a deliberately weakened render that the same queries get through. 452 is
SETTING_CONSTRAINT_VIOLATION.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from hardhouse.embedded import RunAsReport, run_as
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec
from hardhouse.spec.settings import SYSTEM_LOG_TABLES

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

CONSTRAINT_VIOLATION, UNKNOWN_TABLE = 452, 60
PASSWORDS = {"CH_INGEST_PASSWORD": secrets.token_urlsafe(24), "CH_ADMIN_PASSWORD": secrets.token_urlsafe(24)}
MEMORY_CAP = 1_000_000_000
# What the log writer tries once it holds a leaked credential.
LIFTS = [
    "SET max_execution_time = 0",
    f"SET max_memory_usage = {2 * MEMORY_CAP}",
    "SET log_queries = 0",
    "SET format_display_secrets_in_show_and_select = 1",
    "SET max_concurrent_queries_for_user = 0",
    "SELECT 1 SETTINGS max_execution_time = 0",
    # The responses file turns these off (HH-LEAK-1, HH-HTTP-1); a session may not turn them on.
    "SET calculate_text_stack_trace = 1",
    "SET add_http_cors_header = 1",
]
# A fake credential in a view's table function: what SHOW CREATE must never print.
FAKE_SECRET = "FAKEsecretKEY0000000000000000000000001"
VIEW = (
    "CREATE VIEW default.exported AS SELECT * FROM "
    f"s3('http://127.0.0.1:1/bucket/k.csv', 'FAKEACCESSKEY', '{FAKE_SECRET}', 'CSV', 'a Int32')"
)


def spec(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "clickhouse_version": "26.9",
        "listen_hosts": ["10.0.0.5"],
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
        },
        "users": [
            {"name": "ingest", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.0.0.0/8"], "profile": "writer"},
            {"name": "admin", "password_env": "CH_ADMIN_PASSWORD", "networks": ["10.9.9.9"]},
        ],
        "profiles": {"writer": {"max_execution_time": 300, "max_memory_usage": MEMORY_CAP}},
    }
    data.update(changes)
    return data


def rendered(data: dict[str, Any] | None = None) -> list[RenderedFile]:
    return render(load_spec(data or spec()), environ=PASSWORDS)


def edited(files: list[RenderedFile], name: str, change: Callable[[str], str]) -> list[RenderedFile]:
    out = []
    for file in files:
        if file.path.endswith(name):
            content = change(file.content)
            assert content != file.content, f"the weakening changed nothing in {name}"
            file = dataclasses.replace(file, content=content)
        out.append(file)
    return out


def without(files: list[RenderedFile], name: str) -> list[RenderedFile]:
    kept = [file for file in files if not file.path.endswith(name)]
    assert len(kept) == len(files) - 1
    return kept


def unconstrained(files: list[RenderedFile]) -> list[RenderedFile]:
    """The weakened render: every <constraints> block removed, the settings themselves kept."""
    return edited(
        files, "zz-hardhouse-settings.xml", lambda text: re.sub(r"<constraints>.*?</constraints>", "", text, flags=re.S)
    )


def as_user(files: list[RenderedFile], user: str, queries: list[str], **kwargs: Any) -> RunAsReport:
    report = run_as(files, user, queries, **kwargs)
    assert report.errors == [], report.errors
    assert report.logged_in, report.login
    return report


def codes(report: RunAsReport) -> dict[str, int | None]:
    return {o.query: (None if o.ok else o.code) for o in report.outcomes}


# ---------------------------------------------------------------- item 1: settings constraints


def test_the_log_writer_cannot_lift_its_limits_or_switch_query_logging_off() -> None:
    report = as_user(
        rendered(), "ingest", [*LIFTS, "SET max_execution_time = 10", "SELECT getSetting('log_queries') AS on"]
    )
    answered = codes(report)
    assert {query: answered[query] for query in LIFTS} == dict.fromkeys(LIFTS, CONSTRAINT_VIOLATION), report.outcomes
    # Lowering a limit is allowed; the query log stays on.
    assert answered["SET max_execution_time = 10"] is None
    assert report.outcome("SELECT getSetting('log_queries') AS on").rows == [{"on": True}]


def test_a_user_on_the_stock_default_profile_is_locked_too() -> None:
    report = as_user(rendered(), "admin", ["SET log_queries = 0", "SET max_concurrent_queries_for_user = 0"])
    assert set(codes(report).values()) == {CONSTRAINT_VIOLATION}, report.outcomes


def test_control_without_constraints_every_lift_goes_through() -> None:
    report = as_user(unconstrained(rendered()), "ingest", LIFTS)
    assert codes(report) == dict.fromkeys(LIFTS, None), report.outcomes


def test_a_profiles_own_constraint_wins_and_an_empty_one_frees_the_setting() -> None:
    profiles = {
        "writer": {
            "max_execution_time": 300,
            "max_memory_usage": MEMORY_CAP,
            "constraints": {"max_execution_time": {"min": 60, "max": 600}, "max_memory_usage": {}},
        }
    }
    report = as_user(
        rendered(spec(profiles=profiles)),
        "ingest",
        ["SET max_execution_time = 30", "SET max_execution_time = 600", f"SET max_memory_usage = {2 * MEMORY_CAP}"],
    )
    assert list(codes(report).values()) == [CONSTRAINT_VIOLATION, None, None], report.outcomes


# ---------------------------------------------------------------- item 6: secrets in SHOW and SELECT


def test_secrets_stay_hidden_in_show_create() -> None:
    report = as_user(
        rendered(),
        "admin",
        ["SET format_display_secrets_in_show_and_select = 1", "SHOW CREATE TABLE default.exported"],
        setup=[VIEW],
    )
    assert codes(report)["SET format_display_secrets_in_show_and_select = 1"] == CONSTRAINT_VIOLATION
    shown = str(report.outcome("SHOW CREATE TABLE default.exported").rows)
    assert "[HIDDEN]" in shown and FAKE_SECRET not in shown


def test_control_with_display_secrets_on_and_unlocked_show_create_prints_the_secret() -> None:
    files = edited(
        unconstrained(rendered()),
        "zz-hardhouse-show-secrets.xml",
        lambda text: text.replace("<display_secrets_in_show_and_select>0<", "<display_secrets_in_show_and_select>1<"),
    )
    report = as_user(
        files,
        "admin",
        ["SET format_display_secrets_in_show_and_select = 1", "SHOW CREATE TABLE default.exported"],
        setup=[VIEW],
    )
    assert report.outcome("SET format_display_secrets_in_show_and_select = 1").ok
    assert FAKE_SECRET in str(report.outcome("SHOW CREATE TABLE default.exported").rows)


# ---------------------------------------------------------------- item 2: the server's own logs

FLUSH = ["SELECT 1", "SYSTEM FLUSH LOGS"]
SHOW_LOGS = [f"SHOW CREATE TABLE system.{table}" for table in SYSTEM_LOG_TABLES]


def test_every_system_log_table_expires_after_the_retention() -> None:
    report = as_user(rendered(spec(system_logs={"retention_days": 14})), "admin", [*FLUSH, *SHOW_LOGS])
    for query in SHOW_LOGS:
        outcome = report.outcome(query)
        assert outcome.ok, outcome
        assert "TTL event_date + toIntervalDay(14)" in str(outcome.rows), (query, outcome.rows)


def test_control_without_the_system_logs_file_nothing_expires() -> None:
    report = as_user(without(rendered(), "zz-hardhouse-system-logs.xml"), "admin", [*FLUSH, *SHOW_LOGS])
    for query in SHOW_LOGS:
        outcome = report.outcome(query)
        # chdb-core creates no system log table unless configured; where one exists it has no TTL.
        assert (not outcome.ok and outcome.code == UNKNOWN_TABLE) or "TTL" not in str(outcome.rows), outcome


def test_session_log_records_the_login_with_user_and_address() -> None:
    login = "SELECT type, auth_type, client_address FROM system.session_log"
    report = as_user(rendered(), "admin", [*FLUSH, login])
    rows = report.outcome(login).rows
    assert {"type": "LoginSuccess", "auth_type": "SHA256_PASSWORD", "client_address": "::ffff:127.0.0.1"} in rows, rows
    weakened = as_user(without(rendered(), "zz-hardhouse-system-logs.xml"), "admin", [*FLUSH, login])
    assert codes(weakened)[login] == UNKNOWN_TABLE


# ---------------------------------------------------------------- item 7: server limits

SERVER_SETTINGS = (
    "SELECT name, value FROM system.server_settings "
    "WHERE name IN ('max_connections', 'keep_alive_timeout', 'display_secrets_in_show_and_select')"
)


def test_26_9_reads_the_rendered_limits_and_a_render_without_them_keeps_the_stock() -> None:
    def settings(files: list[RenderedFile]) -> dict[str, str]:
        return {row["name"]: row["value"] for row in as_user(files, "admin", [SERVER_SETTINGS]).outcomes[0].rows}

    # clickhouse-local (chdb-core) does not take max_concurrent_queries from its config, so that
    # cap is proven on live 18.16 (tests/render/test_live_18_16_settings.py).
    assert settings(rendered()) == {
        "max_connections": "1024",
        "keep_alive_timeout": "10",
        "display_secrets_in_show_and_select": "0",
    }
    assert settings(without(rendered(), "zz-hardhouse-limits.xml")) == {
        "max_connections": "4096",
        "keep_alive_timeout": "30",
        "display_secrets_in_show_and_select": "0",
    }
