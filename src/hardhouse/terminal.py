"""One escaping rule for every text hardhouse prints: whatever a terminal or log could misread
(C0 and C1 controls, line and paragraph separators, bidi overrides and other format
characters, surrogates, non-characters: everything str.isprintable rejects) is shown as a
Python-style escape. Names and values come from files, hosts and servers hardhouse does not
trust; none of them reaches a terminal raw."""

from __future__ import annotations


def printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else escape(char) for char in text)


def escape(char: str) -> str:
    """`\\x1b`, `\\u202e`, `\\n`: the escape of one character."""
    return char.encode("unicode_escape").decode("ascii")


def printable_lines(text: str) -> str:
    """A multi-line report: each line escaped, the line breaks kept."""
    return "\n".join(printable(line) for line in text.split("\n"))
