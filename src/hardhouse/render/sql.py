"""Reading the rendered SQL files back (the deploy and the validators run their statements)."""

from __future__ import annotations


def sql_statements(text: str) -> list[str]:
    """The statements of a rendered SQL file, without comments, in order.

    Safe to split on ';' because every identifier and type in a rendered file is restricted
    by the spec to characters that exclude ';' (and quotes around one).
    """
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [statement.strip() for statement in body.split(";") if statement.strip()]
