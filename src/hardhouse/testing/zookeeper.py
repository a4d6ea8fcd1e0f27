"""Debian's ZooKeeper as a child process, and a tiny bounded ZooKeeper client.

LocalZooKeeper runs one standalone server (`zkServer.sh start-foreground CONFIG`) on a
loopback address, with the admin HTTP server and JMX off and only `ruok` among the
four-letter words; start() waits a bounded time, stop() always ends the process it started
(used as a context manager, also when a test fails).

ZooKeeperClient speaks just enough of ZooKeeper's wire protocol (jute) to prove who may read
and write a znode: connect, add digest auth, getData, getChildren, getACL, create. Every reply
is length-prefixed; a length beyond MAX_FRAME or a peer slower than the timeout ends the
session, so a hostile or broken server cannot make it read without bound. Debian's zkCli.sh
would do the same job at the cost of a JVM start per call.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType

from hardhouse.testing.clients import port_open

ZK_SERVER = Path("/usr/share/zookeeper/bin/zkServer.sh")
ZK_CLIENT = Path("/usr/share/zookeeper/bin/zkCli.sh")
# The heap a test ZooKeeper may use; its JVM would otherwise size itself from the machine.
HEAP = "-Xmx256m"
MAX_FRAME = 1 << 20

# Operation codes and error codes from ZooKeeper's protocol (ZooDefs.OpCode, KeeperException.Code).
OP_CREATE, OP_GET_DATA, OP_GET_ACL, OP_GET_CHILDREN, OP_AUTH, OP_CLOSE = 1, 4, 6, 8, 100, -11
AUTH_XID = -4
OK, NO_NODE, NO_AUTH, NODE_EXISTS, AUTH_FAILED = 0, -101, -102, -110, -115
PERM_ALL = 31
WORLD_ANYONE = ("world", "anyone")


def zookeeper_installed() -> bool:
    return ZK_SERVER.exists() and shutil.which("java") is not None


class LocalZooKeeper:
    """One standalone ZooKeeper; use as a context manager, or call start()/stop()."""

    def __init__(self, workdir: Path, address: str, port: int):
        self.workdir = workdir
        self.address = address
        self.port = port
        self.config = workdir / "zoo.cfg"
        self.process: subprocess.Popen[bytes] | None = None
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "tickTime=2000\n"
            f"dataDir={workdir / 'data'}\n"
            f"clientPort={port}\n"
            # Only this loopback address, never every interface.
            f"clientPortAddress={address}\n"
            # No admin HTTP server (stock: 8080 on every interface).
            "admin.enableServer=false\n"
            # Four-letter words off except the liveness check.
            "4lw.commands.whitelist=ruok\n"
            "maxClientCnxns=60\n",
            encoding="utf-8",
        )

    def start(self, timeout: float = 30.0) -> None:
        if not zookeeper_installed():
            raise FileNotFoundError("ZooKeeper is not installed (scripts/setup-machine installs Debian's zookeeper)")
        log = (self.workdir / "zookeeper.log").open("ab")
        self.process = subprocess.Popen(
            [str(ZK_SERVER), "start-foreground", str(self.config)],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # JMX would open an RMI port on every interface.
            env={"PATH": "/usr/bin:/bin", "JVMFLAGS": HEAP, "JMXDISABLE": "true", "ZOO_LOG_DIR": str(self.workdir)},
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.serving():
            if self.process.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"ZooKeeper did not open {self.address}:{self.port} within {timeout:.0f}s")
            time.sleep(0.1)

    def serving(self) -> bool:
        """A session can be opened (the port opens a moment before the server serves)."""
        if not port_open(self.address, self.port):
            return False
        try:
            ZooKeeperClient(self.address, self.port, timeout=2.0).close()
        except (OSError, ZooKeeperError):
            return False
        return True

    def log_tail(self, size: int = 4000) -> str:
        path = self.workdir / "zookeeper.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # zkServer.sh execs java: this is the JVM itself
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> LocalZooKeeper:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class ZooKeeperError(Exception):
    def __init__(self, code: int, what: str):
        super().__init__(f"{what}: ZooKeeper error {code}")
        self.code = code


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">i", len(data)) + data


def _buffer(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise ZooKeeperError(-1, "truncated reply")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def int(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def long(self) -> int:
        return int(struct.unpack(">q", self.take(8))[0])

    def buffer(self) -> bytes:
        size = self.int()
        return b"" if size < 0 else self.take(size)

    def string(self) -> str:
        return self.buffer().decode("utf-8", errors="replace")


class ZooKeeperClient:
    """One session; use as a context manager. Each call raises ZooKeeperError with the
    server's error code (NO_AUTH, NO_NODE...) when the server refuses."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.xid = 0
        request = struct.pack(">iqiq", 0, 0, 10000, 0) + _buffer(b"\0" * 16) + b"\0"
        self._send(request)
        reply = _Reader(self._receive())
        reply.int()  # protocol version
        if reply.int() <= 0:  # negotiated session timeout: 0 means the session was refused
            raise ZooKeeperError(-1, "session refused")

    def _send(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _exact(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(min(65536, size - len(data)))
            if not chunk:
                raise ZooKeeperError(-4, "connection closed")  # -4: CONNECTIONLOSS
            data += chunk
        return data

    def _receive(self) -> bytes:
        (size,) = struct.unpack(">i", self._exact(4))
        if not 0 <= size <= MAX_FRAME:
            raise ZooKeeperError(-1, f"reply of {size} bytes refused")
        return self._exact(size)

    def _call(self, op: int, body: bytes, what: str, xid: int | None = None) -> _Reader:
        if xid is None:
            self.xid += 1
            xid = self.xid
        self._send(struct.pack(">ii", xid, op) + body)
        while True:
            reply = _Reader(self._receive())
            got, _zxid, err = reply.int(), reply.long(), reply.int()
            if got == -1:  # a watch event: not ours
                continue
            if err != OK:
                raise ZooKeeperError(err, what)
            return reply

    def add_auth(self, scheme: str, credentials: str) -> None:
        self._call(OP_AUTH, struct.pack(">i", 0) + _string(scheme) + _buffer(credentials.encode()), "auth", AUTH_XID)

    def get_data(self, path: str) -> bytes:
        return self._call(OP_GET_DATA, _string(path) + b"\0", f"get {path}").buffer()

    def get_children(self, path: str) -> list[str]:
        reply = self._call(OP_GET_CHILDREN, _string(path) + b"\0", f"ls {path}")
        count = reply.int()
        return [reply.string() for _ in range(max(count, 0))]

    def get_acl(self, path: str) -> list[tuple[int, str, str]]:
        """(permissions, scheme, id) for each ACL entry of path."""
        reply = self._call(OP_GET_ACL, _string(path), f"getAcl {path}")
        return [(reply.int(), reply.string(), reply.string()) for _ in range(max(reply.int(), 0))]

    def create(self, path: str, data: bytes = b"") -> None:
        """A persistent znode open to the world (as an anonymous writer would make one)."""
        acl = struct.pack(">i", 1) + struct.pack(">i", PERM_ALL) + _string(WORLD_ANYONE[0]) + _string(WORLD_ANYONE[1])
        self._call(OP_CREATE, _string(path) + _buffer(data) + acl + struct.pack(">i", 0), f"create {path}")

    def close(self) -> None:
        try:
            self._call(OP_CLOSE, b"", "close")
        except (OSError, ZooKeeperError):
            pass
        self.sock.close()

    def __enter__(self) -> ZooKeeperClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
