"""The probe's ZooKeeper checks against fake ZooKeepers that fight back: a reply announcing a
gigabyte frame, a vector longer than its reply, a session that drips, endless four-letter
answers and a version line meant to corrupt the report. Each scan runs `hardhouse probe` in a
child whose address space is capped (tests.probe.test_hostile.probe): it ends on time, its
memory stays flat and the report stays small and clean."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hardhouse.ca import write_server_material
from hardhouse.probe import ProbeOptions, probe_endpoint_sync
from hardhouse.probe.wire.zookeeper import READ_ONLY_WORDS
from tests.probe.fakes import tcp_service
from tests.probe.test_hostile import RSS_LIMIT_KB, endpoint_of, probe

CONNECT_RESPONSE = struct.pack(">i", 36) + struct.pack(">iiq", 0, 10000, 0x1234) + struct.pack(">i", 16) + b"\0" * 16
DEADLINE = 8
ARGS = ["--timeout", "1", "--deadline", str(DEADLINE), "--no-tls-scan", "--json"]


def _exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def fake_zookeeper(
    session: Callable[[socket.socket], None], words: Callable[[socket.socket, bytes], None] | None = None
) -> Callable[[socket.socket], None]:
    """Answers a ConnectRequest like ZooKeeper, then hands the session to `session`; a
    four-letter word goes to `words` (default: not in the whitelist)."""

    def handle(conn: socket.socket) -> None:
        conn.settimeout(5)
        head = _exactly(conn, 4)
        if head.isalpha():
            if words is None:
                conn.sendall(head + b" is not executed because it is not in the whitelist.\n")
            else:
                words(conn, head)
            return
        (size,) = struct.unpack(">i", head)
        if not 0 < size < 1024:
            return  # an HTTP request, a TLS hello, a native Hello: ZooKeeper closes too
        _exactly(conn, size)
        conn.sendall(CONNECT_RESPONSE)
        session(conn)

    return handle


def huge_frame(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(struct.pack(">i", 0x7FFFFFFF))
    block = b"A" * 65536
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conn.sendall(block)


def long_vector(conn: socket.socket) -> None:
    """A getChildren reply that claims two billion children in a 24-byte frame."""
    while True:
        request = conn.recv(4096)
        if not request:
            return
        body = struct.pack(">iqi", 1, 0, 0) + struct.pack(">i", 0x7FFFFFFF) + b"xxxx"
        conn.sendall(struct.pack(">i", len(body)) + body)


def dripping(conn: socket.socket) -> None:
    conn.recv(4096)
    for byte in struct.pack(">i", 200) + b"\0" * 200:
        conn.sendall(bytes([byte]))
        time.sleep(0.5)


def endless_words(conn: socket.socket, word: bytes) -> None:
    block = word + b" " + b"W" * 65536 + b"\n"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conn.sendall(block)


def hostile_srvr(conn: socket.socket, word: bytes) -> None:
    if word == b"srvr":
        conn.sendall(b"Zookeeper version: 3.8.0\x1b[2J\x1b]0;pwned\x07EVIL" + b"x" * 5000 + b"\nMode: standalone\n")
    else:
        conn.sendall(word + b" is not executed because it is not in the whitelist.\n")


def session_refusing(conn: socket.socket) -> None:
    time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("session", "error"),
    [
        pytest.param(huge_frame, "reply refused: frame of 2147483647 bytes", id="gigabyte frame"),
        pytest.param(long_vector, "vector longer than its reply", id="vector longer than its reply"),
        pytest.param(dripping, "", id="session that drips"),
    ],
)
def test_a_hostile_session_ends_on_time_with_flat_memory(session: Callable, error: str) -> None:
    with tcp_service(fake_zookeeper(session)) as port:
        run = probe(f"127.0.0.1:{port}", *ARGS)
    endpoint = endpoint_of(run)
    assert endpoint["service"] == "zookeeper"
    assert run.seconds < DEADLINE + 8, f"took {run.seconds:.1f}s with --deadline {DEADLINE}"
    assert run.peak_rss_kb < RSS_LIMIT_KB, f"peak RSS {run.peak_rss_kb} KiB"
    errors = " ".join(endpoint["zookeeper"]["errors"] + [endpoint["error"] or ""])
    assert error in errors and errors.strip(), errors
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_endless_four_letter_answers_are_cut_off() -> None:
    with tcp_service(fake_zookeeper(session_refusing, endless_words)) as port:
        run = probe(f"127.0.0.1:{port}", *ARGS)
    endpoint = endpoint_of(run)
    assert set(endpoint["zookeeper"]["words"]) == set(READ_ONLY_WORDS)
    assert run.seconds < DEADLINE + 8 and run.peak_rss_kb < RSS_LIMIT_KB
    assert "W" * 300 not in run.stdout


@pytest.mark.slow
def test_the_version_line_reaches_the_report_only_escaped() -> None:
    with tcp_service(fake_zookeeper(session_refusing, hostile_srvr)) as port:
        run = probe(f"127.0.0.1:{port}", *ARGS)
    endpoint = endpoint_of(run)
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout and "x" * 300 not in run.stdout
    assert endpoint["zookeeper"]["version"].startswith("Zookeeper version: 3.8.0\\x1b[2J")
    assert endpoint["version"] == "3.8.0"
    # srvr alone is not a finding; the note that ZooKeeper answers carries the version, escaped too
    assert endpoint["findings"] == []
    ((note),) = endpoint["notes"]
    assert note["id"] == "zookeeper-answers" and note["data"]["version"] == endpoint["zookeeper"]["version"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(struct.pack(">i", 0x7FFFFFFF) + b"A" * 100000, id="gigabyte frame"),
        pytest.param(struct.pack(">i", 36) + b"\xff" * 36, id="garbage the size of a ConnectResponse"),
        pytest.param(CONNECT_RESPONSE[:20], id="a cut ConnectResponse"),
    ],
)
def test_what_only_looks_like_zookeeper_is_not(answer: bytes) -> None:
    def handle(conn: socket.socket) -> None:
        conn.settimeout(3)
        conn.recv(4096)
        conn.sendall(answer)
        time.sleep(1.5)

    with tcp_service(handle) as port:
        run = probe(f"127.0.0.1:{port}", *ARGS)
    endpoint = endpoint_of(run)
    assert endpoint["service"] != "zookeeper" and endpoint.get("zookeeper") is None
    assert run.seconds < DEADLINE + 8 and run.peak_rss_kb < RSS_LIMIT_KB
    assert json.dumps(endpoint)  # a plain, printable report


def empty_tree(conn: socket.socket) -> None:
    """Answers every request with success and an empty vector (no children, no ACL entries)."""
    while True:
        try:
            size = struct.unpack(">i", _exactly(conn, 4))[0]
            request = _exactly(conn, size)
        except OSError:
            return
        (xid,) = struct.unpack(">i", request[:4])
        body = struct.pack(">iqi", xid, 0, 0) + struct.pack(">i", 0)
        conn.sendall(struct.pack(">i", len(body)) + body)


def test_a_zookeeper_over_tls_is_found_and_questioned_over_tls(tmp_path: Path) -> None:
    """Keeper's TLS client port (9281) speaks the same protocol inside TLS."""
    material = write_server_material(tmp_path, ["127.0.0.1"])
    with tcp_service(fake_zookeeper(empty_tree), tls=(material.certificate, material.private_key)) as port:
        report = probe_endpoint_sync("127.0.0.1", port, ProbeOptions(timeout=1.0, deadline=20, tls_scan=False))
    assert report.service == "zookeeper" and report.tls
    assert report.zookeeper is not None and report.zookeeper.errors == []
    assert report.zookeeper.readable["/"] == 0 and report.zookeeper.readable["/clickhouse"] == 0
