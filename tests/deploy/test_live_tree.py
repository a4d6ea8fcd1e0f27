"""The live tree is read once for the users check and the audit only while no step between
them ran a command on the host (hardhouse.deploy.live_tree)."""

from __future__ import annotations

from typing import Any

from pyinfra.context import ctx_host

from hardhouse.deploy import snapshot
from hardhouse.deploy.audit import ClickHouseConfigTree, FetchedTree
from hardhouse.deploy.facts import HostFiles
from hardhouse.deploy.live_tree import live_tree
from tests.deploy.test_snapshot import StandInState, ran_a_command


class Host:
    """Enough of pyinfra's Host: its steps in order, the current one, and a fact read that
    answers a new tree each time (so a kept read is told apart from a fresh one)."""

    name = "live-tree-host"

    def __init__(self, state: StandInState | None = None) -> None:
        self.op_hash_order = ["read", "users", "install", "stage", "go_live", "audit"]
        self.current_op_hash = "users"
        self.state = state or StandInState()
        self.reads: list[dict[str, Any]] = []

    def get_fact(self, cls: type, **kwargs: Any) -> FetchedTree:
        assert cls is ClickHouseConfigTree
        self.reads.append(kwargs)
        return FetchedTree(f"tree {len(self.reads)}".encode())


def read(host: Host, step: str, config_dir: str = "/etc/clickhouse-server") -> bytes | None:
    host.current_op_hash = step
    with ctx_host.use(host):
        return live_tree(config_dir).archive


def test_the_audit_judges_the_users_checks_read_when_no_step_between_changed_the_host() -> None:
    host = Host()
    assert read(host, "users") == b"tree 1"
    assert read(host, "audit") == b"tree 1"
    assert len(host.reads) == 1


def test_a_step_between_that_ran_a_command_makes_the_audit_read_the_tree_again() -> None:
    host = Host()
    assert read(host, "users") == b"tree 1"
    ran_a_command(host, "go_live")
    assert read(host, "audit") == b"tree 2"
    assert len(host.reads) == 2


def test_another_run_or_another_directory_never_gets_this_runs_read() -> None:
    first = Host()
    assert read(first, "users") == b"tree 1"
    later_run = Host()  # a new deploy: another state object, the same host name and step hashes
    assert read(later_run, "audit") == b"tree 1" and len(later_run.reads) == 1  # its own read
    assert read(later_run, "audit", "/srv/clickhouse") == b"tree 2"  # another directory: read


def carried(host: Host, tree_dir: str = "/etc/clickhouse-server") -> None:
    """The host's snapshot, read by the first step, carried the tree (a host proven in full)."""
    snapshot.SNAPSHOTS[host.name] = snapshot.Snapshot(
        HostFiles(), op_hash="read", tree=FetchedTree(b"carried"), tree_dir=tree_dir
    )


def test_both_steps_judge_the_tree_the_snapshot_carried_while_nothing_changed_the_host() -> None:
    host = Host()
    carried(host)
    try:
        assert read(host, "users") == b"carried"
        assert read(host, "audit") == b"carried"
        assert host.reads == []  # no command of their own
    finally:
        snapshot.SNAPSHOTS.pop(host.name, None)


def test_a_command_after_the_snapshot_or_another_directory_reads_the_tree_again() -> None:
    host = Host()
    carried(host)
    try:
        assert read(host, "users") == b"carried"
        ran_a_command(host, "go_live")
        assert read(host, "audit") == b"tree 1"
        other = Host()
        carried(other, "/srv/clickhouse")
        assert read(other, "users") == b"tree 1"  # the snapshot carried another directory's tree
    finally:
        snapshot.SNAPSHOTS.pop(host.name, None)


def test_a_carried_tree_never_shows_in_a_repr() -> None:
    """pyinfra may print a fact's value when debugging: the tree holds the users' password hashes."""
    tree = FetchedTree(b"<password_sha256_hex>f00d</password_sha256_hex>", include=b"metrika-secret")
    shown = repr(snapshot.Snapshot(HostFiles(), tree=tree, tree_dir="/etc/clickhouse-server"))
    assert "f00d" not in shown and "metrika-secret" not in shown
