"""The planner for redacted tables, against states shaped as servers answer them: the ingest table
and view are created after the columns are in place, a view of an older SELECT is dropped only
after its successor exists, a stranger under the view's name is refused, and adding redaction
to a table with rows says what happens to them."""

from __future__ import annotations

import copy
from typing import Any

from hardhouse.provision import desired_state, existing_state, plan
from hardhouse.provision.plan import Plan
from hardhouse.spec import load_spec
from tests.provision.scenarios import modern_spec

COLUMNS = (("ts", "DateTime"), ("message", "String"))


def redacted_spec(rules: list[dict[str, str]] | None = None, extra_column: bool = False) -> dict[str, Any]:
    data = modern_spec()
    table = data["log_databases"]["logs"]["tables"]["log_stream"]
    table["redact"] = {"rules": rules or []}
    if extra_column:
        table["columns"] = {**table["columns"], "host": "String"}
    return data


def state(
    tables: list[tuple[str, str]],
    columns: tuple[tuple[str, str], ...] = COLUMNS,
    view_target: str = " TO logs.log_stream",
) -> Any:
    """A server with database logs and these (name, engine) tables, each with `columns`; each
    materialized view writes into `view_target` ("": it keeps its own rows)."""
    full = {
        "MergeTree": "MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY ts TTL toDateTime(ts) + toIntervalDay(30) "
        "SETTINGS index_granularity = 8192"
    }
    keys = {"MergeTree": ("toYYYYMMDD(ts)", "ts")}
    return existing_state(
        {
            "databases": [{"name": "logs", "engine": "Atomic"}],
            "tables": [
                {
                    "database": "logs",
                    "name": name,
                    "engine": engine,
                    "engine_full": full.get(engine, engine),
                    "partition_key": keys.get(engine, ("", ""))[0],
                    "sorting_key": keys.get(engine, ("", ""))[1],
                    "storage_policy": "default" if engine == "MergeTree" else "",
                }
                for name, engine in tables
            ],
            "columns": [
                {"database": "logs", "table": name, "name": c, "type": t}
                for name, engine in tables
                if engine != "MaterializedView"
                for c, t in columns
            ],
            "views": [
                {
                    "database": "logs",
                    "name": name,
                    "create_table_query": f"CREATE MATERIALIZED VIEW logs.{name}{view_target} (ts DateTime) AS SELECT",
                }
                for name, engine in tables
                if engine == "MaterializedView"
            ],
        }
    )


def planned(data: dict[str, Any], existing: Any) -> Plan:
    spec = load_spec(data)
    return plan(desired_state(spec), existing, spec.version)


def current_view(data: dict[str, Any]) -> str:
    (database,) = desired_state(load_spec(data))
    (view,) = database.views
    return view.name


def test_a_new_redacted_table_is_created_with_its_ingest_table_then_its_view() -> None:
    result = planned(redacted_spec(), state([]))
    assert [(s.kind, s.target) for s in result.steps] == [
        ("create_table", "logs.log_stream"),
        ("create_table", "logs.log_stream_ingest"),
        ("create_view", f"logs.{current_view(redacted_spec())}"),
    ]
    assert result.notes == [] and result.refusals == []


def test_what_exists_as_rendered_is_matched_and_nothing_runs() -> None:
    data = redacted_spec()
    existing = state(
        [("log_stream", "MergeTree"), ("log_stream_ingest", "Null"), (current_view(data), "MaterializedView")]
    )
    result = planned(data, existing)
    assert result.steps == [] and result.refusals == [] and result.left_alone == []


def test_adding_redaction_to_a_table_with_rows_creates_the_path_and_says_old_rows_keep_their_text() -> None:
    result = planned(redacted_spec(), state([("log_stream", "MergeTree")]))
    assert [s.kind for s in result.steps] == ["create_table", "create_view"]
    ((target, note),) = result.notes
    assert target == "logs.log_stream"
    assert "keep their text" in note and "hardhouse scan" in note and "logs.log_stream_ingest" in note


def test_a_rule_change_creates_the_new_view_before_it_drops_the_old_one() -> None:
    before = redacted_spec()
    after = redacted_spec(rules=[{"name": "acct", "regexp": "acct-[0-9]{8}"}])
    old, new = current_view(before), current_view(after)
    assert old != new
    result = planned(
        after, state([("log_stream", "MergeTree"), ("log_stream_ingest", "Null"), (old, "MaterializedView")])
    )
    assert [(s.kind, s.target) for s in result.steps] == [("create_view", f"logs.{new}"), ("drop_view", f"logs.{old}")]
    assert result.left_alone == []


def test_a_new_column_is_added_to_both_tables_before_the_view_that_selects_it() -> None:
    before, after = redacted_spec(), redacted_spec(extra_column=True)
    old, new = current_view(before), current_view(after)
    result = planned(
        after, state([("log_stream", "MergeTree"), ("log_stream_ingest", "Null"), (old, "MaterializedView")])
    )
    assert [(s.kind, s.target) for s in result.steps] == [
        ("add_column", "logs.log_stream.host"),
        ("add_column", "logs.log_stream_ingest.host"),
        ("create_view", f"logs.{new}"),
        ("drop_view", f"logs.{old}"),
    ]


def test_a_table_under_the_views_name_is_refused_and_nothing_runs() -> None:
    data = redacted_spec()
    result = planned(data, state([("log_stream", "MergeTree"), (current_view(data), "MergeTree")]))
    (refusal,) = result.refusals
    assert "has the name of log_stream's redaction view" in refusal.reason
    assert result.runnable == []


def test_a_view_hardhouse_did_not_name_is_left_alone_not_dropped() -> None:
    data = redacted_spec()
    names = [("log_stream", "MergeTree"), ("log_stream_ingest", "Null"), (current_view(data), "MaterializedView")]
    result = planned(data, state(names + [("log_stream_redact_mine", "MaterializedView")]))
    assert result.steps == []
    assert [table for table, _ in result.left_alone] == ["logs.log_stream_redact_mine"]


def test_an_ingest_table_that_stores_rows_is_refused() -> None:
    data = redacted_spec()
    result = planned(data, state([("log_stream", "MergeTree"), ("log_stream_ingest", "MergeTree")]))
    assert any(r.target == "logs.log_stream_ingest" and "engine" in r.reason for r in result.refusals)
    assert result.runnable == []


def test_writers_of_a_redacted_table_may_insert_into_its_ingest_table_only() -> None:
    from hardhouse.spec.rights import user_access

    data = copy.deepcopy(redacted_spec())
    data["log_databases"]["logs"]["tables"]["plain"] = {
        "columns": {"ts": "DateTime", "n": "UInt8"},
        "time_column": "ts",
    }
    spec = load_spec(data)
    grants, _ = user_access(spec, next(u for u in spec.users if u.name == "ingest"))
    assert grants == ["GRANT INSERT ON logs.log_stream_ingest", "GRANT INSERT ON logs.plain"]


def test_an_older_view_that_keeps_its_own_rows_is_refused_never_dropped() -> None:
    before = redacted_spec()
    after = redacted_spec(rules=[{"name": "acct", "regexp": "acct-[0-9]{8}"}])
    old = current_view(before)
    existing = state(
        [("log_stream", "MergeTree"), ("log_stream_ingest", "Null"), (old, "MaterializedView")], view_target=""
    )
    result = planned(after, existing)
    (refusal,) = result.refusals
    assert refusal.target == f"logs.{old}" and "keeps rows of its own" in refusal.reason
    assert result.runnable == []
