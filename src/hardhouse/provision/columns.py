"""Column types compared the way ClickHouse writes them back.

A spec says `Decimal(10,2)` or `Enum8('a','b')`; system.columns answers `Decimal(10, 2)` and
`Enum8('a' = 1, 'b' = 2)`. Both sides are read with the spec's own type grammar
(hardhouse.spec.column_types) and printed in ClickHouse's form, so only a real difference
of type counts as one. The forms were read from the servers themselves (tests/provision:
live 18.16, embedded 26.9). A server type outside the grammar (Object, Variant, Nested ...)
is compared as text, so it differs from every spec type: a refusal, never a silent match.
"""

from __future__ import annotations

import re

from hardhouse.spec.column_types import Argument, ColumnType, TypeSyntaxError, parse_column_type

# DecimalN(S) is Decimal(P, S) with the family's precision.
DECIMAL_PRECISION = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}
ENUMS = ("Enum8", "Enum16")


def _spaced(text: str) -> str:
    """One space after each comma and none inside parentheses, as ClickHouse prints types
    (26.9 may break a long nested type over lines)."""
    text = re.sub(r"\s+", " ", text.strip())
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    return re.sub(r"\s*,\s*", ", ", text)


def _format(parsed: ColumnType) -> str:
    family, arguments = parsed.family, parsed.arguments
    if family in DECIMAL_PRECISION:
        return f"Decimal({DECIMAL_PRECISION[family]}, {arguments[0].number})"
    if family == "Decimal" and len(arguments) == 1:
        return f"Decimal({arguments[0].number}, 0)"
    if family in ENUMS:
        # Values left out are numbered on from the previous one, starting at 1.
        items, following = [], 1
        for argument in arguments:
            value = argument.number if argument.number is not None else following
            items.append(f"'{argument.text}' = {value}")
            following = value + 1
        return f"{family}({', '.join(items)})"
    if not arguments:
        return family
    return f"{family}({', '.join(_argument(a) for a in arguments)})"


def _argument(argument: Argument) -> str:
    if argument.kind == "int":
        return str(argument.number)
    if argument.kind == "string":
        return f"'{argument.text}'"
    assert argument.type is not None
    if argument.kind == "named":
        return f"{argument.name} {_format(argument.type)}"
    return _format(argument.type)


def canonical_type(text: str) -> str:
    """The type as ClickHouse writes it in system.columns (the text itself, spaced, when the
    grammar does not know it)."""
    spaced = _spaced(text)
    try:
        return _format(parse_column_type(spaced))
    except TypeSyntaxError:
        return spaced


def same_type(spec_type: str, server_type: str) -> bool:
    return canonical_type(spec_type) == canonical_type(server_type)
