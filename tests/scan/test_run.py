"""The scan's run and verdicts against a stand-in server (tests/scan/fake.py): what it sends to
whom, how it judges each answer, and the exit codes and outputs of `hardhouse scan`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hardhouse.cli.main import main
from hardhouse.clickhouse.native import ServerError, Unreachable
from hardhouse.scan import run
from hardhouse.scan.report import Status
from hardhouse.scan.run import ScanError, ScanOptions, read_only_settings, scan
from hardhouse.secret_shapes import BUILTIN_RULES, SecretRule
from tests.provision.scenarios import modern_spec
from tests.scan.fake import FakeServer, FakeTable

OPTIONS = ScanOptions(max_rows=100, max_seconds=7)
N = len(BUILTIN_RULES)


def test_readonly_is_set_where_the_profile_allows_writes_and_never_sent_where_it_cannot_be() -> None:
    writer = FakeServer([], readonly="0")
    settings, how, _ = read_only_settings(writer, 7)
    assert settings == {
        "max_execution_time": 7,
        "timeout_overflow_mode": "throw",
        "read_overflow_mode": "throw",
        "readonly": 1,
    }
    assert "readonly=1 and max_execution_time=7 sent" in how
    assert writer.sent[1][1] == settings  # read again with the settings: must not be 0
    settings, _, _ = read_only_settings(FakeServer([], readonly="2"), 6.2)
    assert "readonly" not in settings and settings["max_execution_time"] == 7
    reader = FakeServer([], readonly="1")
    assert read_only_settings(reader, 7)[0] == {} and len(reader.sent) == 1 and reader.sent[0][1] == {}


def test_a_session_that_stays_writable_or_is_unknown_is_not_scanned() -> None:
    with pytest.raises(ScanError, match="not read-only even with readonly=1"):
        read_only_settings(FakeServer([], readonly="0", readonly_after="0"), 7)
    with pytest.raises(ScanError, match="readonly setting reads '7'"):
        read_only_settings(FakeServer([], readonly="7"), 7)


def test_a_login_refusal_or_silence_is_a_scan_error_without_the_servers_text() -> None:
    def refuse(sql: str, settings: object) -> list[dict[str, object]]:
        raise ServerError(516, "Authentication failed: password is incorrect, or there is no user with such name")

    with pytest.raises(ScanError) as error:
        scan(refuse, "h:9440", "u", OPTIONS)
    assert "code 516" in str(error.value) and "incorrect" not in str(error.value)

    def silent(sql: str, settings: object) -> list[dict[str, object]]:
        raise Unreachable("h:9440: timed out")

    with pytest.raises(ScanError, match="no session: h:9440: timed out"):
        scan(silent, "h:9440", "u", OPTIONS)


def test_one_count_query_per_table_and_none_where_there_is_nothing_stored() -> None:
    server = FakeServer(
        [
            FakeTable(
                "logs", "a", {"ts": "DateTime", "msg": "String", "tags": "Array(String)", "lower": "ALIAS String"}
            ),
            FakeTable("logs", "b", {"msg": "Nullable(String)"}, engine="ReplicatedMergeTree"),
            FakeTable("logs", "numbers", {"n": "UInt64"}),
            FakeTable("logs", "a_ingest", {"msg": "String"}, engine="Null"),
            FakeTable("logs", "a_redact_0123456789ab", {"msg": "String"}, engine="MaterializedView"),
            FakeTable("logs", "queue", {"msg": "String"}, engine="Kafka"),
            FakeTable("logs", "odd", {"msg": "String"}, engine="EmbeddedRocksDB"),
        ],
        readonly="2",
    )
    report = scan(server, "h:9440", "u", OPTIONS)
    queries = server.count_queries()
    assert len(queries) == 2
    assert report.tables[0].columns == ["msg", "tags"] and "lower" not in queries[0]  # an ALIAS is not stored
    assert all(q.endswith("LIMIT 100)") for q in queries)
    assert all(settings["max_execution_time"] == 7 for q, settings in server.sent if q in queries)
    status = {t.table: t.status for t in report.tables}
    assert status == {
        "a": Status.CLEAN,
        "b": Status.CLEAN,
        "numbers": Status.CLEAN,
        "a_ingest": Status.SKIPPED,
        "a_redact_0123456789ab": Status.SKIPPED,
        "queue": Status.SKIPPED,
        "odd": Status.INCOMPLETE,
    }
    assert report.failed  # the engine it does not read is undecided, not clean
    assert {t.table: t.reason for t in report.tables}["numbers"] == "no text column"


def test_counts_become_matches_and_a_wrong_answer_is_undecided() -> None:
    found = {"examined": 10, **{f"m{i}": 0 for i in range(2 * N)}, "m0": 3, f"m{N + 1}": 1}
    server = FakeServer(
        [
            FakeTable("logs", "found", {"msg": "String", "note": "String"}, answer=[found]),
            FakeTable(
                "logs", "too_many", {"msg": "String"}, answer=[{"examined": 101, **{f"m{i}": 0 for i in range(N)}}]
            ),
            FakeTable("logs", "above", {"msg": "String"}, answer=[{"examined": 2, **{f"m{i}": 3 for i in range(N)}}]),
            FakeTable("logs", "text", {"msg": "String"}, answer=[{"examined": "sk-not-a-count", "m0": 0}]),
            FakeTable("logs", "two", {"msg": "String"}, answer=[{"examined": 1}, {"examined": 1}]),
        ]
    )
    tables = {t.table: t for t in scan(server, "h:9440", "u", OPTIONS).tables}
    assert [(m.column, m.rule, m.rows) for m in tables["found"].matches] == [
        ("msg", BUILTIN_RULES[0].name, 3),
        ("note", BUILTIN_RULES[1].name, 1),
    ]
    assert tables["found"].status == Status.SECRETS and tables["found"].examined == 10
    for name in ("too_many", "above", "text", "two"):
        assert tables[name].status == Status.INCOMPLETE, name
        assert "sk-not-a-count" not in tables[name].reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ServerError(159, "Timeout exceeded: elapsed 7.1 seconds"), "timed out (over 7 s, code 159)"),
        (ServerError(497, "Not enough privileges"), "refused: no SELECT grant (code 497)"),
        (ServerError(6, "Cannot parse string 'sk-live-abc' as UInt64"), "ClickHouse error code 6"),
        (Unreachable("h:9440: timed out"), "no answer within 12 s (or the connection failed)"),
    ],
)
def test_a_failed_count_is_undecided_with_a_reason_from_its_code_only(error: Exception, reason: str) -> None:
    server = FakeServer([FakeTable("logs", "t", {"msg": "String"}, answer=error)])
    (table,) = scan(server, "h:9440", "u", OPTIONS).tables
    assert table.status == Status.INCOMPLETE and table.reason == reason


def test_after_three_silent_tables_the_rest_is_not_asked() -> None:
    tables = [FakeTable("logs", f"t{i}", {"msg": "String"}, answer=Unreachable("gone")) for i in range(6)]
    server = FakeServer(tables)
    report = scan(server, "h:9440", "u", OPTIONS)
    assert len(server.count_queries()) == run.GIVE_UP_AFTER
    assert [t.reason for t in report.tables[3:]] == ["not asked: the server stopped answering"] * 3


def test_hostile_names_are_refused_by_name_and_never_sent() -> None:
    server = FakeServer(
        [
            FakeTable("logs", "evil\x1b[2J", {"msg": "String"}),
            FakeTable("logs", "fine", {"ok": "String", "bad\ncolumn": "String", "pair": "Tuple(String, UInt8)"}),
        ]
    )
    tables = {t.table: t for t in scan(server, "h:9440", "u", OPTIONS).tables}
    evil = tables["evil\x1b[2J"]
    assert evil.status == Status.INCOMPLETE and evil.reason == "table name refused: holds a control character (\\x1b)"
    fine = tables["fine"]
    assert fine.columns == ["ok"] and fine.status == Status.INCOMPLETE
    assert [column for column, _ in fine.unscanned] == ["bad\\ncolumn", "pair"]
    (query,) = server.count_queries()
    assert "evil" not in query and "bad" not in query and "`ok`" in query


def test_a_redacted_tables_own_rules_are_counted_too() -> None:
    own = SecretRule("ticket_secret", r"TCK-[0-9]{8}", "[REDACTED]", "the spec's own rule")
    server = FakeServer([FakeTable("logs", "events", {"msg": "String"}), FakeTable("logs", "other", {"msg": "String"})])
    report = scan(server, "h:9440", "u", ScanOptions(rules={("logs", "events"): (*BUILTIN_RULES, own)}))
    events, other = server.count_queries()
    assert "'(?:TCK-[0-9]{8})|" in events and "TCK" not in other
    assert report.tables[0].rules[-1] == "ticket_secret" and len(report.tables[1].rules) == N


def test_a_table_sampled_when_bigger_than_the_bound() -> None:
    server = FakeServer(
        [
            FakeTable("logs", "big", {"msg": "String"}, sampled=True, rows=1000),
            FakeTable("logs", "small", {"msg": "String"}, sampled=True, rows=50),
            FakeTable("logs", "unsampled", {"msg": "String"}, rows=1000),
        ]
    )
    report = scan(server, "h:9440", "u", OPTIONS)
    big, small, unsampled = server.count_queries()
    assert "SAMPLE 0.100000 LIMIT 100)" in big and "SAMPLE" not in small and "SAMPLE" not in unsampled
    assert [t.sample for t in report.tables] == ["0.100000", None, None]


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[FakeServer, list[str]]:
    """`hardhouse scan` talking to a FakeServer instead of opening a session."""
    server = FakeServer([])

    class Opened:
        def __enter__(self) -> Opened:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(run, "open_session", lambda *args, **kwargs: Opened())
    monkeypatch.setattr(run, "session_query", lambda session: server)
    ca = tmp_path / "ca.crt"
    ca.write_text("not read by the stand-in")
    monkeypatch.setenv("HH_SCAN_TEST_PW", "x" * 20)
    return server, ["scan", "--host", "db1", "--user", "reader", "--password-env", "HH_SCAN_TEST_PW", "--ca", str(ca)]


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_exit_0_clean_1_found_or_undecided(served: tuple[FakeServer, list[str]]) -> None:
    server, args = served
    server.tables = [FakeTable("logs", "t", {"msg": "String"})]
    code, out, _ = invoke(args)
    assert code == 0 and out.rstrip().endswith("OK") and "logs.t" in out
    server.tables = [
        FakeTable("logs", "t", {"msg": "String"}, answer=[{"examined": 5, **{f"m{i}": int(i == 2) for i in range(N)}}])
    ]
    code, out, _ = invoke([*args, "--json"])
    document = json.loads(out)
    assert code == 1 and document["ok"] is False
    assert document["tables"][0]["matches"] == [{"column": "msg", "rule": BUILTIN_RULES[2].name, "rows": 1}]
    server.tables = [FakeTable("logs", "t", {"msg": "String"}, answer=ServerError(159, "Timeout"))]
    code, out, _ = invoke([*args, "--sarif"])
    (result,) = json.loads(out)["runs"][0]["results"]
    assert code == 1 and result["ruleId"] == "HH-DATA-4" and "timed out" in result["message"]["text"]


def test_a_waiver_names_the_table_and_expires(served: tuple[FakeServer, list[str]], tmp_path: Path) -> None:
    server, args = served
    server.tables = [
        FakeTable("logs", "t", {"msg": "String"}, answer=[{"examined": 5, **{f"m{i}": 1 for i in range(N)}}])
    ]
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - control: HH-DATA-4\n    reason: purged by TICKET-9\n"
        "    expires: 2999-01-01\n    targets: [logs.t]\n"
    )
    code, out, _ = invoke([*args, "--waivers", str(waivers)])
    assert code == 0 and "SECRETS (waived)" in out and "purged by TICKET-9" in out
    waivers.write_text(waivers.read_text().replace("2999-01-01", "2000-01-01"))
    assert invoke([*args, "--waivers", str(waivers)])[0] == 1
    waivers.write_text(waivers.read_text().replace("logs.t]", "logs.other]").replace("2000-01-01", "2999-01-01"))
    assert invoke([*args, "--waivers", str(waivers)])[0] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--json", "--sarif"], "choose one of --json and --sarif"),
        (["--database", "lo\ngs"], "--database 'lo\\ngs': give a name of 1-255 printable characters"),
        (["--password-file", "/nonexistent/pw"], "--password-env and --password-file"),
        (["--max-rows", "0"], "--max-rows"),
    ],
)
def test_bad_input_is_one_line_naming_the_option_and_exit_2(
    served: tuple[FakeServer, list[str]], extra: list[str], message: str
) -> None:
    _, args = served
    code, out, err = invoke([*args, *extra])
    assert code == 2 and message in err + out


def test_a_missing_password_source_or_a_bad_spec_is_exit_2(
    served: tuple[FakeServer, list[str]], tmp_path: Path
) -> None:
    _, args = served
    unset = [a if a != "HH_SCAN_TEST_PW" else "HH_SCAN_UNSET_PW" for a in args]
    os.environ.pop("HH_SCAN_UNSET_PW", None)
    code, _, err = invoke(unset)
    assert code == 2 and err == "hardhouse scan: --password-env HH_SCAN_UNSET_PW: the variable is not set\n"
    loose = tmp_path / "pw"
    loose.write_text("x" * 20)
    loose.chmod(0o644)
    code, _, err = invoke([*args[:-4], "--password-file", str(loose), *args[-2:]])
    assert code == 2 and "--password-file: the file's mode is 0644" in err and err.count("\n") == 1
    spec = tmp_path / "spec.yaml"
    spec.write_text("clickhouse_version: '24.8'\nlisten_hosts: [nope\n")
    code, _, err = invoke([*args, "--spec", str(spec)])
    assert code == 2 and err.startswith(f"hardhouse scan: --spec {spec}:") and err.count("\n") == 1


def test_a_database_or_table_asked_for_and_not_seen_is_undecided() -> None:
    server = FakeServer([FakeTable("logs", "t", {"msg": "String"})])
    report = scan(server, "h:9440", "u", ScanOptions(databases=("logs", "audit"), tables=("t", "gone")))
    assert [(t.name, t.status) for t in report.tables] == [
        ("audit.*", Status.INCOMPLETE),
        ("*.gone", Status.INCOMPLETE),
        ("logs.t", Status.CLEAN),
    ]
    assert report.failed
    assert not scan(FakeServer([FakeTable("logs", "t", {"msg": "String"})]), "h", "u", ScanOptions(("logs",))).failed


def test_the_spec_gives_databases_the_reader_its_password_and_a_redacted_tables_rules(
    served: tuple[FakeServer, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, args = served
    server.tables = [FakeTable("logs", "log_stream", {"ts": "DateTime", "message": "String"})]
    spec = modern_spec()
    spec["log_databases"]["logs"]["tables"]["log_stream"]["redact"] = {
        "rules": [{"name": "ticket", "regexp": "TCK-[0-9]{8}"}]
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("CH_ANALYST_PASSWORD", "p" * 20)
    code, out, err = invoke(["scan", "--host", "db1", "--ca", args[-1], "--spec", str(path)])
    assert code == 0, err
    assert "as analyst" in out and "db1:9440" in out
    (query,) = server.count_queries()
    assert "'(?:TCK-[0-9]{8})|" in query and query.count("countIf(") == N + 1
    assert "database IN ('logs')" in next(sql for sql, _ in server.sent if "system.tables" in sql)
