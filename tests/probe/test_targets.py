"""Target parsing for `hardhouse probe`: hosts, ports, CIDR ranges, files and pyinfra inventories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hardhouse.clickhouse.ports import PROBE_PORTS as DEFAULT_PORTS
from hardhouse.probe import Endpoint, TargetError, expand_targets, parse_target
from hardhouse.probe.targets import inventory_hosts_static


def pairs(endpoints: list[Endpoint]) -> list[tuple[str, int]]:
    return [(e.host, e.port) for e in endpoints]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(
            "db1.example.internal",
            [("db1.example.internal", p) for p in DEFAULT_PORTS],
            id="bare host gets every default port",
        ),
        pytest.param("10.0.0.5:8123", [("10.0.0.5", 8123)], id="host:port is that port only"),
        pytest.param("[::1]:9000", [("::1", 9000)], id="bracketed IPv6 with port"),
        pytest.param("::1", [("::1", p) for p in DEFAULT_PORTS], id="bare IPv6"),
        pytest.param(
            "10.0.0.0/30",
            [(f"10.0.0.{i}", p) for i in (1, 2) for p in DEFAULT_PORTS],
            id="CIDR without network and broadcast",
        ),
        pytest.param(
            "10.0.0.8/31:9440", [("10.0.0.8", 9440), ("10.0.0.9", 9440)], id="CIDR with a port; /31 keeps both"
        ),
        pytest.param("10.0.0.7/32", [("10.0.0.7", p) for p in DEFAULT_PORTS], id="/32 is one host"),
    ],
)
def test_parse_target(target: str, expected: list[tuple[str, int]]) -> None:
    assert pairs(parse_target(target, DEFAULT_PORTS)) == expected


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("host:0", id="port zero"),
        pytest.param("host:70000", id="port too large"),
        pytest.param("host:http", id="named port"),
        pytest.param("[::1", id="unclosed bracket"),
        pytest.param("10.0.0.0/33", id="bad prefix"),
        pytest.param("bad host!", id="not a host name"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_targets_are_usage_errors(target: str) -> None:
    with pytest.raises(TargetError):
        parse_target(target, DEFAULT_PORTS)


def test_large_ranges_are_refused_unless_allowed() -> None:
    with pytest.raises(TargetError, match="more than --max-hosts"):
        parse_target("10.0.0.0/15", DEFAULT_PORTS)
    assert len(parse_target("10.0.0.0/16", [9000])) == 65534  # a /16 is the default cap
    with pytest.raises(TargetError, match="--max-hosts 8"):
        parse_target("10.0.0.0/28", [9000], max_hosts=8)


def test_the_cap_counts_hosts_across_targets() -> None:
    with pytest.raises(TargetError, match="more than --max-hosts 4"):
        expand_targets(["10.0.0.0/30", "10.0.1.0/30", "10.0.2.1"], [9000], max_hosts=4)


def test_extra_ports_apply_to_bare_hosts_and_duplicates_collapse() -> None:
    endpoints, _ = expand_targets(["h1", "h1:9000", "h1:12345"], [9000, 8123])
    assert pairs(endpoints) == [("h1", 9000), ("h1", 8123), ("h1", 12345)]


def test_target_file_with_comments(tmp_path: Path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text("# production\n10.0.0.5:8123   # the old one\n\n10.0.0.6, 10.0.0.7:9000\n")
    endpoints, notes = expand_targets([str(listing)], [9000])
    assert pairs(endpoints) == [("10.0.0.5", 8123), ("10.0.0.6", 9000), ("10.0.0.7", 9000)]
    assert {e.source for e in endpoints} == {str(listing)} and notes == []


def test_at_file_and_missing_file(tmp_path: Path) -> None:
    listing = tmp_path / "hosts"
    listing.write_text("10.0.0.9\n")
    assert pairs(expand_targets([f"@{listing}"], [9000])[0]) == [("10.0.0.9", 9000)]
    with pytest.raises(TargetError, match="no such file"):
        expand_targets([f"@{tmp_path / 'missing'}"], [9000])


INVENTORY = """
from os import environ  # imports and code are never run by the static reader

clickhouse = [
    "ch-1.internal",
    ("ch-2", {"ssh_hostname": "10.0.0.12", "ssh_user": "root"}),
    "@ssh/10.0.0.13",
    "@docker/4f3a",
]
replicas = (["ch-1.internal", "ch-3.internal"], {"clickhouse_version": "24.8"})
_private = ["10.9.9.9"]
computed = [name for name in environ]
not_hosts = {"a": 1}
sandbox = ["@local"]
"""


def test_pyinfra_inventory_is_read_without_running_it(tmp_path: Path) -> None:
    inventory = tmp_path / "production.py"
    inventory.write_text(INVENTORY)
    hosts, notes = inventory_hosts_static(inventory)
    assert hosts == ["ch-1.internal", "10.0.0.12", "10.0.0.13", "ch-3.internal", "127.0.0.1"]
    assert any("@docker/4f3a" in note for note in notes)
    assert any("computed" in note for note in notes)


def test_pyinfra_inventory_as_target(tmp_path: Path) -> None:
    inventory = tmp_path / "staging.py"
    inventory.write_text('hosts = ["10.0.0.21", ("db", {"ssh_hostname": "10.0.0.22"})]\n')
    endpoints, _ = expand_targets([str(inventory)], [9000, 8123])
    assert pairs(endpoints) == [("10.0.0.21", 9000), ("10.0.0.21", 8123), ("10.0.0.22", 9000), ("10.0.0.22", 8123)]


def hostile_inventory(tmp_path: Path) -> tuple[Path, Path]:
    """An inventory (and group data) whose code leaves a mark when it runs."""
    marker = tmp_path / "ran"
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(f"open({str(marker)!r}, 'a').write('group_data ')\n")
    inventory = tmp_path / "fleet.py"
    inventory.write_text(
        f"open({str(marker)!r}, 'a').write('inventory ')\n"
        "hosts = ['10.0.0.51']\n"
        "computed = ['10.0.0.%d' % n for n in (52, 53)]\n"
    )
    return inventory, marker


@pytest.mark.parametrize("target", ["{path}", "@{path}"])
def test_an_inventory_is_read_without_running_anything(tmp_path: Path, target: str) -> None:
    inventory, marker = hostile_inventory(tmp_path)
    endpoints, notes = expand_targets([target.format(path=inventory)], [9000])
    assert pairs(endpoints) == [("10.0.0.51", 9000)]
    assert not marker.exists(), "the inventory or its group_data was executed"
    assert any("computed" in note and "--run-inventory" in note for note in notes)


def test_run_inventory_runs_it_as_pyinfra_does(tmp_path: Path) -> None:
    inventory, marker = hostile_inventory(tmp_path)
    endpoints, _ = expand_targets([str(inventory)], [9000], run_inventory=True)
    assert pairs(endpoints) == [("10.0.0.51", 9000), ("10.0.0.52", 9000), ("10.0.0.53", 9000)]
    assert sorted(marker.read_text().split()) == ["group_data", "inventory"]


def test_an_inventory_pyinfra_cannot_load_is_a_usage_error(tmp_path: Path) -> None:
    inventory = tmp_path / "broken.py"
    inventory.write_text("raise RuntimeError('group data needs a secret')\n")
    with pytest.raises(TargetError, match="pyinfra could not load it"):
        expand_targets([str(inventory)], [9000], run_inventory=True)


@pytest.mark.parametrize("kind", ["fifo", "directory", "huge", "binary"])
def test_target_files_are_read_with_bounds(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "fleet.txt"
    if kind == "fifo":
        os.mkfifo(path)  # opening it must not wait for a writer
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":
        path.write_bytes(b"10.0.0.1\n" * (600 * 1024))
    else:
        path.write_bytes(b"\xff\xfe10.0.0.1\n")
    with pytest.raises(TargetError, match="not a regular file|larger than|not UTF-8"):
        expand_targets([f"@{path}"], [9000])


def test_unparsable_inventory_is_a_usage_error(tmp_path: Path) -> None:
    inventory = tmp_path / "broken.py"
    inventory.write_text("hosts = [\n")
    with pytest.raises(TargetError, match="not a readable pyinfra inventory"):
        inventory_hosts_static(inventory)


def test_no_targets() -> None:
    with pytest.raises(TargetError):
        expand_targets([], [9000])
