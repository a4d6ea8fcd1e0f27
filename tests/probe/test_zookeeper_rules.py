"""The judgement of what the probe saw at a ZooKeeper, a Keeper or an interserver port: pure,
so each case of hardhouse.probe.rules is pinned here without a server."""

from __future__ import annotations

import pytest

from hardhouse.probe.model import EndpointReport, Service, Severity, ZooKeeperInfo
from hardhouse.probe.rules import judge
from hardhouse.probe.wire.zookeeper import connect_frame, parse_connect_response


def zk(**fields: object) -> EndpointReport:
    report = EndpointReport("127.0.0.1", 2181, service=Service.ZOOKEEPER)
    report.zookeeper = ZooKeeperInfo(**fields)  # type: ignore[arg-type]
    return report


def test_an_answering_zookeeper_alone_is_a_note_not_a_finding() -> None:
    findings, notes = judge(zk(readable={"/": 2}, words=["ruok", "srvr", "isro"], version="Zookeeper version: 3.8"))
    assert findings == []
    assert [(n.id, n.message, n.data) for n in notes] == [
        (
            "zookeeper-answers",
            "ZooKeeper answers an anonymous session; / lists 2 children",
            {"version": "Zookeeper version: 3.8"},
        )
    ]


def test_readable_and_world_writable_znodes_and_leaking_words_are_findings() -> None:
    findings, notes = judge(
        zk(
            readable={"/": 2, "/clickhouse": 3},
            world={"/clickhouse": ["read", "create"], "/clickhouse/tables": ["read"]},
            words=["srvr", "envi", "cons"],
        )
    )
    # HH-ZK-1 is high whichever of its rules saw it; HH-ZK-2 medium
    assert [(f.rule, f.severity) for f in findings] == [
        ("zookeeper-znodes-writable", Severity.HIGH),
        ("zookeeper-znodes-readable", Severity.HIGH),
        ("zookeeper-four-letter-words", Severity.MEDIUM),
    ]
    assert [n.id for n in notes] == ["zookeeper-answers"]
    assert findings[0].data == {"path": "/clickhouse", "permissions": ["read", "create"]}  # read-only world: no finding
    assert findings[1].message == "/clickhouse lists 3 children to an anonymous session"
    assert findings[2].data["words"] == ["envi", "cons"] and findings[2].control == "HH-ZK-2"


@pytest.mark.parametrize(
    ("status", "rule"),
    [
        (200, "interserver-unauthenticated"),
        (500, "interserver-unauthenticated"),
        (None, "interserver-reachable"),  # no answer to the part request: nothing shows it asks for credentials
    ],
)
def test_an_interserver_port_not_shown_to_ask_for_credentials_fails_by_default(status: int | None, rule: str) -> None:
    report = EndpointReport("127.0.0.1", 9009, service=Service.CLICKHOUSE_INTERSERVER)
    report.interserver, report.interserver_status = True, status
    report.findings, report.notes = judge(report)
    ((finding),) = report.findings
    assert (finding.rule, finding.severity, finding.control) == (rule, Severity.HIGH, "HH-PORT-2")
    assert report.exposed() and report.notes == []


def test_an_interserver_port_that_asks_for_credentials_is_a_note() -> None:
    report = EndpointReport("127.0.0.1", 9010, service=Service.CLICKHOUSE_INTERSERVER_TLS)
    report.interserver, report.interserver_status = True, 401
    findings, notes = judge(report)
    assert findings == [] and [(n.id, n.data) for n in notes] == [("interserver-asks-credentials", {"status": 401})]


def test_only_a_connect_response_is_taken_for_zookeeper() -> None:
    good = b"\x00\x00\x00\x24" + b"\x00" * 4 + b"\x00\x00\x27\x10" + b"\x00" * 8 + b"\x00\x00\x00\x10" + b"\x00" * 16
    assert parse_connect_response(good) is not None
    assert parse_connect_response(good + b"\x00") is not None  # trailing bytes of a pipelined reply
    assert parse_connect_response(good[:-1]) is None
    assert parse_connect_response(connect_frame()) is None  # our own request echoed back
    assert parse_connect_response(b"HTTP/1.1 400 Bad Request\r\n\r\n") is None
    assert parse_connect_response(b"\x7f\xff\xff\xff" + b"\x00" * 100) is None
