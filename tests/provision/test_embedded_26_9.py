"""Provisioning and the least-privilege probes in modern ClickHouse's own code (chdb-core 26.9,
see hardhouse.embedded): the state queries answer as captured, a retention change is planned
as MODIFY TTL against the engine's real system tables and applied as the owner, and the
users.d grants answer the verification's probes with the codes it expects. Redaction at ingest:
a writer's rows reach the table only through the view, stored as hardhouse predicts, with no
secret on disk."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from hardhouse.clickhouse.literals import sql_string
from hardhouse.embedded import run_as
from hardhouse.provision import desired_state, existing_state, plan
from hardhouse.render import render
from hardhouse.secret_shapes import BUILTIN_RULES, redact_text
from hardhouse.spec import load_spec
from hardhouse.verify.privileges import (
    alter_probe,
    insert_marked,
    insert_nothing,
    marker_column,
    refusal_codes,
    select_probe,
)
from tests.provision.capture import MODERN, MODERN_ENVIRON, capture_embedded, embedded_rows, load_states
from tests.provision.scenarios import TABLE, modern_spec, rendered_ddl, with_redaction
from tests.secrets.disk import files_holding
from tests.secrets.samples import fake_lines, hostile_lines, secret_part

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

ENCRYPTED = {"key_env": "CH_LOGS_KEY"}


def test_captured_states_are_what_26_9_answers() -> None:
    assert capture_embedded() == load_states()[MODERN], "run: python -m tests.provision.capture"


def test_a_retention_change_is_applied_in_place_as_the_owner(tmp_path: Path) -> None:
    before = embedded_rows(
        rendered_ddl(modern_spec(retention=30)) + [f"INSERT INTO {TABLE} SELECT now(), 'kept' FROM numbers(10)"],
        data_dir=tmp_path,
    )
    spec = load_spec(modern_spec(retention=7))
    steps = plan(desired_state(spec), existing_state(before), spec.version).runnable
    assert [step.kind for step in steps] == ["modify_ttl"]

    count = f"SELECT count() AS n FROM {TABLE}"
    after = embedded_rows([], [step.statement for step in steps] + [count], data_dir=tmp_path)
    (table,) = after["tables"]
    assert "TTL toDateTime(ts) + toIntervalDay(7)" in table["engine_full"]
    assert after["answers"][-1] == [{"n": 10}]  # this week's rows stay
    again = plan(desired_state(spec), existing_state(after), spec.version)
    assert again.steps == [] and again.refusals == []


def test_the_grants_answer_the_verifications_probes_as_it_expects() -> None:
    data = modern_spec()
    spec = load_spec(data)
    files = render(spec, MODERN_ENVIRON)
    time_column = spec.log_databases["logs"].tables["log_stream"].time_column
    column = marker_column(spec, "logs", "log_stream")
    assert column == "message"
    scratch = "logs.hardhouse_verify_scratch"
    setup = [f"CREATE TABLE {scratch} (x UInt8) ENGINE = Memory"]

    writer = run_as(
        files,
        "ingest",
        [
            insert_marked(TABLE, time_column, column, "hardhouse-verify-test"),
            insert_nothing(TABLE, time_column),
            select_probe(TABLE),
            alter_probe(TABLE),
            f"DROP TABLE {scratch}",
        ],
        setup=setup,
    )
    assert writer.logged_in and writer.errors == [], (writer.login, writer.errors)
    inserted, nothing, *refused = writer.outcomes
    assert inserted.ok and nothing.ok, (inserted.message, nothing.message)
    assert [o.code for o in refused] == [497, 497, 497]
    assert all(o.code in refusal_codes(spec, "writer") for o in refused)

    reader = run_as(files, "analyst", [select_probe(TABLE), insert_nothing(TABLE, time_column)], setup=setup)
    selected, insert = reader.outcomes
    assert selected.ok and not insert.ok
    assert insert.code in refusal_codes(spec, "reader")


def test_the_owner_removes_a_marked_row_and_the_reader_never_counts_it(tmp_path: Path) -> None:
    mark = "hardhouse-verify-test"
    where = f"message = '{mark}'"
    rows = embedded_rows(
        rendered_ddl(modern_spec()),
        [
            insert_marked(TABLE, "ts", "message", mark),
            f"ALTER TABLE {TABLE} DELETE WHERE {where} SETTINGS mutations_sync = 2",
            f"SELECT count() AS n FROM {TABLE} WHERE {where}",
        ],
        data_dir=tmp_path,
    )
    assert rows["answers"][-1] == [{"n": 0}]
    files = render(load_spec(modern_spec()), MODERN_ENVIRON)
    reader = run_as(files, "analyst", [select_probe(TABLE)], apply_sql=False, data_dir=tmp_path)
    assert reader.outcomes[0].rows == [{"count()": 0}]


# ---------------------------------------------------------------- redaction at ingest (HH-DATA-3)


def _owner_ddl(spec_data: dict[str, object]) -> list[str]:
    """The rendered DDL as an owner runs it: the harness's inspector creates it, so the view
    names its definer as the owner who would have (on a server, CURRENT_USER is that owner)."""
    return [s.replace("SQL SECURITY DEFINER", "DEFINER = admin SQL SECURITY DEFINER") for s in rendered_ddl(spec_data)]


def test_a_writer_stores_through_the_redacting_view_only_and_no_secret_reaches_the_disk(tmp_path: Path) -> None:
    data = with_redaction(modern_spec())
    files = render(load_spec(data), MODERN_ENVIRON)
    lines = fake_lines() + hostile_lines()
    listed = ", ".join(sql_string(line) for line in lines)
    marker = "hardhouse-plaintext-" + secrets.token_hex(16)
    writer = run_as(
        files,
        "ingest",
        [
            f"INSERT INTO logs.log_stream_ingest (ts, message) SELECT now(), arrayJoin([{listed}])",
            f"INSERT INTO {TABLE} (ts, message) SELECT now(), {sql_string(marker)}",
            f"SELECT count() FROM {TABLE}",
            "SELECT count() FROM logs.log_stream_ingest",
        ],
        setup=_owner_ddl(data),
        apply_sql=False,
        data_dir=tmp_path,
    )
    assert writer.logged_in and writer.errors == [], (writer.login, writer.errors)
    through_view, around_it, read_back, read_ingest = writer.outcomes
    assert through_view.ok, through_view.message
    assert [o.code for o in (around_it, read_back, read_ingest)] == [497, 497, 497]

    # The owner wrote around the view, which an owner may: plaintext written to the table is
    # on disk, so the search below can see it.
    owner = run_as(
        files,
        "admin",
        [f"SELECT message FROM {TABLE}", f"INSERT INTO {TABLE} (ts, message) SELECT now(), {sql_string(marker)}"],
        apply_sql=False,
        data_dir=tmp_path,
    )
    stored, planted = owner.outcomes
    assert planted.ok, planted.message
    assert sorted(row["message"] for row in stored.rows) == sorted(redact_text(line, BUILTIN_RULES) for line in lines)
    found = files_holding(tmp_path, [marker] + [secret_part(line) for line in lines])
    assert found.pop(marker), "the control row's plaintext should be on disk"
    assert {part: files for part, files in found.items() if files} == {}


def test_the_redaction_path_is_planned_against_the_engines_own_tables_and_then_matches(tmp_path: Path) -> None:
    data = with_redaction(modern_spec())
    spec = load_spec(data)
    after = embedded_rows(_owner_ddl(data), data_dir=tmp_path)
    assert plan(desired_state(spec), existing_state(after), spec.version).steps == []

    changed = load_spec(with_redaction(modern_spec(), [{"name": "acct", "regexp": "acct-[0-9]{8}"}]))
    steps = plan(desired_state(changed), existing_state(after), changed.version).runnable
    assert [step.kind for step in steps] == ["create_view", "drop_view"]
    replaced = embedded_rows([], [step.statement for step in steps], data_dir=tmp_path)  # as the owner
    assert plan(desired_state(changed), existing_state(replaced), changed.version).steps == []
