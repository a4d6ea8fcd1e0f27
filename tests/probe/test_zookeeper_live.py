"""`hardhouse probe` against Debian's real ZooKeeper 3.8 on loopback.

Two servers: one as a hardened cluster leaves it (ClickHouse's znodes carry the digest ACL of
its identity, four-letter words limited to ruok) and one as a stock install leaves it
(ClickHouse's znodes open to the world, every four-letter word allowed). The same probe passes
the first and reports each weakness of the second, and writes nothing to either.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from hardhouse.cli.probe import probe_command
from hardhouse.deploy.zookeeper import ZooKeeperRootsFact
from hardhouse.probe import ProbeOptions, probe_endpoint_sync
from hardhouse.probe.wire.zookeeper import PERM_ALL, ZooKeeperClient
from hardhouse.testing.local_server import free_port
from hardhouse.testing.zookeeper import LocalZooKeeper, zookeeper_installed
from tests.helpers import require
from tests.probe.fakes import garbage, tcp_service

pytestmark = [pytest.mark.integration, pytest.mark.live]

HARDENED = "127.0.0.31"
OPEN = "127.0.0.32"
ZNODES = ("/clickhouse", "/clickhouse/tables", "/clickhouse/tables/logs", "/clickhouse/task_queue")
IDENTITY = "clickhouse"
EVERY_READ_ONLY_WORD = "ruok,isro,srvr,stat,cons,mntr,envi,conf,dump,wchs,wchc,wchp,dirs"
FAST = ProbeOptions(timeout=2.0, deadline=30.0, tls_scan=False)


def digest_id(user: str, password: str) -> str:
    """ZooKeeper's digest ACL id: user:base64(sha1(user:password))."""
    return f"{user}:{base64.b64encode(hashlib.sha1(f'{user}:{password}'.encode()).digest()).decode()}"


@dataclass
class Zk:
    address: str
    port: int
    password: str | None  # the identity's password (None: the znodes are open to the world)

    def tree(self) -> dict[str, list[str]]:
        """Every znode under / as the identity sees it (to prove the probe wrote nothing)."""
        found: dict[str, list[str]] = {}
        with ZooKeeperClient(self.address, self.port) as client:
            if self.password is not None:
                client.add_auth("digest", f"{IDENTITY}:{self.password}")
            pending = ["/"]
            while pending:
                path = pending.pop()
                children = sorted(client.get_children(path))
                found[path] = children
                pending.extend(f"{path.rstrip('/')}/{child}" for child in children if child != "zookeeper")
        return found


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Zk, Zk]]:
    require(zookeeper_installed(), "Debian's zookeeper is not installed")
    work = tmp_path_factory.mktemp("zookeepers")
    password = secrets.token_urlsafe(16)
    # The open one on ZooKeeper's own port when it is free there, so a bare-host probe finds it.
    open_port = 2181 if _free(OPEN, 2181) else free_port(OPEN)
    hardened = Zk(HARDENED, free_port(HARDENED), password)
    weak = Zk(OPEN, open_port, None)
    with (
        LocalZooKeeper(work / "hardened", HARDENED, hardened.port) as first,
        LocalZooKeeper(work / "open", OPEN, weak.port, four_letter_words=EVERY_READ_ONLY_WORD) as second,
    ):
        first.start()
        second.start()
        with ZooKeeperClient(HARDENED, hardened.port) as client:
            client.add_auth("digest", f"{IDENTITY}:{password}")
            for path in ZNODES:  # as ClickHouse with an identity makes them
                client.create(path, acl=[(PERM_ALL, "digest", digest_id(IDENTITY, password))])
        with ZooKeeperClient(OPEN, weak.port) as client:
            for path in ZNODES:  # as ClickHouse without one makes them
                client.create(path)
        yield hardened, weak


def _free(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM binds; TIME_WAIT is fine
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def rules(report: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.rule, []).append(finding.message)
    return found


def test_the_hardened_zookeeper_shows_only_that_it_answers(servers: tuple[Zk, Zk]) -> None:
    hardened, _ = servers
    before = hardened.tree()
    report = probe_endpoint_sync(hardened.address, hardened.port, FAST)
    assert report.service == "zookeeper" and report.zookeeper is not None
    assert report.banner and report.banner.startswith("Zookeeper version: 3.8")
    # / lists (ZooKeeper's root is world-readable); ClickHouse's znodes refuse the anonymous session
    assert report.zookeeper.readable == {"/": 2}
    assert report.zookeeper.refused == dict.fromkeys(
        ("/clickhouse", "/clickhouse/tables", "/clickhouse/task_queue"), "no-auth"
    )
    assert report.zookeeper.world == {}
    # ZooKeeper 3.8 answers srvr whatever the whitelist says: reported, not a finding
    assert set(report.zookeeper.words) == {"ruok", "srvr"}
    # that it answers an anonymous session at all is a note: every ZooKeeper does
    assert report.findings == [] and [note.id for note in report.notes] == ["zookeeper-answers"]
    assert not report.exposed()
    assert hardened.tree() == before


def test_the_open_zookeeper_is_reported_for_each_weakness(servers: tuple[Zk, Zk]) -> None:
    _, weak = servers
    before = weak.tree()
    report = probe_endpoint_sync(weak.address, weak.port, FAST)
    found = rules(report)
    assert report.zookeeper is not None
    assert report.zookeeper.readable == {
        "/": 2,
        "/clickhouse": 2,
        "/clickhouse/tables": 1,
        "/clickhouse/task_queue": 0,
    }
    assert found["zookeeper-znodes-readable"] == [
        "/clickhouse lists 2 children to an anonymous session",
        "/clickhouse/tables lists 1 children to an anonymous session",
        "/clickhouse/task_queue lists 0 children to an anonymous session",
    ]
    assert len(found["zookeeper-znodes-writable"]) == 3
    assert "world:anyone read, write, create, delete, admin" in found["zookeeper-znodes-writable"][0]
    (words,) = found["zookeeper-four-letter-words"]
    # wchc and wchp answer nothing while no session watches a znode: only words with data count
    assert words.startswith("answers stat, cons, mntr, envi, conf, dump, wchs, dirs (")
    assert "srvr" not in words.split(" (")[0] and "ruok" not in words.split(" (")[0]
    controls = {f.rule: f.control for f in report.findings}
    assert controls["zookeeper-four-letter-words"] == "HH-ZK-2"
    assert controls["zookeeper-znodes-writable"] == "HH-ZK-1"
    assert report.exposed()
    assert weak.tree() == before  # a world-writable server, and still nothing was created


def test_the_command_reports_both_in_json_and_sarif(servers: tuple[Zk, Zk]) -> None:
    hardened, weak = servers
    targets = [f"{hardened.address}:{hardened.port}", f"{weak.address}:{weak.port}"]
    options = ["--no-progress", "--timeout", "2", "--no-tls-scan"]
    result = CliRunner().invoke(probe_command, [*options, "--json", *targets])
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    by_address = {e["address"]: e for e in document["endpoints"]}
    weak_json = by_address[targets[1]]
    assert weak_json["service"] == "zookeeper"
    assert weak_json["zookeeper"]["readable"]["/clickhouse"] == 2
    assert {f["control"] for f in weak_json["findings"]} == {"HH-ZK-1", "HH-ZK-2"}
    assert by_address[targets[0]]["findings"] == []
    assert [note["id"] for note in by_address[targets[0]]["notes"]] == ["zookeeper-answers"]
    sarif = CliRunner().invoke(probe_command, [*options, "--sarif", targets[1]])
    rule_ids = {r["ruleId"] for r in json.loads(sarif.output)["runs"][0]["results"]}
    assert rule_ids == {"HH-ZK-1", "HH-ZK-2"}
    text = CliRunner().invoke(probe_command, [*options, "--verbose", targets[1]], env={"COLUMNS": "300"})
    assert "open   zookeeper  3.8.0" in text.output
    assert "[medium] HH-ZK-2 zookeeper-four-letter-words: answers stat, cons" in text.output


def test_a_bare_host_probe_finds_zookeeper_on_its_port(servers: tuple[Zk, Zk]) -> None:
    _, weak = servers
    require(weak.port == 2181, f"port 2181 on {OPEN} was taken")
    result = CliRunner().invoke(probe_command, ["--no-progress", "--timeout", "2", "--no-tls-scan", "--json", OPEN])
    document = json.loads(result.output)
    found = {e["port"]: e["service"] for e in document["endpoints"] if e["state"] == "open"}
    assert found == {2181: "zookeeper"}


def test_a_zookeeper_on_an_unusual_port_is_judged_by_what_answers(servers: tuple[Zk, Zk]) -> None:
    """Not a port-number guess: ClickHouse-free ports that are not ZooKeeper's stay unknown."""
    hardened, _ = servers
    assert hardened.port not in (2181, 9181, 9281)
    report = probe_endpoint_sync(hardened.address, hardened.port, FAST)
    assert report.service == "zookeeper"
    # a server that answers the ConnectRequest with something else is not ZooKeeper
    with tcp_service(garbage(b"\x00\x00\x00\x24" + b"\xff" * 36), host=HARDENED) as port:
        other = probe_endpoint_sync(HARDENED, port, ProbeOptions(timeout=1.0, tls_scan=False))
    assert other.service == "unknown" and other.zookeeper is None


def test_the_deploys_relay_reads_each_root_of_a_real_zookeeper_as_an_anonymous_client_does(
    servers: tuple[Zk, Zk],
) -> None:
    """hardhouse-zk-roots (the deploy's read of ClickHouse's roots, relayed by the host's bash)
    against ZooKeeper 3.8 itself: a root with the identity's digest ACL is closed, one ClickHouse
    made without an identity is open with the world's ACL, an absent one is missing; and the
    relay changed nothing."""
    hardened, weak = servers
    before = (hardened.tree(), weak.tree())
    fact = ZooKeeperRootsFact()
    seen = {}
    for server in (hardened, weak):
        command = fact.command(server.address, server.port, ["/clickhouse", "/clickhouse/tables", "/absent"])
        result = subprocess.run(["bash", "-c", command.get_raw_value()], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        seen[server.address] = fact.process(result.stdout.splitlines())
    assert {root: state.state for root, state in seen[HARDENED].items()} == {
        "/clickhouse": "closed",
        "/clickhouse/tables": "closed",
        "/absent": "missing",
    }
    assert {root: (state.state, state.acl) for root, state in seen[OPEN].items()} == {
        "/clickhouse": ("open", ["world:anyone cdrwa"]),
        "/clickhouse/tables": ("open", ["world:anyone cdrwa"]),
        "/absent": ("missing", []),
    }
    assert (hardened.tree(), weak.tree()) == before
