"""hardhouse.testing.zookeeper: the ZooKeeper helper starts and always stops Debian's server,
and its client stays bounded against a hostile peer."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hardhouse.testing.clients import port_open
from hardhouse.testing.local_server import free_port
from hardhouse.testing.zookeeper import (
    MAX_FRAME,
    NO_NODE,
    LocalZooKeeper,
    ZooKeeperClient,
    ZooKeeperError,
    zookeeper_installed,
)
from tests.helpers import require


@contextmanager
def fake_server(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(1024)
            answer(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=5)


@pytest.mark.slow
def test_a_reply_larger_than_the_bound_is_refused_unread() -> None:
    def huge(connection: socket.socket) -> None:
        connection.sendall(struct.pack(">i", MAX_FRAME + 1))
        time.sleep(1)

    with fake_server(huge) as port, pytest.raises(ZooKeeperError, match="refused"):
        ZooKeeperClient("127.0.0.1", port, timeout=2)


@pytest.mark.slow
def test_a_silent_peer_ends_in_the_timeout() -> None:
    with fake_server(lambda connection: time.sleep(3)) as port:
        started = time.monotonic()
        with pytest.raises(ZooKeeperError, match="no answer within 0.5s"):
            ZooKeeperClient("127.0.0.1", port, timeout=0.5)
        assert time.monotonic() - started < 2.5


@pytest.mark.integration
@pytest.mark.live
def test_local_zookeeper_serves_on_its_address_only_and_stops(tmp_path: Path) -> None:
    require(zookeeper_installed(), "Debian's zookeeper is not installed")
    address = "127.0.0.21"
    port = free_port(address)
    with LocalZooKeeper(tmp_path, address, port) as zookeeper:
        zookeeper.start()
        assert not port_open("127.0.0.1", port)  # clientPortAddress: not on every interface
        with ZooKeeperClient(address, port) as client:
            with pytest.raises(ZooKeeperError) as missing:
                client.get_data("/hardhouse-missing")
            assert missing.value.code == NO_NODE
        # four-letter words outside the allow-list are off (ZooKeeper always keeps srvr, which
        # its own zkServer.sh status needs: that one cannot be turned off)
        for word, answer in ((b"conf", b"clientPort"), (b"envi", b"java.version"), (b"ruok", b"imok")):
            with socket.create_connection((address, port), timeout=5) as raw:
                raw.sendall(word)
                reply = raw.recv(4096)
            assert (answer in reply) == (word == b"ruok"), (word, reply)
    assert zookeeper.process is not None and zookeeper.process.poll() is not None
    assert not port_open(address, port)
