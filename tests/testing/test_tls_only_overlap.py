"""assert_tls_only runs the quick TLS postures beside the probe (hardhouse.testing.assertions):
postures are asked only for ports where a real TLS handshake completes, they start before the
probe ends, and the probe still decides which ports are judged, so a TLS port the early
handshake missed is scanned afterwards. Loopback listeners stand in for a server; the probe
and the worker child are replaced by recorders."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.ca import write_server_material
from hardhouse.probe.model import EndpointReport, State, TlsPosture
from hardhouse.testing import assertions
from hardhouse.testing.assertions import Target, assert_tls_only

HOST = "127.0.0.1"


def _listen(handle) -> Iterator[int]:  # type: ignore[no-untyped-def]
    server = socket.create_server((HOST, 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


@pytest.fixture
def tls_port(tmp_path: Path) -> Iterator[int]:
    material = write_server_material(tmp_path, [HOST])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(material.certificate, material.private_key)

    def handle(connection: socket.socket) -> None:
        connection.settimeout(5)
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            connection.close()

    yield from _listen(handle)


@pytest.fixture
def plain_port() -> Iterator[int]:
    def handle(connection: socket.socket) -> None:
        with connection:
            connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    yield from _listen(handle)


class Recorder:
    """Stands in for the probe (reports said to be TLS or not, after `probe_takes` seconds)
    and for quick_postures (answers `posture` for every port, noting when it was asked)."""

    def __init__(self, tls_ports: set[int], posture: TlsPosture, probe_takes: float = 0.0):
        self.tls_ports, self.posture, self.probe_takes = tls_ports, posture, probe_takes
        self.asked: list[tuple[float, list[int]]] = []
        self.probe_ended = 0.0

    async def probe(self, target: Target, *, tls_scan: bool, logins: bool) -> list[EndpointReport]:
        import asyncio

        await asyncio.sleep(self.probe_takes)
        self.probe_ended = time.monotonic()
        return [
            EndpointReport(f"{target.address}", port, state=State.OPEN, tls=port in self.tls_ports)
            for port in target.ports
        ]

    def quick_postures(self, host: str, ports: list[int], *, gather: bool) -> dict[int, TlsPosture]:
        assert not gather  # one caller: nobody to wait for
        self.asked.append((time.monotonic(), list(ports)))
        return {port: self.posture for port in ports}


def test_postures_start_beside_the_probe_and_only_for_ports_that_speak_tls(
    tls_port: int, plain_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder({tls_port}, TlsPosture("handshakes", accepted_versions=["TLSv1.2"]), probe_takes=0.5)
    monkeypatch.setattr(assertions, "_probe", recorder.probe)
    monkeypatch.setattr(assertions, "quick_postures", recorder.quick_postures)
    with pytest.raises(AssertionError) as report:
        assert_tls_only(Target(HOST, (tls_port, plain_port)))
    assert f"{plain_port} accepts connections without TLS" in str(report.value)
    assert f"{tls_port}" not in str(report.value)  # the TLS port's posture is clean
    [(asked_at, ports)] = recorder.asked
    assert ports == [tls_port]
    assert asked_at < recorder.probe_ended  # side by side, not after


def test_a_tls_port_the_early_handshake_missed_is_scanned_after_the_probe(
    tls_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = TlsPosture("handshakes", accepted_versions=["TLSv1.0", "TLSv1.2"])
    recorder = Recorder({tls_port}, weak)

    async def refused(host: str, port: int) -> bool:
        return False

    monkeypatch.setattr(assertions, "_probe", recorder.probe)
    monkeypatch.setattr(assertions, "_speaks_tls", refused)
    monkeypatch.setattr(assertions, "quick_postures", recorder.quick_postures)
    with pytest.raises(AssertionError, match=f"{tls_port} negotiated TLSv1.0"):
        assert_tls_only(Target(HOST, (tls_port,)))
    [(asked_at, ports)] = recorder.asked
    assert ports == [tls_port] and asked_at >= recorder.probe_ended


def test_a_closed_port_or_a_plain_one_does_not_count_as_speaking_tls(plain_port: int) -> None:
    closed = socket.create_server((HOST, 0))
    port = closed.getsockname()[1]
    closed.close()
    assert not assertions.run_sync(assertions._speaks_tls(HOST, port))
    assert not assertions.run_sync(assertions._speaks_tls(HOST, plain_port))


def test_a_tls_listener_counts_as_speaking_tls(tls_port: int) -> None:
    assert assertions.run_sync(assertions._speaks_tls(HOST, tls_port))
