"""The provisioning planner against states real servers answered (tests/provision/states.json,
captured from live 18.16 and embedded 26.9 by tests/provision/capture.py): what it creates,
alters in place, finds matching, leaves alone and refuses. No server; well under a second."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import pytest

from hardhouse.clickhouse.column_types import canonical_type, same_type
from hardhouse.clickhouse.versions import parse_version
from hardhouse.provision import desired_state, existing_state, plan
from hardhouse.provision.plan import Plan
from hardhouse.render import SQL_FILE, render, sql_statements
from hardhouse.spec import load_spec
from tests.provision.capture import LEGACY, MODERN, load_states
from tests.provision.scenarios import (
    LEGACY_TYPES,
    MODERN_TYPES,
    legacy_spec,
    modern_spec,
    with_columns,
)

STATES = load_states()
EMPTY = existing_state({"databases": [], "tables": [], "columns": []})
ENCRYPTED = {"key_env": "CH_LOGS_KEY"}
PASSWORD_VARIABLES = (
    "HH_ADMIN",
    "HH_ANALYST",
    "HH_APP",
    "CH_INGEST_PASSWORD",
    "CH_ANALYST_PASSWORD",
    "CH_ADMIN_PASSWORD",
)


def planned(data: dict[str, Any], source: str | None = None, scenario: str | None = None) -> Plan:
    spec = load_spec(data)
    state = EMPTY if source is None else existing_state(STATES[source][scenario])
    return plan(desired_state(spec), state, spec.version)


def kinds(result: Plan) -> list[tuple[str, str]]:
    return [(step.kind, step.target) for step in result.steps]


def test_the_states_were_captured_from_both_servers() -> None:
    assert {s["version"] for s in STATES[LEGACY].values()} == {"18.16.1"}
    assert {s["version"][:4] for s in STATES[MODERN].values()} == {"26.9"}


@pytest.mark.parametrize("data", [legacy_spec(), modern_spec(encryption=ENCRYPTED)], ids=["18.16", "26.9"])
def test_an_empty_server_gets_exactly_the_rendered_ddl(data: dict[str, Any]) -> None:
    result = planned(data)
    # What `hardhouse render` writes to sql/ (render needs the passwords; the planner does not).
    environ = {name: secrets.token_urlsafe(24) for name in PASSWORD_VARIABLES}
    sql = next(f for f in render(load_spec(data), environ) if f.path == SQL_FILE)
    assert [step.statement for step in result.runnable] == sql_statements(sql.content)
    assert kinds(result) == [("create_database", "logs"), ("create_table", "logs.log_stream")]
    assert result.matched == [] and result.refusals == []


def test_18_16_rendered_table_matches_and_nothing_runs() -> None:
    result = planned(legacy_spec(), LEGACY, "rendered")
    assert result.steps == [] and result.refusals == []
    assert result.matched == [
        ("logs", "the database exists"),
        ("logs.log_stream", "2 columns, MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY ts, no TTL"),
    ]


def test_a_column_the_spec_adds_is_added_in_place_in_the_specs_order() -> None:
    data = with_columns(legacy_spec(), {"ts": "DateTime", "level": "String", "message": "String", "host": "String"})
    result = planned(data, LEGACY, "rendered")
    assert [step.statement for step in result.runnable] == [
        "ALTER TABLE logs.log_stream ADD COLUMN level String AFTER ts",
        "ALTER TABLE logs.log_stream ADD COLUMN host String AFTER message",
    ]
    assert {step.outcome for step in result.steps} == {"altered"}


def test_a_type_change_is_refused_and_holds_back_the_whole_plan() -> None:
    data = with_columns(legacy_spec(), {"ts": "DateTime", "message": "FixedString(64)", "level": "String"})
    result = planned(data, LEGACY, "rendered")
    assert [r.target for r in result.refusals] == ["logs.log_stream.message"]
    assert "the column is String, the spec says FixedString(64)" in result.refusals[0].reason
    assert "rewrites every part" in result.refusals[0].reason
    assert [step.target for step in result.steps] == ["logs.log_stream.level"]  # shown...
    assert result.runnable == []  # ...but not run, not even the harmless ADD COLUMN


def test_the_incidents_hand_made_table_is_refused_with_reasons_and_fixes() -> None:
    # ORDER BY ts without a partition key, and a `line` column the spec does not declare.
    result = planned(legacy_spec(), LEGACY, "hand_made")
    reasons = {r.target: r.reason for r in result.refusals}
    assert reasons.keys() == {"logs.log_stream", "logs.log_stream.line"}
    assert "the partition key is none, the spec's is toYYYYMMDD(ts)" in reasons["logs.log_stream"]
    assert "hardhouse never drops a column" in reasons["logs.log_stream.line"]
    assert all(r.fix for r in result.refusals)
    assert result.runnable == []


def test_a_table_the_spec_does_not_declare_is_left_alone() -> None:
    result = planned(legacy_spec(), LEGACY, "extra_table")
    assert result.steps == [] and result.refusals == []
    assert result.left_alone == [("logs.scratch", "not in the spec; left as it is (readers of logs can read it)")]


@pytest.mark.parametrize(("source", "types"), [(LEGACY, LEGACY_TYPES), (MODERN, MODERN_TYPES)])
def test_types_as_written_in_a_spec_match_what_the_server_answers(source: str, types: dict[str, str]) -> None:
    data = with_columns(legacy_spec() if source == LEGACY else modern_spec(retention=None), types)
    result = planned(data, source, "types")
    assert result.refusals == [] and result.steps == [], (result.refusals, result.steps)


def test_18_16_rows_have_no_storage_policy_and_26_9_rows_do() -> None:
    legacy = existing_state(STATES[LEGACY]["rendered"]).tables[("logs", "log_stream")]
    modern = existing_state(STATES[MODERN]["rendered_ttl_encrypted"]).tables[("logs", "log_stream")]
    assert legacy.storage_policy is None and legacy.ttl is None
    assert modern.storage_policy == "hardhouse_logs" and modern.ttl == "toDateTime(ts) + toIntervalDay(30)"


def test_a_retention_change_is_modify_ttl() -> None:
    result = planned(modern_spec(retention=7), MODERN, "rendered_ttl")
    assert [step.statement for step in result.runnable] == [
        "ALTER TABLE logs.log_stream MODIFY TTL toDateTime(ts) + INTERVAL 7 DAY"
    ]
    assert "the table had TTL toDateTime(ts) + toIntervalDay(30)" in result.steps[0].why


def test_retention_added_to_a_table_without_ttl() -> None:
    result = planned(modern_spec(retention=30), MODERN, "rendered_no_ttl")
    assert kinds(result) == [("modify_ttl", "logs.log_stream")]


def test_retention_null_removes_the_ttl_and_keeps_the_rows() -> None:
    result = planned(modern_spec(retention=None), MODERN, "rendered_ttl")
    assert [step.statement for step in result.runnable] == ["ALTER TABLE logs.log_stream REMOVE TTL"]


def test_the_rendered_modern_table_matches() -> None:
    result = planned(modern_spec(encryption=ENCRYPTED), MODERN, "rendered_ttl_encrypted")
    assert result.steps == [] and result.refusals == []


def test_a_table_on_another_storage_policy_is_refused() -> None:
    result = planned(modern_spec(encryption=ENCRYPTED), MODERN, "rendered_ttl")
    (refusal,) = result.refusals
    assert "storage policy default, the spec's is hardhouse_logs" in refusal.reason
    assert result.runnable == []


SPECS = {
    "legacy": legacy_spec(),
    "legacy+columns": with_columns(legacy_spec(), {"ts": "Date", "line": "UInt64", "extra": "String"}),
    "modern": modern_spec(),
    "modern-7d": modern_spec(retention=7),
    "modern-forever": modern_spec(retention=None),
    "modern-encrypted": modern_spec(encryption=ENCRYPTED),
    "modern+columns": with_columns(modern_spec(), {"ts": "DateTime64(3)", "message": "String", "n": "UInt8"}),
}
SCENARIOS = [(source, name) for source in (LEGACY, MODERN) for name in STATES[source]]


@pytest.mark.parametrize(("spec_name", "scenario"), list(itertools.product(SPECS, SCENARIOS)))
def test_no_plan_ever_drops_rewrites_or_deletes(spec_name: str, scenario: tuple[str, str]) -> None:
    result = planned(SPECS[spec_name], *scenario)
    for step in result.steps:
        assert step.statement.startswith(
            ("CREATE DATABASE IF NOT EXISTS ", "CREATE TABLE IF NOT EXISTS ", "ALTER TABLE ")
        )
        if step.statement.startswith("ALTER TABLE "):
            assert any(f" {verb} " in step.statement + " " for verb in ("ADD COLUMN", "MODIFY TTL", "REMOVE TTL")), step
    assert not (result.refusals and result.runnable)


@pytest.mark.parametrize(
    ("written", "answered"),
    [
        ("Decimal(10,2)", "Decimal(10, 2)"),
        ("Decimal(10)", "Decimal(10, 0)"),
        ("Decimal128(3)", "Decimal(38, 3)"),
        ("Enum8('a','b')", "Enum8('a' = 1, 'b' = 2)"),
        ("Enum16('x' = -3,'y')", "Enum16('x' = -3, 'y' = -2)"),
        ("Map(String,Array(UInt8))", "Map(String, Array(UInt8))"),
        ("Tuple(a String, b UInt64)", "Tuple(\n    a String,\n    b UInt64)"),
    ],
)
def test_types_compare_in_clickhouses_form(written: str, answered: str) -> None:
    assert same_type(written, answered)


def test_a_type_outside_the_grammar_never_matches_a_spec_type() -> None:
    assert canonical_type("Object('json')") == "Object('json')"
    assert not same_type("String", "Object('json')")
    assert not same_type("DateTime", "DateTime('UTC')")
    assert not same_type("Nullable(String)", "String")


def test_the_spec_version_decides_retention_not_the_server() -> None:
    # 18.16 as the target and a TTL on the table (a server newer than the spec says): refused.
    state = existing_state(STATES[MODERN]["rendered_ttl"])
    spec = load_spec(legacy_spec())
    result = plan(desired_state(spec), state, parse_version("18.16"))
    assert any("has no TTL" in r.reason for r in result.refusals)
