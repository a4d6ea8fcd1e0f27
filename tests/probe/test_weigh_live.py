"""`hardhouse probe --count-secrets` against Debian's real ClickHouse 18.16 left open the way it
ships (default user, no password, plaintext HTTP and native), with a `log_stream` table of
fake secrets (tests/secrets/samples.py): over both ports the counts per rule are exactly what
RE2 gives for the rows stored, no secret reaches any output, the session is the scan's
read-only one, and without the flag the server receives none of those queries (its own
query_log says so)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from hardhouse.cli.probe import probe_command
from hardhouse.secret_shapes import BUILTIN_RULES, matching_rules
from hardhouse.testing.clients import native_client, native_query
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import require
from tests.scan.fixtures import expected_counts, random_parts, secret_lines
from tests.secrets.samples import BENIGN

pytestmark = [pytest.mark.integration, pytest.mark.live]

HOST = "127.0.0.1"
COPIES = 40  # log_stream holds each secret line this many times: counts in the hundreds
WIDE = 20  # String columns of logs.wide: its count query is longer than 18.16 takes in a URL
HOSTILE = "we`ird\\name"
LOG_QUERIES = "<clickhouse><profiles><default><log_queries>1</log_queries></default></profiles></clickhouse>\n"


@dataclass
class Open:
    http: int
    native: int
    lines: list[str]  # the secret lines, each stored COPIES times in logs.log_stream

    def query(self, sql: str) -> list[tuple]:  # type: ignore[type-arg]
        return native_query(HOST, self.native, sql)

    def sent(self, needle: str) -> int:
        """Queries the server logged holding `needle` (this very query excluded), each once: at
        its start, or at its refusal before it started. (A query still running when counted
        has logged its start and not yet its end: counting every row, a previous test's query
        that ended between two counts moved the count by one.)"""
        self.query("SYSTEM FLUSH LOGS")
        literal = needle.replace("\\", "\\\\").replace("'", "\\'")
        # type: 1 QueryStart, 3 ExceptionBeforeStart (2 and 4 are the ends of started queries).
        where = f"type IN (1, 3) AND position(query, '{literal}') > 0 AND query NOT LIKE '%query_log%'"
        sql = f"SELECT count() FROM system.query_log WHERE {where}"
        return int(self.query(sql)[0][0])


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Open]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    ports = {"http": free_port(), "native": free_port(), "interserver": free_port()}
    server = LocalClickHouse(tmp_path_factory.mktemp("probe-weigh"))
    server.use_stock_ports(**ports)
    (server.etc / "users.d" / "log-queries.xml").write_text(LOG_QUERIES)  # the server's own record of what it got
    server.start([(HOST, ports["http"]), (HOST, ports["native"])])
    with server:
        running = Open(ports["http"], ports["native"], secret_lines())
        client = native_client(HOST, ports["native"])
        try:
            client.execute("CREATE DATABASE logs")
            client.execute("CREATE TABLE logs.log_stream (ts DateTime, message String) ENGINE = MergeTree ORDER BY ts")
            stored = [*running.lines, *BENIGN] * COPIES
            client.execute("INSERT INTO logs.log_stream (ts, message) VALUES", [(0, line) for line in stored])
            columns = ", ".join(f"c{i:02} String" for i in range(WIDE))
            client.execute(f"CREATE TABLE logs.wide ({columns}) ENGINE = Log")
            row = ["plain"] * WIDE
            row[7] = running.lines[0]
            client.execute("INSERT INTO logs.wide VALUES", [row, ["plain"] * WIDE])
            client.execute("CREATE TABLE logs.`we\\`ird\\\\name` (`m``sg` String) ENGINE = Log")
            client.execute("INSERT INTO logs.`we\\`ird\\\\name` VALUES", [(running.lines[1],), ("plain",)])
            client.execute("CREATE TABLE default.page_views (ts DateTime, path String) ENGINE = Memory")
            client.execute("INSERT INTO default.page_views VALUES", [(0, line) for line in BENIGN])
        finally:
            client.disconnect()
        yield running


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(probe_command, ["--no-progress", "--no-tls-scan", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def counts_of(table: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(m["column"], m["rule"]): m["rows"] for m in table["matches"]}


@pytest.mark.parametrize("port", ["http", "native"])
def test_the_probe_weighs_an_open_log_table_exactly(exposed: Open, port: str) -> None:
    address = f"{HOST}:{getattr(exposed, port)}"
    code, output = run(address, "--count-secrets", "--json")
    assert code == 1
    (endpoint,) = json.loads(output)["endpoints"]
    found = endpoint["secret_count"]
    assert found["error"] is None and found["not_counted"] == 0
    if port == "http":  # a GET is read-only on the server (readonly=2): the scan sends its limits only
        assert found["via"] == "http as no credentials" and found["read_only"].startswith("readonly=2")
    else:  # the stock default profile may write: the scan's readonly=1 goes with every query
        assert found["via"] == "native as user default with an empty password"
        assert found["read_only"].startswith("readonly=1 and max_execution_time=5 sent with every query")
    tables = {t["database"] + "." + t["table"]: t for t in found["tables"]}
    assert set(tables) == {"logs.log_stream", "logs.wide", f"logs.{HOSTILE}", "default.page_views"}
    log_stream = tables["logs.log_stream"]
    expected = {rule: rows * COPIES for rule, rows in expected_counts(exposed.lines).items()}
    assert counts_of(log_stream) == {("message", rule): rows for rule, rows in expected.items()}
    assert log_stream["rows_examined"] == (len(exposed.lines) + len(BENIGN)) * COPIES
    first = sorted(matching_rules(exposed.lines[0], BUILTIN_RULES))
    assert counts_of(tables["logs.wide"]) == {("c07", rule): 1 for rule in first}
    second = sorted(matching_rules(exposed.lines[1], BUILTIN_RULES))
    assert counts_of(tables[f"logs.{HOSTILE}"]) == {("m`sg", rule): 1 for rule in second}
    assert tables["default.page_views"]["status"] == "clean"
    findings = {f["data"]["table"]: f for f in endpoint["findings"] if f["rule"] == "secret-rows-readable"}
    assert set(findings) == {"logs.log_stream", "logs.wide", f"logs.{HOSTILE}"}
    assert findings["logs.log_stream"]["data"]["rules"] == expected
    top = max(expected.values())
    assert findings["logs.log_stream"]["message"].startswith(f"logs.log_stream: {top:,} rows with ")


def test_the_wide_tables_query_is_longer_than_a_url_18_16_accepts() -> None:
    """logs.wide's count goes over HTTP in the body: in a URL, 18.16 answers 400 above 16 KiB."""
    from hardhouse.scan.columns import column_check
    from hardhouse.scan.sql import count_query

    columns = [(f"c{i:02}", column_check(f"`c{i:02}`", "String")) for i in range(WIDE)]
    query, _ = count_query("logs", "wide", columns, BUILTIN_RULES, 100_000, None)
    assert len(urllib.parse.urlencode({"query": query})) > 16 * 1024


def test_no_secret_reaches_any_output(exposed: Open) -> None:
    targets = (f"{HOST}:{exposed.http}", f"{HOST}:{exposed.native}")
    outputs = [run(*targets, "--count-secrets", *form)[1] for form in ([], ["--verbose"], ["--json"], ["--sarif"])]
    assert "rows with API keys" in outputs[1]
    sarif = json.loads(outputs[3])["runs"][0]["results"]
    weighed = [r for r in sarif if r["properties"]["check"] == "secret-rows-readable"]
    assert len(weighed) == 6 and all(r["ruleId"] == "HH-DATA-1" for r in weighed)
    assert all(r["properties"]["data"]["matches"] for r in weighed)
    leaked = {part for part in random_parts(exposed.lines) for output in outputs if part in output}
    assert not leaked, f"{len(leaked)} secret parts in the output"


def test_without_the_flag_nothing_is_counted_and_the_server_gets_no_count_query(exposed: Open) -> None:
    before = exposed.sent("countIf(match(")
    sessions = exposed.sent("substring(value, 1, 64)")
    code, output = run(f"{HOST}:{exposed.http}", f"{HOST}:{exposed.native}", "--json")
    assert code == 1
    for endpoint in json.loads(output)["endpoints"]:
        assert endpoint["secret_count"] is None and endpoint["inventory"]["tables"]
        assert not {f["rule"] for f in endpoint["findings"]} & {"secret-rows-readable"}
        assert "secret-count" not in {note["id"] for note in endpoint["notes"]}
    assert "rows with" not in run(f"{HOST}:{exposed.http}", "--verbose")[1]
    assert (exposed.sent("countIf(match("), exposed.sent("substring(value, 1, 64)")) == (before, sessions)
    run(f"{HOST}:{exposed.http}", "--count-secrets")  # and the same check sees them when the flag is given
    assert exposed.sent("countIf(match(") > before


def test_the_data_is_untouched(exposed: Open) -> None:
    run(f"{HOST}:{exposed.http}", f"{HOST}:{exposed.native}", "--count-secrets")
    expected = (len(exposed.lines) + len(BENIGN)) * COPIES
    assert exposed.query("SELECT count() FROM logs.log_stream") == [(expected,)]
    assert exposed.query("SELECT count() FROM system.tables WHERE database = 'logs'") == [(3,)]
