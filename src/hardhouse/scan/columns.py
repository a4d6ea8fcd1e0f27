"""Which columns can hold a secret, and the ClickHouse expression that asks, for one column and
one rule, whether a row's value matches: match() on text, arrayExists() through arrays, maps'
keys and values. The value stays on the server; only the answer (0 or 1 per row) is counted.

    String, LowCardinality(String)         match(c, re)
    FixedString(N)                         match(toString(c), re)
    Nullable(T)                            ifNull(<T>, 0)      (18.16 counts NULL as NULL, not 0)
    Array(T)                               arrayExists(x0 -> <T of x0>, c)
    Map(K, V)                              arrayExists over mapKeys(c) and/or mapValues(c)

A type whose text can hold strings in a shape not above (Tuple, JSON, Object, Variant, Dynamic,
an aggregate state over strings) is reported as not scanned: its table's verdict is undecided,
never clean. Types that hold no text (numbers, dates, UUID, IPs, Bool, Enum) need no check.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardhouse.clickhouse.column_types import ColumnType, TypeSyntaxError, parse_column_type

# Families that cannot hold free text: an Enum's labels are the table's DDL, not its rows.
NO_TEXT_PREFIXES = (
    "Int", "UInt", "Float", "Decimal", "Date", "DateTime", "UUID", "IPv4", "IPv6", "Bool", "Enum", "Nothing",
    "Interval", "Point", "Ring", "Polygon", "MultiPolygon", "LineString", "MultiLineString", "BFloat16", "Time",
)  # fmt: skip
# Words in a type's text that mean it may hold strings somewhere.
TEXT_WORDS = ("String", "JSON", "Object", "Variant", "Dynamic")
MAX_DEPTH = 8  # nesting of arrays and maps followed


@dataclass(frozen=True)
class Check:
    """How to ask a column: `condition(literal)` builds the expression for one rule's regexp
    literal (the column holds text), or `unscannable` says why it is not asked; neither: the
    column holds no text. Built from the parsed type, never by substituting into text (a
    column may be named anything, `{re}` included)."""

    column: str = ""  # quoted identifier
    parsed: ColumnType | None = None
    unscannable: str | None = None

    @property
    def holds_text(self) -> bool:
        return self.parsed is not None

    def condition(self, regexp_literal: str) -> str:
        assert self.parsed is not None
        found = _condition(self.column, self.parsed, regexp_literal, 0)
        assert found
        return found


NO_TEXT = Check()


def column_check(quoted: str, type_text: str) -> Check:
    """The check for a column named `quoted` (already a quoted identifier) of `type_text`."""
    try:
        parsed = parse_column_type(type_text)
    except TypeSyntaxError:
        family = type_text.split("(", 1)[0]
        if family.startswith(NO_TEXT_PREFIXES) and not any(word in type_text for word in TEXT_WORDS):
            return NO_TEXT
        if any(word in type_text for word in TEXT_WORDS):
            return Check(unscannable="a type the scan cannot look inside")
        return NO_TEXT
    found = _condition(quoted, parsed, "''", 0)
    if found is None:
        return NO_TEXT
    if found == "":
        return Check(unscannable="a type the scan cannot look inside (Tuple)")
    return Check(quoted, parsed)


def _condition(expr: str, parsed: ColumnType, regexp: str, depth: int) -> str | None:
    """The condition for `expr` of type `parsed`; None: no text; "": text the scan cannot reach."""
    family = parsed.family
    if depth > MAX_DEPTH:
        return ""
    if family == "String":
        return f"match({expr}, {regexp})"
    if family == "FixedString":
        return f"match(toString({expr}), {regexp})"
    inner = [argument.type for argument in parsed.arguments]
    if family == "LowCardinality" and inner[0] is not None:
        return _condition(expr, inner[0], regexp, depth + 1)
    if family == "Nullable" and inner[0] is not None:
        found = _condition(expr, inner[0], regexp, depth + 1)
        return f"ifNull({found}, 0)" if found else found
    if family == "Array" and inner[0] is not None:
        variable = f"x{depth}"
        found = _condition(variable, inner[0], regexp, depth + 1)
        return f"arrayExists({variable} -> {found}, {expr})" if found else found
    if family == "Map" and len(inner) == 2 and inner[0] is not None and inner[1] is not None:
        parts = []
        for function, part in (("mapKeys", inner[0]), ("mapValues", inner[1])):
            variable = f"x{depth}"
            found = _condition(variable, part, regexp, depth + 1)
            if found == "":
                return ""
            if found:
                parts.append(f"arrayExists({variable} -> {found}, {function}({expr}))")
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
    if family == "Tuple":
        holds = any(
            argument.type is not None and _condition("t", argument.type, regexp, depth + 1) is not None
            for argument in parsed.arguments
        )
        return "" if holds else None
    return None
