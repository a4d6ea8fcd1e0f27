"""A replicated cluster deployed as an operator deploys it: the sandbox's cluster mode (three
replicas of one shard of cluster `logs` and a ZooKeeper host, plain Debian containers over
SSH), `pyinfra inventories/sandbox.py deploy/harden.py -y` in a subprocess.

One cluster (module fixture) goes through a life in order: the first deploy hardens ZooKeeper
and rolls the replicas out one at a time, creates the replicated log table on each and proves
the cluster from this machine -> a re-run changes nothing -> a change that one replica
cannot serve is rolled back there and stops the rollout, the other replicas keep their
configuration -> the good spec again -> a ZooKeeper change it cannot serve is rolled back on the
ZooKeeper host and the replicas still reach it. Claims are checked from this machine with real clients:
a row inserted on one replica is read on the others, a part request without the interserver
credentials is refused, ZooKeeper refuses anonymous access to ClickHouse's znodes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hardhouse.reach import readable_passwords, source_address
from hardhouse.spec import load_spec
from hardhouse.testing.clients import native_query
from hardhouse.testing.zookeeper import NO_AUTH, ZooKeeperClient, ZooKeeperError
from hardhouse.verify import cluster as cluster_module
from hardhouse.verify import redaction as redaction_module
from hardhouse.verify import replicas as replicas_module
from hardhouse.verify.cluster import cluster_checks, interserver_status
from hardhouse.verify.deployment import verify_deployment
from hardhouse_dev.sandbox import CLUSTER, LOG_DATABASE
from tests.deploy.test_deploy_sandbox import deploy, docker_exec, grand_total, make_sandbox
from tests.deploy.test_deploy_sandbox import tooling as tooling  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

REPLICAS = 3


@pytest.fixture(scope="module")
def cluster(tooling: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sandbox = make_sandbox(tmp_path_factory, "cluster")
    try:
        sandbox.up(REPLICAS, cluster=True)
        yield sandbox
    finally:
        sandbox.down()


def replicas(sandbox: Any) -> list[Any]:
    return [h for h in sandbox.hosts() if h.name != "sandbox-zookeeper"]


def as_ingest(sandbox: Any, address: str, query: str) -> list[tuple[Any, ...]]:
    password = (sandbox.secrets_dir / "ingest").read_text().strip()
    return native_query(address, 9440, query, user="ingest", password=password, tls=True, ca=sandbox.ca_dir / "ca.crt")


def went_live(output: str) -> list[str]:
    """The hosts that went live, in the order they did."""
    return re.findall(r"\[(sandbox-\d+)\]\s+going live", output)


@pytest.fixture(scope="module")
def deployed(cluster: Any) -> tuple[Any, Any]:
    result = deploy(cluster)
    if result.returncode != 0:
        # Once in a full CI run a replica's server was gone in the middle of its verification
        # (every later connection refused) and did not come back: keep what each replica's
        # server said last, and whether it still runs, in the output the assertions show.
        result.output += "\n".join(["", "--- the replicas' servers after the failed deploy:", *server_states(cluster)])
    return cluster, result


def server_states(sandbox: Any) -> list[str]:
    lines = []
    for host in replicas(sandbox):
        state = docker_exec(
            host.container,
            "pgrep -x clickhouse-serv >/dev/null && echo running || echo 'not running'; "
            "tail -n 15 /var/log/clickhouse-server/clickhouse-server.err.log 2>/dev/null | cut -c1-300; true",
        )
        lines += [f"[{host.name}] {line}" for line in state.splitlines()]
    return lines


def test_the_first_deploy_rolls_the_replicas_out_one_at_a_time_and_proves_the_cluster(deployed: Any) -> None:
    sandbox, result = deployed
    assert result.returncode == 0, result.output[-6000:]
    # One replica at a time: every replica went live, each in its own turn.
    assert sorted(went_live(result.output)) == sorted(h.name for h in replicas(sandbox))
    ok, results = sandbox.report()
    assert ok, [(r["host"], [c for c in r["checks"] if not c.ok]) for r in results]
    for report in results:
        passed = {c.check for c in report["checks"] if c.checked and c.ok}
        assert {
            "a part request without credentials is refused",
            "the interserver credentials are accepted",
            f"cluster {CLUSTER} is defined on the native TLS port only",
            f"a query through cluster {CLUSTER} is answered by every shard",
            "a row written here is read on every other replica of its shard",
            "the marked row is deleted again on every replica",
            "an anonymous session can neither read nor write /clickhouse",
        } <= passed, report["host"]


def test_zookeeper_and_the_replicas_install_in_one_step(deployed: Any) -> None:
    """pyinfra runs a step on every host before the next: ZooKeeper's packages and the
    replicas' are one step (hardhouse.deploy.fleet), so they install side by side, after the
    replicas' state was read and their undeclared users refused, and before anything is staged."""
    sandbox, result = deployed
    assert result.returncode == 0, result.output[-6000:]
    steps = re.findall(r"--> Starting (?:serial )?operation: (.+?)\s*$", result.output, flags=re.MULTILINE)
    installs = [i for i, step in enumerate(steps) if step.startswith("Install the packages")]
    assert len(installs) == 1, steps
    assert not any("Install Debian's ZooKeeper" in step or "Install ClickHouse" in step for step in steps), steps
    before, after = steps[: installs[0]], steps[installs[0] + 1 :]
    assert any("Read the host's state" in step for step in before) and any("undeclared" in step for step in before)
    assert not any("Stage" in step for step in before) and any("Stage" in step for step in after), steps
    # Its hosts: the ZooKeeper host and every replica, each of which installed something.
    block = result.output.split("--> Starting operation: Install the packages", 1)[1].split("--> Starting", 1)[0]
    installed = set(re.findall(r"\[(sandbox-[\w-]+)\]\s+Success", block))
    assert installed == {h.name for h in sandbox.hosts()}, block[-3000:]


def test_a_row_written_on_one_replica_is_read_on_the_others(deployed: Any) -> None:
    sandbox, _ = deployed
    first, *others = replicas(sandbox)
    mark = f"cluster-test-{secrets.token_hex(6)}"
    table = f"{LOG_DATABASE}.requests"
    as_ingest(sandbox, first.address, f"INSERT INTO {table} (ts, level, message) SELECT now(), 'info', '{mark}'")
    for other in others:
        for _ in range(150):
            if as_ingest(sandbox, other.address, f"SELECT count() FROM {table} WHERE message = '{mark}'") == [(1,)]:
                break
            docker_exec(other.container, "sleep 0.2")
        else:
            raise AssertionError(f"the row did not reach {other.name}")
    # The deploy's own marked rows are gone (it deleted what it wrote).
    assert as_ingest(
        sandbox, first.address, f"SELECT count() FROM {table} WHERE message LIKE 'hardhouse-verify-%'"
    ) == [(0,)]


def test_a_secret_written_through_one_replicas_ingest_table_is_stored_redacted_on_every_replica(
    deployed: Any,
) -> None:
    """The view exists on every replica; the stored table is the replicated one."""
    sandbox, result = deployed
    assert re.search(r"controls proven: [^\n]*HH-DATA-3", result.output), result.output[-3000:]
    first, *others = replicas(sandbox)
    views = f"SELECT count() FROM system.tables WHERE database = '{LOG_DATABASE}' AND engine = 'MaterializedView'"
    found = {h.name: as_ingest(sandbox, h.address, views) for h in replicas(sandbox)}
    assert found == {h.name: [(1,)] for h in replicas(sandbox)}, (found, result.output[-5000:])
    key = "sk-" + secrets.token_hex(16)
    mark = f"cluster-redaction-{secrets.token_hex(6)}"
    table = f"{LOG_DATABASE}.requests"
    as_ingest(sandbox, first.address, f"INSERT INTO {table}_ingest SELECT now(), 'info', '{mark} {key}'")
    wanted = [(f"{mark} [REDACTED]",)]
    for other in others:
        for _ in range(150):
            if (
                as_ingest(sandbox, other.address, f"SELECT message FROM {table} WHERE startsWith(message, '{mark}')")
                == wanted
            ):
                break
            docker_exec(other.container, "sleep 0.2")
        else:
            raise AssertionError(f"the redacted row did not reach {other.name}")


def replica_spec(sandbox: Any, host: Any) -> Any:
    (entry,) = [e for e in json.loads(sandbox.hosts_file.read_text())["hosts"] if e["name"] == host.name]
    return load_spec(entry["data"]["hardhouse_spec"])


def test_replication_is_judged_from_the_redaction_checks_row_and_fails_on_a_replica_that_stops_fetching(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verification writes no row of its own for replication: the redaction check's row is
    followed to the peers. A peer that fetches nothing fails the line, naming that peer. (18.16
    may then hold the row's delete back on the other replicas too, so the removal lines are not
    judged here; once the peer fetches again, the row is gone everywhere.)"""
    sandbox, _ = deployed
    first, second, *_ = replicas(sandbox)
    table = f"{LOG_DATABASE}.requests"
    for module in (replicas_module, cluster_module):
        monkeypatch.setattr(module, "REPLICATION_WAIT", 5.0)
    monkeypatch.setattr(redaction_module, "REMOVAL_WAIT", 2.0)
    as_ingest(sandbox, second.address, f"SYSTEM STOP FETCHES {table}")
    try:
        checks = verify_deployment(first.address, replica_spec(sandbox, first), ca=sandbox.ca_dir / "ca.crt")
    finally:
        as_ingest(sandbox, second.address, f"SYSTEM START FETCHES {table}")
    lines = {c.check: c for c in checks}
    reached = lines["a row written here is read on every other replica of its shard"]
    assert not reached.ok, reached
    # The other peer fetches: it may be named too only if it took longer than the wait.
    assert reached.detail.startswith(f"the log rights checks' marked row in {table} was not on "), reached.detail
    assert second.address in reached.detail and reached.detail.endswith(" after 5s"), reached.detail
    # The redaction itself held.
    assert lines["a secret written through the ingest table is stored redacted"].ok
    # Fetching again, every replica catches up with the row and its delete: nothing marked is left.
    marked = f"SELECT count() FROM {table} WHERE message LIKE 'hardhouse-verify-%' OR level LIKE 'hardhouse-verify-%'"
    for replica in replicas(sandbox):
        for _ in range(300):
            if as_ingest(sandbox, replica.address, marked) == [(0,)]:
                break
            docker_exec(replica.container, "sleep 0.2")
        else:
            raise AssertionError(f"marked rows stayed on {replica.name}")


def test_without_a_row_to_follow_the_cluster_check_writes_and_deletes_its_own(deployed: Any) -> None:
    sandbox, _ = deployed
    first = replicas(sandbox)[0]
    spec = replica_spec(sandbox, first)
    passwords, unreadable = readable_passwords(spec, os.environ)
    here = source_address(first.address)
    checks = cluster_checks(first.address, spec, sandbox.ca_dir / "ca.crt", os.environ, passwords, unreadable, here)
    lines = {c.check: c for c in checks}
    reached = lines["a row written here is read on every other replica of its shard"]
    assert reached.ok and reached.detail.startswith(f"a marked row in {LOG_DATABASE}.requests reached "), reached
    assert lines["the marked row is deleted again on every replica"].ok
    assert as_ingest(
        sandbox, first.address, f"SELECT count() FROM {LOG_DATABASE}.requests WHERE message LIKE 'hardhouse-verify-%'"
    ) == [(0,)]


def test_interserver_and_zookeeper_refuse_anonymous_access(deployed: Any) -> None:
    sandbox, _ = deployed
    ca = sandbox.ca_dir / "ca.crt"
    for replica in replicas(sandbox):
        assert interserver_status(replica.address, 9010, ca, None) == 401
        assert interserver_status(replica.address, 9010, ca, ("replication", "not-the-password-" + "x" * 12)) == 401
    (zookeeper,) = [h for h in sandbox.hosts() if h.name == "sandbox-zookeeper"]
    with ZooKeeperClient(zookeeper.address, 2181) as anonymous:
        for attempt in (
            lambda: anonymous.get_children("/clickhouse"),
            lambda: anonymous.get_children(f"/clickhouse/tables/{CLUSTER}/01/{LOG_DATABASE}/requests/replicas"),
            lambda: anonymous.create("/clickhouse/planted", ephemeral=True),
        ):
            with pytest.raises(ZooKeeperError) as refused:
                attempt()
            assert refused.value.code == NO_AUTH
    with ZooKeeperClient(zookeeper.address, 2181) as identified:
        identified.add_auth("digest", f"clickhouse:{(sandbox.secrets_dir / 'zookeeper').read_text().strip()}")
        found = identified.get_children(f"/clickhouse/tables/{CLUSTER}/01/{LOG_DATABASE}/requests/replicas")
        assert sorted(found) == sorted(h.address for h in replicas(sandbox))


def test_a_rerun_changes_nothing(deployed: Any) -> None:
    sandbox, _ = deployed
    result = deploy(sandbox, "-v")
    assert result.returncode == 0, result.output[-4000:]
    # Every replica is proven on every run, and its proof starts as soon as its state is read
    # (hardhouse.deploy.recheck.JudgeAhead, in the state read); nothing changed, so the steps take its answer.
    assert result.output.count("the live configuration passes the audit already: its proof starts now") == REPLICAS
    assert result.output.count("verified from the deploy machine") == REPLICAS
    total = grand_total(result.output)
    assert total["success"] == total["error"] == "-" and total["no_change"] == total["hosts"], total
    assert went_live(result.output) == []


def test_a_replica_that_does_not_come_back_stops_the_rollout(deployed: Any) -> None:
    sandbox, _ = deployed
    document = json.loads(sandbox.hosts_file.read_text())
    good = {entry["name"]: entry["data"] for entry in document["hosts"]}
    changed = json.loads(json.dumps(good))
    # A change no replica can serve (an address none of them has: the restarted server cannot
    # bind it), so whichever replica pyinfra takes first fails, whatever its order.
    for data in changed.values():
        if data.get("hardhouse_spec"):
            data["hardhouse_spec"]["profiles"]["writer"]["max_execution_time"] = 301
            data["hardhouse_spec"]["listen_hosts"].append("172.31.254.254")
    sandbox.write_inventory(sandbox.hosts(), changed, cluster=True)
    try:
        result = deploy(sandbox)
        assert result.returncode != 0
        first, *rest = went_live(result.output)
        assert rest == [], result.output[-6000:]
        assert f"[{first}]" in result.output and re.search(
            rf"\[{first}\]\s+hardhouse: rolled back: the previous configuration is serving again", result.output
        ), result.output[-6000:]
        halted = dict(re.findall(r"\[(sandbox-\d+)\]\s+not going live: replica (sandbox-\d+)", result.output))
        assert halted == {h.name: first for h in replicas(sandbox) if h.name != first}, result.output[-6000:]
        # Every replica still serves the previous configuration (the first one rolled back).
        query = "SELECT value FROM system.settings WHERE name = 'max_execution_time'"
        for replica in replicas(sandbox):
            assert as_ingest(sandbox, replica.address, query) == [("300",)], replica.name
    finally:
        sandbox.write_inventory(sandbox.hosts(), good, cluster=True)
    again = deploy(sandbox)
    assert again.returncode == 0, again.output[-4000:]


def _ruok(address: str) -> bytes:
    """ZooKeeper's answer to ruok on its client port, read at most 4 bytes, within 5 s."""
    try:
        with socket.create_connection((address, 2181), timeout=5) as connection:
            connection.sendall(b"ruok")
            return connection.recv(4)
    except OSError:
        return b""


def test_a_zookeeper_change_it_cannot_serve_is_rolled_back_and_the_replicas_still_reach_it(deployed: Any) -> None:
    """ZooKeeper's files go live through the same activation tool as ClickHouse's: a client
    address that is not on the host passes validation, the JVM cannot bind it and exits, and the
    host puts the previous files back, restarts ZooKeeper with them and waits until it answers."""
    sandbox, _ = deployed
    (zookeeper,) = [h for h in sandbox.hosts() if h.name == "sandbox-zookeeper"]

    def config_digest() -> str:
        return docker_exec(zookeeper.container, "sha256sum /etc/zookeeper/conf/zoo.cfg").split()[0]

    before = config_digest()
    assert _ruok(zookeeper.address) == b"imok"
    document = json.loads(sandbox.hosts_file.read_text())
    good = {entry["name"]: entry["data"] for entry in document["hosts"]}
    changed = json.loads(json.dumps(good))
    changed[zookeeper.name]["hardhouse_zookeeper"]["listen"] = "172.31.254.254"  # on no host of the sandbox
    sandbox.write_inventory(sandbox.hosts(), changed, cluster=True)
    try:
        result = deploy(sandbox)
    finally:
        sandbox.write_inventory(sandbox.hosts(), good, cluster=True)
    assert result.returncode != 0
    assert re.search(
        rf"\[{zookeeper.name}\]\s+hardhouse: rolled back: the previous configuration is serving again", result.output
    ), result.output[-6000:]
    assert went_live(result.output) == []  # the replicas' configuration did not change
    # The previous configuration serves again, from this machine's point of view too.
    assert config_digest() == before
    assert _ruok(zookeeper.address) == b"imok"
    # And the replicas reach it: a row inserted on one (which needs its ZooKeeper session) is
    # read on the others. The sessions come back after the two restarts: retried, bounded.
    first, *others = replicas(sandbox)
    mark = f"zookeeper-rollback-{secrets.token_hex(6)}"
    table = f"{LOG_DATABASE}.requests"
    deadline = time.monotonic() + 120
    while True:
        try:
            as_ingest(
                sandbox, first.address, f"INSERT INTO {table} (ts, level, message) SELECT now(), 'info', '{mark}'"
            )
            break
        except Exception:  # e.g. the table is read-only until its session is re-established
            assert time.monotonic() < deadline, "the replica did not get its ZooKeeper session back"
            time.sleep(1)
    for other in others:
        while as_ingest(sandbox, other.address, f"SELECT count() FROM {table} WHERE message = '{mark}'") != [(1,)]:
            assert time.monotonic() < deadline, f"the row did not reach {other.name}"
            time.sleep(0.5)
