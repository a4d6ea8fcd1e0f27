"""Reading the rendered SQL files back (the deploy and the validators run their statements)."""

from __future__ import annotations

import re

# A quoted string literal (backslash escapes inside), or a statement's closing ';'.
LITERAL_OR_END = re.compile(r"'(?:[^'\\\n]|\\.)*'|;")


def sql_statements(text: str) -> list[str]:
    """The statements of a rendered SQL file, without comment lines, in order.

    Splits on ';' outside string literals. Identifiers and types are restricted by the spec to
    characters that exclude ';' and quotes; the only literals (a redaction rule's regexp and
    replacement) are written on one line by clickhouse.literals.sql_string."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements, start = [], 0
    for token in LITERAL_OR_END.finditer(body):
        if token.group() == ";":
            statements.append(body[start : token.start()].strip())
            start = token.end()
    statements.append(body[start:].strip())
    return [statement for statement in statements if statement]
