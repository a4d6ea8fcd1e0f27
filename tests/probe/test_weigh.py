"""--count-secrets, its own code: the bounds (tables, time, silent servers), the order tables are
counted in, answers read back from HTTP's JSON, the finding's words and data in every output,
and that without the flag nothing new is sent. The queries and judgement are the scan's
(tests/scan); what ClickHouse answers is proven live (test_weigh_live)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hardhouse.clickhouse.native import Unreachable
from hardhouse.probe import ProbeOptions, probe_endpoint_sync, render_json, render_sarif, render_text
from hardhouse.probe.model import (
    CountedTable,
    EndpointReport,
    LoginResult,
    RuleCount,
    ScanReport,
    SecretCount,
    Service,
    State,
)
from hardhouse.probe.rules import judge, weight
from hardhouse.probe.weigh import CountLimits, count, json_rows
from hardhouse.secret_shapes import BUILTIN_RULES
from tests.probe.fakes import scanning_clickhouse, tcp_service
from tests.scan.fake import FakeServer, FakeTable

TEXT = {"message": "String"}


def answer(examined: int, **by_rule: int) -> list[dict[str, int]]:
    """A count query's one row for a table of one text column: m<i> is BUILTIN_RULES[i]."""
    names = [rule.name for rule in BUILTIN_RULES]
    return [{"examined": examined, **{f"m{i}": by_rule.get(name, 0) for i, name in enumerate(names)}}]


def counted_tables(server: FakeServer) -> list[str]:
    return [sql.split(" FROM `", 1)[1].split(" ", 1)[0] for sql in server.count_queries()]


def test_json_rows_reads_64_bit_integers_by_their_type_and_leaves_text_alone() -> None:
    body = json.dumps(
        {
            "meta": [
                {"name": "examined", "type": "UInt64"},
                {"name": "name_hex", "type": "String"},
                {"name": "sampled", "type": "UInt8"},
                {"name": "rows", "type": "Nullable(UInt64)"},
            ],
            "data": [{"examined": "1000", "name_hex": "21", "sampled": 1, "rows": "99999999999999999999"}],
        }
    )
    assert json_rows(body) == [{"examined": 1000, "name_hex": "21", "sampled": 1, "rows": 99999999999999999999}]


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000, '{"meta": [], "data": "x"}', '{"meta": [], "data": [1, 2]}', "Code: 159", "{}"],
    ids=["deeply nested", "data not a list", "rows not objects", "not JSON", "no meta"],
)
def test_an_unreadable_answer_is_no_answer(body: str) -> None:
    with pytest.raises(Unreachable, match="unreadable answer"):
        json_rows(body)


def test_tables_whose_names_suggest_secrets_go_first_then_the_largest_up_to_the_bound() -> None:
    server = FakeServer(
        [
            FakeTable("app", "quiet", TEXT, rows=1000),
            FakeTable("app", "big", TEXT, rows=10**6),
            FakeTable("logs", "log_stream", TEXT, rows=10),
            FakeTable("logs", "api_tokens", TEXT, rows=50),
            FakeTable("logs", "events_ingest", TEXT, engine="Null"),
            FakeTable("app", "numbers", {"n": "UInt64"}),
        ]
    )
    found = count(server, "http as no credentials", CountLimits(max_tables=3))
    assert counted_tables(server) == ["logs`.`api_tokens`", "logs`.`log_stream`", "app`.`big`"]
    assert [t.qualified for t in found.tables] == ["logs.api_tokens", "logs.log_stream", "app.big"]
    assert (found.not_counted, found.skipped, found.error) == (1, 2, None)
    assert {t.status for t in found.tables} == {"clean"}


def test_no_table_is_started_that_could_end_past_the_endpoints_budget() -> None:
    now = [0.0]
    server = FakeServer([FakeTable("logs", f"t{i}", TEXT, rows=10) for i in range(6)])

    def slow(sql: str, settings: Any) -> list[dict[str, Any]]:
        if sql.startswith("SELECT count() AS examined"):
            now[0] += 6.0  # each count takes 6 s; a table may take 5 + 5 (the client's margin)
        return server(sql, settings)

    found = count(slow, "via", CountLimits(max_seconds=5, total_seconds=20), clock=lambda: now[0])
    assert len(server.count_queries()) == 2 and found.not_counted == 4  # started at 0 and 6; 12 + 10 > 20


def test_a_server_that_stops_answering_is_not_asked_more_than_three_times() -> None:
    tables = [FakeTable("logs", f"t{i}", TEXT, rows=10, answer=Unreachable("gone")) for i in range(6)]
    server = FakeServer(tables)
    found = count(server, "via", CountLimits())
    assert len(server.count_queries()) == 3 and found.not_counted == 3
    assert all(t.status == "incomplete" and "no answer" in (t.reason or "") for t in found.tables)


@pytest.mark.parametrize(
    "rows",
    [
        answer(10**30, api_key=10**30),
        answer(1000, api_key=1001),
        [{"examined": -1}],
        [{"examined": "1000"}],
        answer(5) * 2,
    ],
    ids=["a count beyond the row bound", "more matches than rows", "negative", "not an integer", "two rows"],
)
def test_counts_that_do_not_add_up_are_undecided_never_secrets(rows: list[dict[str, Any]]) -> None:
    server = FakeServer([FakeTable("logs", "log_stream", TEXT, rows=10, answer=rows)])
    (table,) = count(server, "via", CountLimits(max_rows=1000)).tables
    assert table.status == "incomplete" and not table.matches


def test_a_session_the_scan_cannot_make_read_only_counts_nothing() -> None:
    server = FakeServer([FakeTable("logs", "log_stream", TEXT)], readonly="0", readonly_after="0")
    found = count(server, "via", CountLimits())
    assert found.tables == [] and "not read-only" in (found.error or "") and not server.count_queries()


def test_the_finding_reads_as_the_weight_of_the_table() -> None:
    table = CountedTable("logs", "log_stream", "secrets", 1000, 1000, None, [RuleCount("message", "api_key", 1000)])
    assert weight(table) == "logs.log_stream: 1,000 rows with API keys (api_key 1,000 of 1,000 rows examined)"
    wide = CountedTable(
        "logs",
        "log_stream",
        "secrets",
        100_000,
        2_000_000,
        None,
        [RuleCount("message", "api_key", 7), RuleCount("headers", "api_key", 3), RuleCount("message", "jwt", 1)],
    )
    assert weight(wide) == (
        "logs.log_stream: at least 7 rows with API keys, 1 row with JSON Web Tokens "
        "(api_key 7 in message, 3 in headers; jwt 1 of 100,000 rows examined, the first of 2,000,000 rows stored)"
    )


def exposed(secret_count: SecretCount) -> ScanReport:
    endpoint = EndpointReport("127.0.0.1", 8123, state=State.OPEN, service=Service.CLICKHOUSE_HTTP, clickhouse=True)
    endpoint.logins = [LoginResult("http", False, None, None, True, "SELECT version() answered")]
    endpoint.secret_count = secret_count
    endpoint.findings, endpoint.notes = judge(endpoint)
    return ScanReport(["127.0.0.1:8123"], [endpoint], "2026-12-06T00:00:00+00:00", 1.0)


def test_every_output_carries_the_counts_per_table_and_rule() -> None:
    found = SecretCount("http as no credentials", "readonly=2 ...", 100_000, 5.0)
    found.tables = [
        CountedTable("logs", "log_stream", "secrets", 1000, 1000, None, [RuleCount("message", "api_key", 1000)]),
        CountedTable("logs", "quiet", "clean", 10, 10),
        CountedTable("logs", "slow", "incomplete", reason="timed out (over 5 s, code 159)"),
    ]
    report = exposed(found)
    (finding,) = [f for f in report.endpoints[0].findings if f.rule == "secret-rows-readable"]
    assert str(finding.control) == "HH-DATA-1" and finding.data["rules"] == {"api_key": 1000}
    text = render_text(report, verbose=True)
    assert "logs.log_stream: 1,000 rows with API keys (api_key 1,000 of 1,000 rows examined)" in text
    assert "3 tables weighed http as no credentials" in text and "logs.slow undecided: timed out" in text
    (result,) = [
        r for r in render_sarif(report)["runs"][0]["results"] if r["properties"]["check"] == "secret-rows-readable"
    ]
    assert result["properties"]["data"]["matches"] == [{"column": "message", "rule": "api_key", "rows": 1000}]
    document = json.loads(render_json(report))["endpoints"][0]
    assert document["secret_count"]["tables"][0]["matches"] == [{"column": "message", "rule": "api_key", "rows": 1000}]
    assert document["secret_count"]["tables"][2]["reason"] == "timed out (over 5 s, code 159)"


def test_a_count_that_could_not_run_is_a_note_not_a_finding() -> None:
    report = exposed(SecretCount("http as no credentials", error="count: did not finish within 25s"))
    assert "secret-rows-readable" not in {f.rule for f in report.endpoints[0].findings}
    assert "did not finish within 25s" in render_text(report, verbose=True)


def fake_exposed_server() -> FakeServer:
    return FakeServer(
        [
            FakeTable("logs", "log_stream", TEXT, rows=1000, answer=answer(1000, api_key=1000)),
            FakeTable("logs", "odd ü name", TEXT, rows=5),
        ]
    )


def test_without_the_flag_nothing_new_is_sent() -> None:
    sent: list[str] = []
    with tcp_service(scanning_clickhouse(fake_exposed_server(), sent)) as port:
        report = probe_endpoint_sync("127.0.0.1", port, ProbeOptions(tls_scan=False, credentials=()))
    assert report.inventory is not None and "anonymous-access" in {f.rule for f in report.findings}
    assert report.secret_count is None and "secret-count" not in {note.id for note in report.notes}
    assert sent and not [q for q in sent if "countIf" in q or "system.settings" in q or q.endswith("FORMAT JSON")]
    assert "rows with" not in render_text(ScanReport([], [report], "", 0.0), verbose=True)


def test_with_the_flag_the_scans_queries_are_sent_over_the_login_that_read() -> None:
    sent: list[str] = []
    with tcp_service(scanning_clickhouse(fake_exposed_server(), sent)) as port:
        options = ProbeOptions(tls_scan=False, credentials=(), enumerate=False, count_secrets=CountLimits())
        report = probe_endpoint_sync("127.0.0.1", port, options)
    assert report.secret_count is not None and report.secret_count.via == "http as no credentials"
    assert [t.qualified for t in report.secret_count.tables] == ["logs.log_stream", "logs.odd ü name"]
    assert [t.status for t in report.secret_count.tables] == ["secrets", "clean"]
    (finding,) = [f for f in report.findings if f.rule == "secret-rows-readable"]
    assert finding.message.startswith("logs.log_stream: 1,000 rows with API keys (api_key 1,000 of 1,000")
    counts = [q for q in sent if q.startswith("SELECT count() AS examined")]
    assert len(counts) == 2 and "FROM `logs`.`odd ü name` LIMIT 100000)" in counts[1]


def test_help_says_what_the_count_sends_in_the_scans_own_words() -> None:
    from click.testing import CliRunner

    from hardhouse.cli.probe import probe_command
    from hardhouse.scan.sent import QUERIES_SENT

    shown = " ".join(CliRunner().invoke(probe_command, ["--help"]).output.split())
    assert "only with --count-secrets, where a login succeeded" in shown
    for line in QUERIES_SENT.splitlines():
        assert " ".join(line.split()) in shown, line
