"""The deploy's opt-in scan step, judged: a table with secrets or not scanned fails the host
unless a live waiver of HH-DATA-4 names the host; a clean one is shown; a database no reader can
be scanned from is a failure, not a pass. The live run is in tests/deploy/test_deploy_sandbox.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hardhouse.controls.waivers import parse_waivers
from hardhouse.deploy.scan_ops import judged
from hardhouse.scan.deployment import scan_deployment
from hardhouse.spec import load_spec
from tests.provision.scenarios import modern_spec


def table(
    name: str, status: str, matches: list[dict[str, Any]] | None = None, reason: str | None = None
) -> dict[str, Any]:
    return {
        "database": "logs",
        "table": name,
        "status": status,
        "rows_examined": 10,
        "matches": matches or [],
        "reason": reason,
    }


ANSWER = {
    "reports": [
        {
            "user": "analyst",
            "tables": [
                table("clean", "clean"),
                table("leaky", "secrets", [{"column": "message", "rule": "api_key", "rows": 3}]),
                table("slow", "incomplete", reason="the server stopped the count at 30 s"),
                table("log_stream_ingest", "skipped"),
            ],
        }
    ],
    "errors": ["audit: not scanned: no reader the deploy machine can log in as (it has no readers)"],
}


def test_secrets_an_undecided_table_and_an_unscanned_database_fail_the_host() -> None:
    shown, failing = judged(ANSWER, (), "db-1")
    assert failing == [
        "  NOT SCANNED HH-DATA-4 audit: not scanned: no reader the deploy machine can log in as (it has no readers)",
        "  SECRETS HH-DATA-4 logs.leaky as analyst: message: api_key 3 of 10 rows examined",
        "  INCOMPLETE HH-DATA-4 logs.slow as analyst: the server stopped the count at 30 s",
    ]
    assert shown == [
        "scan: logs.clean clean (10 rows examined)",
        "scan: logs.log_stream_ingest skipped (10 rows examined)",
    ]


def test_a_live_waiver_for_this_host_covers_a_table_and_an_expired_or_other_hosts_does_not() -> None:
    future, past = (dt.date.today() + dt.timedelta(days=30)).isoformat(), "2020-01-01"
    waivers = parse_waivers(
        [
            {"control": "HH-DATA-4", "reason": "old rows, purged Friday", "expires": future, "targets": ["db-1"]},
            {"control": "HH-DATA-4", "reason": "expired", "expires": past, "targets": ["db-2"]},
        ]
    )
    shown, failing = judged({"reports": ANSWER["reports"], "errors": []}, waivers, "db-1")
    assert failing == []
    waived = "scan: WAIVED SECRETS HH-DATA-4 logs.leaky as analyst: message: api_key 3 of 10 rows examined"
    assert f"{waived} (waiver: old rows, purged Friday)" in shown
    _, failing = judged({"reports": ANSWER["reports"], "errors": []}, waivers, "db-2")
    assert len(failing) == 2


def test_without_a_ca_nothing_is_scanned_and_no_password_is_sent() -> None:
    answer = scan_deployment("127.0.0.1", load_spec(modern_spec()), None, environ={})
    assert answer == {
        "reports": [],
        "errors": [
            "no log database was scanned: the scan logs in over native TLS and no CA names the server's certificate"
        ],
    }
