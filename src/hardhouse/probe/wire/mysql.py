"""The MySQL protocol greeting, which a server sends first (the probe only reads it)."""

from __future__ import annotations


def parse_greeting(data: bytes) -> str | None:
    """The server version in a MySQL protocol greeting (or `error` for an error packet)."""
    if len(data) < 5 or data[3] != 0:
        return None
    length = int.from_bytes(data[:3], "little")
    if length == 0 or length > 1 << 16:
        return None
    if data[4] == 0x0A:
        end = data.find(b"\0", 5, 5 + 256)
        return data[5:end].decode("latin-1") if end > 5 else None
    if data[4] == 0xFF:
        return "error"
    return None


def greeting_complete(data: bytes) -> bool:
    return parse_greeting(data) is not None and len(data) >= int.from_bytes(data[:3], "little") + 4
