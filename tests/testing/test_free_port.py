"""Ports the test servers are given (hardhouse.testing.local_server.free_port): below the
kernel's ephemeral range, where no outgoing connection or published container port takes
them between the choice and the server's bind; never one something listens on; never the
same one twice in a process."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from hardhouse.testing import local_server
from hardhouse.testing.local_server import free_port


def test_ports_come_from_below_the_ephemeral_range_and_never_twice() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(local_server.LOWEST_PORT <= port < low for port in ports), sorted(ports)[:3]


def test_a_port_something_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(local_server, "_below_ephemeral", lambda: range(busy, busy + 1001))
        picks = itertools.chain([0, 0], itertools.count(7))  # the busy port twice, then others
        monkeypatch.setattr(local_server.secrets, "randbelow", lambda n: next(picks))
        port = free_port()
        assert busy < port <= busy + 1000


def test_without_the_kernels_range_the_kernel_picks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local_server, "EPHEMERAL_RANGE", tmp_path / "missing")
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free
