"""ZooKeeper's client protocol (jute), as far as the probe and the tests need it: the session
handshake, digest auth, getData, getChildren, getACL, create, and the four-letter words; and
getACL of several paths as one batch of bytes for a relay (acl_requests, parse_acl_answers).
ClickHouse Keeper speaks the same protocol (and the same four-letter words).

Pure encoders and parsers first (the probe's asyncio transport sends `connect_frame()` and
judges the answer with `parse_connect_response`), then ZooKeeperClient, one blocking session
whose every reply is length-prefixed and bounded: a frame longer than MAX_FRAME, a session
past its deadline or a peer slower than the timeout ends it, so a hostile or broken server
cannot make it read without bound or wait forever.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from types import TracebackType

MAX_FRAME = 1 << 20
# Operation codes and error codes from ZooKeeper's protocol (ZooDefs.OpCode, KeeperException.Code).
OP_CREATE, OP_GET_DATA, OP_GET_ACL, OP_GET_CHILDREN, OP_AUTH, OP_CLOSE = 1, 4, 6, 8, 100, -11
AUTH_XID = -4
OK, CONNECTION_LOSS, OPERATION_TIMEOUT = 0, -4, -7
NO_NODE, NO_AUTH, NODE_EXISTS, AUTH_FAILED = -101, -102, -110, -115
# ACL permission bits (ZooDefs.Perms).
PERM_READ, PERM_WRITE, PERM_CREATE, PERM_DELETE, PERM_ADMIN = 1, 2, 4, 8, 16
PERM_ALL = 31
PERM_NAMES = {PERM_READ: "read", PERM_WRITE: "write", PERM_CREATE: "create", PERM_DELETE: "delete", PERM_ADMIN: "admin"}
WORLD_ANYONE = ("world", "anyone")
SESSION_TIMEOUT_MS = 10000
CONNECT_RESPONSE_SIZE = 4 + 4 + 4 + 8 + 4 + 16  # length, protocol, timeout, session id, password

# Four-letter words that only read (ZooKeeper's and Keeper's). Never crst/srst (reset
# statistics), stmk (sets the trace mask), kill, nor Keeper's csnp/rqld/ydld (snapshot,
# leadership): the probe changes nothing on a server it looks at.
READ_ONLY_WORDS = (
    "ruok",
    "isro",
    "srvr",
    "stat",
    "cons",
    "mntr",
    "envi",
    "conf",
    "dump",
    "wchs",
    "wchc",
    "wchp",
    "dirs",
)
# What each word tells whoever asks.
WORD_LEAKS = {
    "ruok": "liveness",
    "isro": "read-only mode",
    "srvr": "version and counters",
    "stat": "version, counters and every client's address",
    "cons": "every connection: client addresses, sessions, operations",
    "mntr": "version, counters, znode and watch counts",
    "envi": "the JVM environment: host name, paths, user, class path",
    "conf": "the server's configuration",
    "dump": "every session and its ephemeral znode paths",
    "wchs": "watch counts",
    "wchc": "watched paths per session",
    "wchp": "watched paths and the sessions watching them",
    "dirs": "snapshot and log sizes",
}
# ZooKeeper's answer to a word outside 4lw.commands.whitelist.
NOT_WHITELISTED = b"is not executed because it is not in the whitelist"


class ZooKeeperError(Exception):
    def __init__(self, code: int, what: str):
        super().__init__(f"{what}: ZooKeeper error {code}")
        self.code = code


def string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">i", len(data)) + data


def buffer(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def connect_frame() -> bytes:
    """A ConnectRequest: protocol 0, no zxid seen, a 10 s session, no previous session, read-write."""
    return frame(struct.pack(">iqiq", 0, 0, SESSION_TIMEOUT_MS, 0) + buffer(b"\0" * 16) + b"\0")


@dataclass(frozen=True)
class ConnectResponse:
    protocol: int
    timeout_ms: int  # 0: the server refused the session
    session_id: int


def frame_size(data: bytes) -> int | None:
    """The length a frame announces (None until 4 bytes are there); ValueError beyond MAX_FRAME."""
    if len(data) < 4:
        return None
    (size,) = struct.unpack(">i", data[:4])
    if not 0 <= size <= MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    return int(size)


def connect_response_complete(data: bytes) -> bool:
    """True once `data` holds a whole ConnectResponse frame, or cannot become one."""
    try:
        size = frame_size(data)
    except ValueError:
        return True
    return size is not None and (size > 64 or len(data) >= 4 + size)


def parse_connect_response(data: bytes) -> ConnectResponse | None:
    """The server's answer to connect_frame(), or None when `data` is not one."""
    try:
        size = frame_size(data)
    except ValueError:
        return None
    # 36 bytes (a 16-byte password), 37 with the read-only flag newer servers append.
    if size not in (36, 37) or len(data) < 4 + size:
        return None
    protocol, timeout_ms, session_id = struct.unpack(">iiq", data[4:20])
    (password_size,) = struct.unpack(">i", data[20:24])
    if password_size != 16 or protocol < 0 or not 0 <= timeout_ms <= 24 * 3600 * 1000:
        return None
    return ConnectResponse(protocol, timeout_ms, session_id)


def permissions(bits: int) -> list[str]:
    return [name for bit, name in PERM_NAMES.items() if bits & bit]


class Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
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

    def count(self) -> int:
        """A vector's length, checked against what the reply can hold (4 bytes per entry at least)."""
        size = self.int()
        if size > (len(self.data) - self.at) // 4:
            raise ZooKeeperError(-1, "vector longer than its reply")
        return max(size, 0)


def acl_requests(paths: list[str]) -> bytes:
    """One anonymous session sent in one go, for a relay that cannot converse (a host's bash
    writing these bytes to its own ZooKeeper and reading back what comes): the handshake, getACL
    of each path (xid 1, 2, ...) and closeSession, after whose answer the server closes the
    connection. ZooKeeper reads nothing more of a connection until its session is set up, so
    the requests wait their turn."""
    requests = [frame(struct.pack(">ii", xid, OP_GET_ACL) + string(path)) for xid, path in enumerate(paths, 1)]
    return connect_frame() + b"".join(requests) + frame(struct.pack(">ii", len(paths) + 1, OP_CLOSE))


def parse_acl_answers(data: bytes, paths: list[str]) -> dict[str, tuple[int, list[tuple[int, str, str]]]]:
    """The server's bytes for acl_requests(paths) -> each answered path's (error code, its ACL
    entries when OK). A path whose answer is missing or damaged is not in the result. Raises
    ZooKeeperError when the handshake is not a ZooKeeper one or the session was refused.
    Untrusted bytes: every length is checked against what arrived."""
    frames: list[bytes] = []
    at = 0
    while at < len(data):
        try:
            size = frame_size(data[at:])
        except ValueError:
            break
        if size is None or at + 4 + size > len(data):
            break
        frames.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    if not frames or parse_connect_response(frame(frames[0])) is None:
        raise ZooKeeperError(-1, "not a ZooKeeper ConnectResponse")
    if Reader(frames[0][4:8]).int() <= 0:
        raise ZooKeeperError(-1, "session refused")
    answers: dict[str, tuple[int, list[tuple[int, str, str]]]] = {}
    for payload in frames[1:]:
        reply = Reader(payload)
        try:
            xid, _zxid, err = reply.int(), reply.long(), reply.int()
            if not 1 <= xid <= len(paths) or paths[xid - 1] in answers:
                continue  # a watch event, the close's answer, or a repeat: not a getACL answer
            entries = [] if err != OK else [(reply.int(), reply.string(), reply.string()) for _ in range(reply.count())]
        except ZooKeeperError:
            continue  # damaged: that path stays unanswered
        answers[paths[xid - 1]] = (err, entries)
    return answers


class ZooKeeperClient:
    """One session; use as a context manager. Each call raises ZooKeeperError with the
    server's error code (NO_AUTH, NO_NODE...) when the server refuses, and with
    OPERATION_TIMEOUT once `deadline` seconds have passed since the session began."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, deadline: float = 60.0, tls: bool = False):
        self.ends = time.monotonic() + deadline
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            # Here: transport loads asyncio, which a plaintext session in a worker child never needs.
            from hardhouse.probe.transport import permissive_context

            self.sock = permissive_context().wrap_socket(self.sock, server_hostname=host)
        self.xid = 0
        try:
            self.sock.sendall(connect_frame())
            answer = self._receive()
            if parse_connect_response(struct.pack(">i", len(answer)) + answer) is None:
                raise ZooKeeperError(-1, "not a ZooKeeper ConnectResponse")
            if Reader(answer[4:8]).int() <= 0:  # negotiated session timeout: 0 means the session was refused
                raise ZooKeeperError(-1, "session refused")
        except BaseException:
            self.sock.close()
            raise

    def _send(self, payload: bytes) -> None:
        self.sock.sendall(frame(payload))

    def _exact(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            remaining = self.ends - time.monotonic()
            if remaining <= 0:
                raise ZooKeeperError(OPERATION_TIMEOUT, "session deadline passed")
            self.sock.settimeout(min(self.timeout, remaining))
            try:
                chunk = self.sock.recv(min(65536, size - len(data)))
            except TimeoutError:
                raise ZooKeeperError(OPERATION_TIMEOUT, f"no answer within {self.timeout:g}s") from None
            if not chunk:
                raise ZooKeeperError(CONNECTION_LOSS, "connection closed")
            data += chunk
        return bytes(data)

    def _receive(self) -> bytes:
        try:
            size = frame_size(self._exact(4))
        except ValueError as error:
            raise ZooKeeperError(-1, f"reply refused: {error}") from None
        return self._exact(size or 0)

    def _call(self, op: int, body: bytes, what: str, xid: int | None = None) -> Reader:
        if xid is None:
            self.xid += 1
            xid = self.xid
        self._send(struct.pack(">ii", xid, op) + body)
        while True:
            reply = Reader(self._receive())
            got, _zxid, err = reply.int(), reply.long(), reply.int()
            if got == -1:  # a watch event: not ours
                continue
            if err != OK:
                raise ZooKeeperError(err, what)
            return reply

    def add_auth(self, scheme: str, credentials: str) -> None:
        self._call(OP_AUTH, struct.pack(">i", 0) + string(scheme) + buffer(credentials.encode()), "auth", AUTH_XID)

    def get_data(self, path: str) -> bytes:
        return self._call(OP_GET_DATA, string(path) + b"\0", f"get {path}").buffer()

    def get_children(self, path: str) -> list[str]:
        reply = self._call(OP_GET_CHILDREN, string(path) + b"\0", f"ls {path}")
        return [reply.string() for _ in range(reply.count())]

    def get_acl(self, path: str) -> list[tuple[int, str, str]]:
        """(permissions, scheme, id) for each ACL entry of path."""
        reply = self._call(OP_GET_ACL, string(path), f"getAcl {path}")
        return [(reply.int(), reply.string(), reply.string()) for _ in range(reply.count())]

    def create(
        self, path: str, data: bytes = b"", acl: list[tuple[int, str, str]] | None = None, ephemeral: bool = False
    ) -> None:
        """A znode, open to the world unless `acl` is given (the tests plant znodes with it; the
        probe never creates anything). An ephemeral one ends with this session: the deploy's
        verification tries an anonymous write that way, leaving nothing if it is accepted."""
        entries = acl if acl is not None else [(PERM_ALL, *WORLD_ANYONE)]
        encoded = struct.pack(">i", len(entries)) + b"".join(
            struct.pack(">i", perms) + string(scheme) + string(ident) for perms, scheme, ident in entries
        )
        flags = struct.pack(">i", 1 if ephemeral else 0)
        self._call(OP_CREATE, string(path) + buffer(data) + encoded + flags, f"create {path}")

    def close(self) -> None:
        try:
            self.ends = min(self.ends, time.monotonic() + 1.0)
            self._call(OP_CLOSE, b"", "close")
        except (OSError, ZooKeeperError):
            pass
        self.sock.close()

    def __enter__(self) -> ZooKeeperClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
