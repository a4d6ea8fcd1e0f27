"""ClickHouse's native protocol, as far as a login goes: the client Hello and the server's
answer to it (its Hello, or an exception). Strings are bounded; nothing else is sent."""

from __future__ import annotations

import struct
from dataclasses import dataclass

CLIENT_NAME = "hardhouse-probe"
# Native protocol revision the probe announces: old enough for 18.16 and accepted by modern
# servers; its server Hello carries name, version, timezone, display name and patch only.
REVISION = 54429
# 18.16's HTTP interface answers a native client on the HTTP port with this text.
MARKER_ON_HTTP = "is for clickhouse-client program"
STRING_MAX = 1 << 16  # exception messages and stack traces are shorter than this


class Incomplete(Exception):
    """More bytes are needed."""


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise Incomplete
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def varint(self) -> int:
        result = 0
        for shift in range(0, 70, 7):
            byte = self.take(1)[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
        raise ValueError("varint too long")

    def string(self, limit: int = STRING_MAX) -> str:
        size = self.varint()
        if size > limit:
            raise ValueError("string too long")
        return self.take(size).decode("utf-8", errors="replace")


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def string(text: str) -> bytes:
    raw = text.encode()
    return varint(len(raw)) + raw


def hello(user: str, password: str) -> bytes:
    """The client Hello packet (type 0): client name, version 1.0, revision, database, user, password."""
    return b"".join(
        [
            varint(0),
            string(CLIENT_NAME),
            varint(1),
            varint(0),
            varint(REVISION),
            string(""),
            string(user),
            string(password),
        ]
    )


@dataclass(frozen=True)
class Reply:
    accepted: bool
    server_name: str = ""
    version: str | None = None
    timezone: str | None = None
    display_name: str | None = None
    code: int | None = None
    exception: str | None = None
    message: str = ""
    stack_trace: str = ""


def parse_reply(data: bytes) -> Reply:
    """A server's answer to Hello: Hello (0) or Exception (2).

    Raises Incomplete when more bytes are needed and ValueError when it is not ClickHouse
    (an echo of our own Hello, for one, names itself hardhouse-probe, not ClickHouse).
    """
    reader = Reader(data)
    kind = reader.varint()
    if kind == 0:
        name = reader.string(256)
        major, minor, revision = reader.varint(), reader.varint(), reader.varint()
        if "clickhouse" not in name.lower() or major > 10000 or not 50000 <= revision < 200000:
            raise ValueError(f"not a ClickHouse Hello: {name[:40]!r}")
        used = min(revision, REVISION)
        timezone = reader.string(256) if used >= 54058 else None
        display = reader.string(256) if used >= 54372 else None
        patch = reader.varint() if used >= 54401 else None
        version = f"{major}.{minor}" + (f".{patch}" if patch is not None else "")
        return Reply(True, name, version, timezone, display or None)
    if kind == 2:
        code = struct.unpack("<i", reader.take(4))[0]
        name = reader.string(256)
        message = reader.string()
        stack = reader.string()
        if "exception" not in name.lower() and "DB::" not in message:
            raise ValueError("not a ClickHouse exception")
        return Reply(False, code=code, exception=name, message=message, stack_trace=stack)
    raise ValueError(f"unexpected native packet type {kind}")


def complete(data: bytes) -> bool:
    """True once `data` holds a whole answer to Hello, or cannot become one."""
    try:
        parse_reply(data)
    except Incomplete:
        return False
    except ValueError:
        return True
    return True
