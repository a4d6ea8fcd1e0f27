"""Ports the test servers are given (hardhouse.testing.local_server.free_port): below the
kernel's ephemeral range, where no outgoing connection or published container port takes
them between the choice and the server's bind; never one something listens on; never the
same one twice in a process, nor one another process reserved (pytest-xdist's workers)."""

from __future__ import annotations

import itertools
import os
import secrets
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


def test_a_port_another_process_reserved_is_skipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """pytest-xdist's workers pick from the same range: a fresh reservation file holds a port."""
    monkeypatch.setattr(local_server.tempfile, "gettempdir", lambda: str(tmp_path))
    directory = local_server._reservations()
    assert directory is not None and directory.parent == tmp_path
    base = local_server.LOWEST_PORT + secrets.randbelow(5000)
    (directory / str(base)).touch()  # another worker's, just made
    monkeypatch.setattr(local_server, "_below_ephemeral", lambda: range(base, base + 1001))
    picks = itertools.chain([0], itertools.count(1))
    monkeypatch.setattr(local_server.secrets, "randbelow", lambda n: next(picks))
    port = free_port()
    assert base < port <= base + 1000 and (directory / str(port)).exists()


def test_reservations_in_a_directory_this_user_does_not_own_alone_are_not_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local_server.tempfile, "gettempdir", lambda: str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"hardhouse-ports-{os.getuid()}").symlink_to(elsewhere)
    assert local_server._reservations() is None
    (tmp_path / f"hardhouse-ports-{os.getuid()}").unlink()
    (tmp_path / f"hardhouse-ports-{os.getuid()}").mkdir(mode=0o777)
    os.chmod(tmp_path / f"hardhouse-ports-{os.getuid()}", 0o777)
    assert local_server._reservations() is None
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert free_port() >= low  # the kernel's pick, as before
    assert list(elsewhere.iterdir()) == []
