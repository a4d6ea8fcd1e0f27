"""ClickHouse column types from an explicit grammar, so a type can never carry a clause, and
in the form ClickHouse writes them back (canonical_type, same_type).

A column type is written into CREATE TABLE as is. A character-class check let through
`String DEFAULT 'x'`, `String CODEC(ZSTD(1))` or `DateTime TTL ts + 1`; this parser accepts
only an allow-list of type families, each with the arguments it takes:

    type := FAMILY [ "(" arg { "," arg } ")" ]
    arg  := type | NAME " " type | INTEGER | STRING [ "=" INTEGER ]

A single space may stand on either side of "," and "="; no other space, word or character is
accepted. STRING is a quoted run of letters, digits, space and _ . : / + - (no quote,
backslash or ';', which the SQL file reader splits on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TYPE_MAX = 120

# Family -> the arguments it takes (checked by _check_arguments).
NO_ARGUMENTS = "none"
FAMILIES: dict[str, str] = {
    **dict.fromkeys(("String", "UUID", "IPv4", "IPv6", "Bool", "Float32", "Float64", "Date", "Date32"), NO_ARGUMENTS),
    **dict.fromkeys((f"{sign}Int{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64, 128, 256)), NO_ARGUMENTS),
    "FixedString": "length",
    "Decimal": "precision_scale",
    **dict.fromkeys(("Decimal32", "Decimal64", "Decimal128", "Decimal256"), "scale"),
    "DateTime": "timezone",
    "DateTime64": "precision_timezone",
    **dict.fromkeys(("Enum8", "Enum16"), "enum"),
    **dict.fromkeys(("Array", "Nullable", "LowCardinality"), "one_type"),
    "Tuple": "tuple",
    "Map": "map",
}
TIME_FAMILIES = frozenset({"Date", "Date32", "DateTime", "DateTime64"})

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
INTEGER = re.compile(r"-?[0-9]{1,20}")
STRING = re.compile(r"'([A-Za-z0-9 _.:/+-]{0,60})'")
MAX_DECIMAL_PRECISION = 76
MAX_DATETIME64_PRECISION = 9


class TypeSyntaxError(ValueError):
    """Why a column type is refused, with the character where reading stopped."""

    def __init__(self, reason: str, position: int):
        super().__init__(f"{reason} at character {position + 1}")


@dataclass(frozen=True)
class Argument:
    kind: str  # "type", "named", "int" or "string"
    type: ColumnType | None = None
    name: str = ""
    number: int | None = None
    text: str = ""


@dataclass(frozen=True)
class ColumnType:
    family: str
    arguments: tuple[Argument, ...] = field(default_factory=tuple)


def parse_column_type(text: str) -> ColumnType:
    """The parsed type, or TypeSyntaxError saying what is wrong and where."""
    if len(text) > TYPE_MAX:
        raise TypeSyntaxError(f"the type is longer than {TYPE_MAX} characters", TYPE_MAX)
    parser = _Parser(text)
    parsed = parser.type()
    if parser.position != len(text):
        raise TypeSyntaxError(
            "only a type goes here (no DEFAULT, CODEC, TTL, comment or other clause)",
            parser.position,
        )
    return parsed


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.position = 0

    def _match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.position)
        if found:
            self.position = found.end()
        return found

    def _take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.position):
            self.position += len(literal)
            return True
        return False

    def _separator(self, symbol: str) -> bool:
        """symbol with at most one space on either side."""
        start = self.position
        self._take(" ")
        if self._take(symbol):
            self._take(" ")
            return True
        self.position = start
        return False

    def type(self) -> ColumnType:
        start = self.position
        found = self._match(IDENTIFIER)
        if not found:
            raise TypeSyntaxError("expected a type name", start)
        family = found.group()
        if family not in FAMILIES:
            raise TypeSyntaxError(f"{family!r} is not a type family hardhouse writes", start)
        arguments: list[Argument] = []
        if self._take("("):
            arguments.append(self.argument())
            while self._separator(","):
                arguments.append(self.argument())
            if not self._take(")"):
                raise TypeSyntaxError("expected ',' or ')'", self.position)
        parsed = ColumnType(family, tuple(arguments))
        _check_arguments(parsed, start)
        return parsed

    def argument(self) -> Argument:
        start = self.position
        number = self._match(INTEGER)
        if number:
            return Argument("int", number=int(number.group()))
        string = self._match(STRING)
        if string:
            value = None
            if self._separator("="):
                value_match = self._match(INTEGER)
                if not value_match:
                    raise TypeSyntaxError("expected a whole number after '='", self.position)
                value = int(value_match.group())
            return Argument("string", text=string.group(1), number=value)
        if self.text.startswith("'", start):
            raise TypeSyntaxError(
                "a quoted value may hold only letters, digits, space and _ . : / + - (at most 60)",
                start,
            )
        name = self._match(IDENTIFIER)
        if name and self._take(" ") and IDENTIFIER.match(self.text, self.position):
            # A named Tuple element: NAME type.
            return Argument("named", type=self.type(), name=name.group())
        self.position = start
        return Argument("type", type=self.type())


def _check_arguments(parsed: ColumnType, position: int) -> None:
    shape = FAMILIES[parsed.family]
    kinds = [argument.kind for argument in parsed.arguments]
    numbers = [argument.number for argument in parsed.arguments]
    plain_int = all(kind == "int" for kind in kinds)
    if shape == NO_ARGUMENTS:
        ok = not kinds
    elif shape == "length":
        ok = kinds == ["int"] and numbers[0] is not None and numbers[0] >= 1
    elif shape == "precision_scale":
        ok = plain_int and len(kinds) in (1, 2) and 1 <= (numbers[0] or 0) <= MAX_DECIMAL_PRECISION
        ok = ok and (len(kinds) == 1 or 0 <= (numbers[1] or 0) <= (numbers[0] or 0))
    elif shape == "scale":
        ok = kinds == ["int"] and 0 <= (numbers[0] or 0) <= MAX_DECIMAL_PRECISION
    elif shape == "timezone":
        ok = kinds in ([], ["string"]) and all(number is None for number in numbers)
    elif shape == "precision_timezone":
        ok = kinds in (["int"], ["int", "string"]) and 0 <= (numbers[0] or 0) <= MAX_DATETIME64_PRECISION
        ok = ok and (len(numbers) == 1 or numbers[1] is None)
    elif shape == "enum":
        ok = bool(kinds) and all(kind == "string" for kind in kinds)
    elif shape == "one_type":
        ok = kinds == ["type"]
    elif shape == "tuple":
        ok = bool(kinds) and all(kind in ("type", "named") for kind in kinds)
    else:  # map
        ok = kinds == ["type", "type"]
    if not ok:
        raise TypeSyntaxError(f"{parsed.family} does not take these arguments ({ARGUMENT_HELP[shape]})", position)


ARGUMENT_HELP = {
    NO_ARGUMENTS: "it takes none",
    "length": "FixedString(N), N at least 1",
    "precision_scale": f"Decimal(P, S), P from 1 to {MAX_DECIMAL_PRECISION}, S from 0 to P",
    "scale": "DecimalN(S)",
    "timezone": "DateTime or DateTime('Zone/Name')",
    "precision_timezone": f"DateTime64(P) or DateTime64(P, 'Zone/Name'), P from 0 to {MAX_DATETIME64_PRECISION}",
    "enum": "Enum8('a' = 1, 'b' = 2)",
    "one_type": "one type, e.g. Array(String)",
    "tuple": "types, each optionally named: Tuple(a String, b UInt64)",
    "map": "a key type and a value type: Map(String, UInt64)",
}


def is_time_type(parsed: ColumnType) -> bool:
    return parsed.family in TIME_FAMILIES


def families(parsed: ColumnType) -> set[str]:
    """Every type family the type uses, nested ones included: Array(LowCardinality(String))
    uses Array, LowCardinality and String."""
    found = {parsed.family}
    for argument in parsed.arguments:
        if argument.type is not None:
            found |= families(argument.type)
    return found


# Types compared the way ClickHouse writes them back. A spec says `Decimal(10,2)` or
# `Enum8('a','b')`; system.columns answers `Decimal(10, 2)` and `Enum8('a' = 1, 'b' = 2)`. Both
# sides are read with the grammar above and printed in ClickHouse's form, so only a real
# difference of type counts as one. The forms were read from the servers themselves
# (tests/provision: live 18.16, embedded 26.9). A server type outside the grammar (Object,
# Variant, Nested ...) is compared as text, so it differs from every spec type: a refusal,
# never a silent match.
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
