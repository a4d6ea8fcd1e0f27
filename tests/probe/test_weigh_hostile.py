"""--count-secrets against endpoints that fight back: counts beyond belief, a catalog too large,
count answers that never end or never come, table names meant to break the query or the
report. Each run is `hardhouse probe --count-secrets` in a child whose address space is capped
(tests.probe.test_hostile.probe): it ends within its bounds, its memory stays flat, it reports."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from hardhouse.probe.worker import JobFailed, run_job
from tests.probe.fakes import drip, endless_chunked, scanning_clickhouse, tcp_service
from tests.probe.test_hostile import RSS_LIMIT_KB, endpoint_of, probe
from tests.probe.test_weigh import answer
from tests.scan.fake import FakeServer, FakeTable

pytestmark = pytest.mark.slow

TEXT = {"message": "String"}
COUNT = ["--timeout", "1", "--deadline", "30", "--no-tls-scan", "--no-default-credentials", "--count-secrets"]


def weighed(server: FakeServer, *args: str, on_count: Callable[[socket.socket], None] | None = None) -> dict[str, Any]:
    with tcp_service(scanning_clickhouse(server, on_count=on_count)) as port:
        run = probe(f"127.0.0.1:{port}", *COUNT, *args, "--json")
    endpoint = endpoint_of(run)
    assert run.peak_rss_kb < RSS_LIMIT_KB, f"peak RSS {run.peak_rss_kb} KiB"
    assert "Traceback" not in run.stderr and "anonymous-access" in {f["rule"] for f in endpoint["findings"]}
    endpoint["seconds"] = run.seconds
    return endpoint


def test_counts_beyond_belief_are_undecided_not_secrets() -> None:
    server = FakeServer(
        [
            FakeTable("logs", "log_stream", TEXT, rows=10, answer=answer(10**40, api_key=10**40)),
            FakeTable("logs", "more", TEXT, rows=10, answer=answer(1000, api_key=10**6)),
        ]
    )
    endpoint = weighed(server)
    tables = endpoint["secret_count"]["tables"]
    assert [t["status"] for t in tables] == ["incomplete", "incomplete"]
    assert all("does not add up" in t["reason"] for t in tables)
    assert "secret-rows-readable" not in {f["rule"] for f in endpoint["findings"]}


def test_a_catalog_too_large_is_a_note_and_nothing_is_counted() -> None:
    server = FakeServer([FakeTable("logs", f"t{i:05}", TEXT, rows=1) for i in range(6000)])
    endpoint = weighed(server)
    assert endpoint["secret_count"]["tables"] == [] and endpoint["secret_count"]["error"]
    assert not server.count_queries()
    assert "secret-count" in {note["id"] for note in endpoint["notes"]}


@pytest.mark.parametrize(
    "on_count",
    [endless_chunked, drip(b"HTTP/1.1 200 OK\r\nX-ClickHouse-Query-Id: x\r\n" + b"X-Pad: " + b"y" * 100, every=0.3)],
    ids=["an endless answer", "an answer dripping a byte at a time"],
)
def test_count_answers_that_never_end_are_cut_off_and_the_count_gives_up(on_count: Callable) -> None:
    server = FakeServer([FakeTable("logs", f"t{i}", TEXT, rows=10) for i in range(6)])
    endpoint = weighed(server, "--count-max-seconds", "1", "--count-seconds", "60", on_count=on_count)
    found = endpoint["secret_count"]
    assert len(found["tables"]) == 3 and found["not_counted"] == 3  # three silent tables in a row end it
    assert all(t["status"] == "incomplete" for t in found["tables"])
    assert endpoint["seconds"] < 3 * (1 + 5) + 10


def test_the_endpoints_count_ends_within_its_budget_however_slow_the_server() -> None:
    def silent(conn: socket.socket) -> None:
        time.sleep(30)

    server = FakeServer([FakeTable("logs", f"t{i}", TEXT, rows=10) for i in range(20)])
    endpoint = weighed(server, "--count-max-seconds", "1", "--count-seconds", "8", on_count=silent)
    found = endpoint["secret_count"]
    # each table may take 1 + 5 s: one fits in 8 s, a second could end after it, so it is not started
    assert len(found["tables"]) == 1 and found["not_counted"] == 19
    assert "no answer within 6 s" in found["tables"][0]["reason"]
    assert endpoint["seconds"] < 8 + 8


ODD = {
    "terminal escape": "log\x1b[2J\x1b]0;pwned\x07",
    "line break": "log\r\nEVIL: yes",
    "too long": "log_" + "x" * 300,
    "backtick and backslash": "we`ird\\name",
    "SQL in a name": "t` UNION ALL SELECT 1 --",
    "spaces and accents": "log stream ü",
}


def test_odd_table_names_are_refused_or_quoted_and_reach_the_report_escaped() -> None:
    sent: list[str] = []
    server = FakeServer([FakeTable("logs", name, TEXT, rows=10) for name in ODD.values()])

    def answers(sql: str, settings: Any) -> list[dict[str, Any]]:
        try:
            return server(sql, settings)
        except AssertionError:  # the stand-in matches raw names; these count queries name them quoted
            return answer(10)

    with tcp_service(scanning_clickhouse(answers, sent)) as port:
        run = probe(f"127.0.0.1:{port}", *COUNT, "--verbose")
    assert run.code == 1 and "Traceback" not in run.stderr
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout and "EVIL: yes\n" not in run.stdout
    counts = [q for q in sent if q.startswith("SELECT count() AS examined")]
    # the three printable names are quoted; those holding control characters or over 255 bytes are not asked
    assert len(counts) == 3
    assert any("FROM `logs`.`we\\`ird\\\\name` LIMIT" in q for q in counts)
    assert any("FROM `logs`.`t\\` UNION ALL SELECT 1 --` LIMIT" in q for q in counts)
    assert "holds a control character" in run.stdout and "longer than 255 bytes" in run.stdout


def test_a_native_count_job_is_killed_at_its_deadline() -> None:
    """The native count runs clickhouse-driver in a child; a tarpit cannot keep it alive."""
    with tcp_service(drip(b"\x00" * 50, every=1.0)) as port:
        started = time.monotonic()
        with pytest.raises(JobFailed, match="did not finish within 3s"):
            asyncio.run(
                run_job(
                    "count_secrets",
                    {
                        "host": "127.0.0.1",
                        "port": port,
                        "protocol": "native",
                        "tls": False,
                        "user": "default",
                        "password": "",
                        "timeout": 30.0,
                        "limits": {"max_rows": 10, "max_seconds": 30.0, "max_tables": 5, "total_seconds": 60.0},
                        "via": "test",
                    },
                    3.0,
                )
            )
    assert time.monotonic() - started < 8


def test_the_count_is_bounded_by_the_endpoints_deadline_too() -> None:
    def silent(conn: socket.socket) -> None:
        time.sleep(30)

    server = FakeServer([FakeTable("logs", f"t{i}", TEXT, rows=10) for i in range(20)])
    with tcp_service(scanning_clickhouse(server, on_count=silent)) as port:
        run = probe(f"127.0.0.1:{port}", *COUNT, "--deadline", "5", "--count-seconds", "60", "--json")
    endpoint = json.loads(run.stdout)["endpoints"][0]
    assert "did not finish within 5s" in endpoint["error"] and run.seconds < 5 + 8
