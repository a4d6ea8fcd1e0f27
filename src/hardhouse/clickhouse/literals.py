"""ClickHouse SQL string literals: text written into a statement as a quoted value."""

from __future__ import annotations


def sql_string(text: str) -> str:
    """`text` as a single-quoted ClickHouse string literal (backslash and quote escaped, as
    every version since 1.1 reads them). Control characters are the caller's to refuse."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
