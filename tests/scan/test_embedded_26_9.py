"""The scan's SQL in modern ClickHouse's own engine (chdb-core 26.9, hardhouse.embedded): the
same catalog and count queries, sent one by one as the rendered reader (profile readonly=1,
SELECT granted on the log database), give the exact counts per rule that RE2 gives here and
that 18.16 gives (test_live_18_16), through Nullable, LowCardinality, Array and Map columns
and a hostile table name; the settings the scan sends make an owner's session read-only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hardhouse.clickhouse.literals import sql_string
from hardhouse.clickhouse.native import ServerError
from hardhouse.embedded import run_as
from hardhouse.render import render
from hardhouse.scan.report import Status
from hardhouse.scan.run import ScanOptions, read_only_settings, scan
from hardhouse.secret_shapes import BUILTIN_RULES
from hardhouse.spec import load_spec
from tests.provision.capture import MODERN_ENVIRON
from tests.provision.scenarios import modern_spec
from tests.scan.fixtures import expected_counts, secret_lines
from tests.secrets.samples import BENIGN

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

READONLY = 164
HOSTILE = "we`ird\\name"


class Embedded:
    """A Query (hardhouse.scan.run) over the embedded engine: each query one run as `user` on
    the same data directory, its settings written as a SETTINGS clause (the engine's session
    takes no per-query settings of its own)."""

    def __init__(self, user: str, data: Path, setup: list[str]):
        self.files = render(load_spec(modern_spec()), MODERN_ENVIRON)
        self.user, self.data, self.setup = user, data, setup
        self.sent: list[str] = []

    def __call__(self, sql: str, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        clause = ", ".join(
            f"{name} = {value if isinstance(value, int) else sql_string(str(value))}"
            for name, value in settings.items()
        )
        text = f"{sql} SETTINGS {clause}" if clause else sql
        self.sent.append(text)
        report = run_as(self.files, self.user, [text], setup=self.setup, apply_sql=bool(self.setup), data_dir=self.data)
        self.setup = []
        assert report.logged_in and not report.errors, (report.login, report.errors)
        (outcome,) = report.outcomes
        if not outcome.ok:
            raise ServerError(outcome.code or 0, outcome.message)
        return outcome.rows


def _rows(table: str, columns: str, rows: list[str]) -> str:
    return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join(rows)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    data = tmp_path_factory.mktemp("scan-26-9")
    lines = secret_lines()
    first = sql_string(lines[0])
    setup = [
        _rows("logs.log_stream", "ts, message", [f"(now(), {sql_string(line)})" for line in [*lines, *BENIGN]]),
        "CREATE TABLE logs.mixed (note Nullable(String), host LowCardinality(Nullable(String)), tags Array(String), "
        "attributes Map(LowCardinality(String), String), n UInt64) ENGINE = MergeTree ORDER BY n",
        _rows(
            "logs.mixed",
            "note, host, tags, attributes, n",
            [
                f"(NULL, NULL, ['plain', {first}], map('k', {first}), 1)",
                f"({first}, {first}, [], map(), 2)",
                "(NULL, 'web-1', [], map('k', 'v'), 3)",
            ],
        ),  # fmt: skip
        "CREATE TABLE logs.`we\\`ird\\\\name` (`m``sg` String) ENGINE = Log",
        _rows("logs.`we\\`ird\\\\name`", "`m``sg`", [f"({first})", "('plain')"]),
        "CREATE TABLE logs.sampled (id UInt64, message String) ENGINE = MergeTree ORDER BY intHash64(id) "
        "SAMPLE BY intHash64(id)",
        "INSERT INTO logs.sampled SELECT number, 'plain line' FROM numbers(20000)",
    ]
    Embedded("admin", data, setup)("SELECT 1", {})
    return data, lines


def test_the_same_counts_as_18_16_through_every_text_type(stored: tuple[Path, list[str]]) -> None:
    data, lines = stored
    query = Embedded("analyst", data, [])
    report = scan(query, "embedded", "analyst", ScanOptions(databases=("logs",), max_rows=1000))
    assert "readonly=1 from the user's profile" in report.session
    tables = {t.table: t for t in report.tables}
    assert set(tables) == {"log_stream", "mixed", HOSTILE, "sampled"}
    stream = tables["log_stream"]
    expected = expected_counts([*lines, *BENIGN])
    assert set(expected) == {rule.name for rule in BUILTIN_RULES}
    assert stream.examined == len(lines) + len(BENIGN)
    assert {m.rule: m.rows for m in stream.matches} == expected
    one = expected_counts([lines[0]])
    mixed = tables["mixed"]
    assert mixed.examined == 3 and mixed.columns == ["note", "host", "tags", "attributes"]
    assert {(m.column, m.rule): m.rows for m in mixed.matches} == {
        (column, rule): 1 for column in ("note", "host", "tags", "attributes") for rule in one
    }
    assert {(m.column, m.rows) for m in tables[HOSTILE].matches} == {("m`sg", 1)}
    sampled = tables["sampled"]
    assert sampled.sample == "0.050000" and 0 < (sampled.examined or 0) <= 1000
    assert sampled.status == Status.CLEAN
    assert len([q for q in query.sent if q.startswith("SELECT count() AS examined")]) == 4


def test_the_scans_settings_make_an_owners_session_read_only(stored: tuple[Path, list[str]]) -> None:
    data, _ = stored
    owner = Embedded("admin", data, [])
    settings, how, _ = read_only_settings(owner, 5)
    assert settings["readonly"] == 1 and "profile allows writes" in how
    with pytest.raises(ServerError) as refused:
        owner("INSERT INTO logs.log_stream (ts, message) SELECT now(), 'x'", settings)
    assert refused.value.code == READONLY
    reader = Embedded("analyst", data, [])
    with pytest.raises(ServerError) as refused:  # 26.9 refuses any setting from a readonly=1 profile
        reader("SELECT 1", {"max_execution_time": 5})
    assert refused.value.code == READONLY
