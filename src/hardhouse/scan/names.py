"""Names the server sends (databases, tables, columns, types) read as hostile text, and written
back into SQL as quoted identifiers.

The catalog queries ask for each name as hex of its first bytes plus its length in bytes
(hardhouse.scan.sql), so the driver never decodes server text and a name of any size costs at
most NAME_MAX bytes. A name is refused, with the reason, when it is longer than NAME_MAX bytes,
is not UTF-8, is empty, or holds a control character (C0, DEL, C1): the scan would otherwise
print it or splice it into a query. Everything else is quoted with backticks, backslash and
backtick escaped, which ClickHouse reads the same way from 18.16 to 26.9 (tested on both).
"""

from __future__ import annotations

from dataclasses import dataclass

from hardhouse.terminal import printable

NAME_MAX = 255  # bytes; ClickHouse's own names are far shorter, a longer one is not a log table's
TYPE_MAX = 1000  # bytes of a column type's text


@dataclass(frozen=True)
class Name:
    """A name as the server sent it: the text when it is usable, else why it is refused."""

    text: str
    problem: str | None = None

    @property
    def shown(self) -> str:
        """For output: escaped (hardhouse.terminal), never raw."""
        return printable(self.text)


def decode_name(hex_text: str, length: int, limit: int = NAME_MAX) -> Name:
    """A name from the catalog's hex(substring(x, 1, limit + 1)) and length(x)."""
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        return Name("?", "the server sent a name that is not hex")
    if length > limit or len(raw) > limit:
        shown = raw[:40].decode("utf-8", errors="replace")
        return Name(shown + "...", f"longer than {limit} bytes ({length})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Name(raw.decode("utf-8", errors="replace"), "not UTF-8")
    if not text:
        return Name("", "empty")
    bad = [c for c in text if ord(c) < 32 or 127 <= ord(c) < 160]
    if bad:
        return Name(text, f"holds a control character ({printable(bad[0])})")
    return Name(text)


def quote_identifier(name: str) -> str:
    """`name` as a backquoted ClickHouse identifier. Only for names decode_name accepted."""
    if not name or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise ValueError("refused name: empty or holding a control character")
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def table_name(database: str, table: str) -> str:
    """db.table as printed (escaped) in every report."""
    return printable(f"{database}.{table}")
