"""Server-supplied text, made safe to print: every string a probed endpoint sends that reaches
any output (text, JSON, SARIF) passes through `excerpt` when it is observed, so it is bounded
in length and carries no control characters, whatever the server sends."""

from __future__ import annotations

from hardhouse.terminal import escape

# Bounds per kind of server text.
BANNER = 60
NAME = 128  # database, table and column names; display names
DETAIL = 200  # error details, certificate subjects, scanner messages
VERSION = 40


def excerpt(text: str | bytes | None, limit: int = DETAIL) -> str | None:
    """At most `limit` printable characters; anything else is shown as an escape."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", errors="replace")
    shown: list[str] = []
    length = 0
    for char in text[: limit * 4]:
        piece = char if char.isprintable() else escape(char)
        if length + len(piece) > limit:
            return "".join(shown) + "..."
        shown.append(piece)
        length += len(piece)
    return "".join(shown) + ("..." if len(text) > limit * 4 else "")
