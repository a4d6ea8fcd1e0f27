"""ClickHouse as the oracle: start Debian's 18.16 on a configuration tree inside a network
namespace of its own, and observe what it really does: the sockets it listens on and whom it
lets in, over HTTP from chosen source addresses.

Each server runs in `unshare --net` with only `lo` up, so a tree that binds 0.0.0.0 or `::`
exposes nothing but that namespace, the stock ports can be used without colliding with
anything, and many servers can run side by side. The observation is made from a thread that
joins the server's namespace (setns), so no extra process is started per tree.
"""

from __future__ import annotations

import base64
import ctypes
import http.client
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hardhouse.testing.local_server import server_binary

CLONE_NEWNET = 0x40000000
HTTP_PORT = 8123
READY_MARK = b"Ready for connections"
# Source addresses a login is tried from: one the generated trees list, one no tree ever lists.
LISTED_SOURCE = "127.0.0.1"
UNLISTED_SOURCE = "127.0.0.77"
LOGIN_TIMEOUT = 3.0


@dataclass
class Observation:
    started: bool  # the server reached "Ready for connections"
    listening: set[tuple[str, int]] = field(default_factory=set)  # (address, port) in LISTEN
    # (user, source address, password given) -> HTTP status (200: let in), or None: no answer
    logins: dict[tuple[str, str, str], int | None] = field(default_factory=dict)
    log: str = ""

    def let_in(self, user: str, source: str, password: str = "") -> bool:
        return self.logins.get((user, source, password)) == 200


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL("libc.so.6", use_errno=True)


def proc_sockets(pid: int) -> set[tuple[str, int]]:
    """LISTEN sockets of the network namespace `pid` lives in (/proc/PID/net/tcp and tcp6)."""
    found: set[tuple[str, int]] = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":
                continue
            address_hex, port_hex = parts[1].split(":")
            raw = bytes.fromhex(address_hex)
            # The kernel prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(family, raw), int(port_hex, 16)))
    return found


def _http_status(destination: str, source: str, user: str, password: str) -> int | None:
    family = socket.AF_INET6 if ":" in destination else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(LOGIN_TIMEOUT)
            sock.bind((source, 0))
            sock.connect((destination, HTTP_PORT))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request = (
                "GET /?query=SELECT%201 HTTP/1.1\r\n"
                f"Host: x\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(request.encode())
            response = http.client.HTTPResponse(sock)
            response.begin()
            return response.status
    except (OSError, http.client.HTTPException):
        return None


def _observe_inside(pid: int, tries: list[tuple[str, str, str]], out: Observation) -> None:
    """In a thread of its own: join the server's network namespace, then try each login."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if _libc().setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)
    v4 = any(a in ("0.0.0.0", "127.0.0.1") for a, p in out.listening if p == HTTP_PORT)
    v6 = any(a in ("::", "::1") for a, p in out.listening if p == HTTP_PORT)
    for user, source, password in tries:
        if ":" in source:
            status = _http_status("::1", source, user, password) if v6 else None
        else:
            # IPv4 clients reach a `::` socket too (dual stack), as ::ffff:127.0.0.x.
            status = _http_status("127.0.0.1", source, user, password) if v4 or v6 else None
        out.logins[(user, source, password)] = status


def observe(
    etc: Path, tries: list[tuple[str, str, str]], timeout: float = 20.0, environment: dict[str, str] | None = None
) -> Observation:
    """Start 18.16 on etc/config.xml in a namespace of its own, observe, stop it.
    environment: variables set for the server (what from_env and ${system.env.*} read)."""
    binary = server_binary()
    assert binary, "clickhouse-server is not installed"
    log_path = etc.parent / "stdout.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            in_own_namespace(binary, f"--config-file={etc / 'config.xml'}"),
            cwd=etc.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(environment or {})},
        )
        try:
            started = _wait_ready(process, etc.parent, timeout)
            out = Observation(started)
            if started:
                out.listening = proc_sockets(process.pid)
                worker = threading.Thread(target=_observe_inside, args=(process.pid, tries, out))
                worker.start()
                worker.join()
        finally:
            stop(process)
    out.log = _tail(etc.parent)
    return out


def in_own_namespace(*command: str) -> list[str]:
    """`command` in a network namespace of its own with only `lo`, up."""
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *command]


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, ten seconds to go, then SIGKILL."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _logs(base: Path) -> bytes:
    data = b""
    for name in ("stdout.log", "server.log", "server.err.log"):
        path = base / name
        if path.exists():
            data += path.read_bytes()[-200_000:]
    return data


def _wait_ready(process: subprocess.Popen[bytes], base: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY_MARK in _logs(base):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.03)
    return False


def _tail(base: Path) -> str:
    return _logs(base).decode(errors="replace")[-2500:]
