"""The scan's SQL, built as text: hostile identifiers quoted or refused, the bounds in every
count query, one query per table, and each column type's match expression."""

from __future__ import annotations

import re

import pytest

from hardhouse.scan import sql
from hardhouse.scan.columns import column_check
from hardhouse.scan.names import decode_name, quote_identifier
from hardhouse.secret_shapes import BUILTIN_RULES, SecretRule


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        pytest.param("log_stream", "`log_stream`", id="plain"),
        pytest.param("we`ird", "`we\\`ird`", id="backtick"),
        pytest.param("a\\b", "`a\\\\b`", id="backslash"),
        pytest.param("x` FROM system.users --", "`x\\` FROM system.users --`", id="injection attempt"),
        pytest.param("journal d'événements", "`journal d'événements`", id="unicode and quote"),
    ],
)
def test_identifiers_are_backquoted_with_backslash_escapes(name: str, quoted: str) -> None:
    assert quote_identifier(name) == quoted


@pytest.mark.parametrize("name", ["", "a\nb", "a\x00", "tab\there", "esc\x1b[31m", "c1\x85"])
def test_names_with_control_characters_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        quote_identifier(name)
    hex_text, length = name.encode().hex(), len(name.encode())
    assert decode_name(hex_text, length).problem


def test_server_names_are_decoded_from_hex_and_bounded() -> None:
    assert decode_name("6C6F6773", 4).text == "logs" and decode_name("6C6F6773", 4).problem is None
    long = decode_name(("61" * 256), 5000)
    assert long.problem == "longer than 255 bytes (5000)" and len(long.text) < 50
    assert decode_name("FF61", 2).problem == "not UTF-8"
    assert decode_name("zz", 1).problem == "the server sent a name that is not hex"
    shown = decode_name("611B5B33316D", 6)
    assert shown.problem and "\x1b" not in shown.shown


@pytest.mark.parametrize(
    ("kind", "expression"),
    [
        ("String", "match(`c`, 'R')"),
        ("LowCardinality(String)", "match(`c`, 'R')"),
        ("Nullable(String)", "ifNull(match(`c`, 'R'), 0)"),
        ("LowCardinality(Nullable(String))", "ifNull(match(`c`, 'R'), 0)"),
        ("FixedString(16)", "match(toString(`c`), 'R')"),
        ("Array(String)", "arrayExists(x0 -> match(x0, 'R'), `c`)"),
        ("Array(Nullable(String))", "arrayExists(x0 -> ifNull(match(x0, 'R'), 0), `c`)"),
        ("Array(Array(LowCardinality(String)))", "arrayExists(x0 -> arrayExists(x1 -> match(x1, 'R'), x0), `c`)"),
        ("Map(String, UInt64)", "arrayExists(x0 -> match(x0, 'R'), mapKeys(`c`))"),
        (
            "Map(LowCardinality(String), String)",
            "(arrayExists(x0 -> match(x0, 'R'), mapKeys(`c`)) OR arrayExists(x0 -> match(x0, 'R'), mapValues(`c`)))",
        ),
    ],
)
def test_each_text_type_has_its_match_expression(kind: str, expression: str) -> None:
    check = column_check("`c`", kind)
    assert check.holds_text and check.unscannable is None
    assert check.condition("'R'") == expression


@pytest.mark.parametrize(
    "kind", ["UInt64", "DateTime('UTC')", "Enum8('String' = 1, 'b' = 2)", "Array(UInt8)", "Map(UInt8, UInt8)", "UUID"]
)
def test_types_without_text_are_not_asked(kind: str) -> None:
    check = column_check("`c`", kind)
    assert not check.holds_text and check.unscannable is None


@pytest.mark.parametrize(
    "kind",
    [
        "Tuple(String, UInt8)",
        "Tuple(name String, size UInt64)",
        "JSON",
        "Object('json')",
        "Variant(String, UInt8)",
        "Dynamic",
    ],
)
def test_text_the_scan_cannot_reach_is_named_not_skipped(kind: str) -> None:
    assert column_check("`c`", kind).unscannable


def test_a_column_named_like_a_placeholder_is_not_substituted() -> None:
    check = column_check(quote_identifier("{re}"), "String")
    assert check.condition("'R'") == "match(`{re}`, 'R')"


def test_one_count_query_per_table_with_its_bounds() -> None:
    columns = [(name, column_check(quote_identifier(name), "String")) for name in ("msg", "we`ird")]
    query, counted = sql.count_query("logs", "t`x", columns, BUILTIN_RULES, 1000, "0.250000")
    assert query.count("SELECT") == 2 and query.count("FROM") == 2  # the count and its bounded subquery
    assert query.startswith("SELECT count() AS examined, countIf(match(`msg`, ")
    assert query.endswith("FROM (SELECT `msg`, `we\\`ird` FROM `logs`.`t\\`x` SAMPLE 0.250000 LIMIT 1000)")
    assert len(counted) == 2 * len(BUILTIN_RULES)
    assert re.findall(r" AS (m\d+)", query) == [f"m{i}" for i in range(len(counted))]
    assert counted[0] == sql.Counted("msg", BUILTIN_RULES[0].name)
    assert counted[-1] == sql.Counted("we`ird", BUILTIN_RULES[-1].name)


def test_a_rule_is_a_string_literal_whatever_it_holds() -> None:
    rule = SecretRule("own", r"it's\d+", "[REDACTED]", "test")
    query, _ = sql.count_query("logs", "t", [("m", column_check("`m`", "String"))], [rule], 10, None)
    # Behind a top-level alternation that never matches (secret_shapes.for_match: 18.16's shortcut).
    assert "countIf(match(`m`, '(?:it\\'s\\\\d+)|[^\\\\s\\\\S]')) AS m0" in query
    assert "SAMPLE" not in query and query.endswith("LIMIT 10)")


@pytest.mark.parametrize(
    ("total", "bound", "fraction"),
    [
        (None, 100, None),
        (100, 100, None),
        (50, 100, None),
        (1000, 100, "0.100000"),
        (3, 1, "0.333334"),
        (10**12, 1, "0.000001"),
    ],
)
def test_the_sample_is_never_smaller_than_the_bound(total: int | None, bound: int, fraction: str | None) -> None:
    assert sql.sample_fraction(total, bound) == fraction


def test_the_catalog_queries_filter_with_literals_and_are_bounded() -> None:
    query = sql.tables_query(["lo'gs"], ["t\\x"])
    assert "database IN ('lo\\'gs') AND name IN ('t\\\\x')" in query
    assert query.endswith(f"LIMIT {sql.MAX_TABLES + 1}")
    every = sql.columns_query([], [])
    assert "database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA')" in every
    assert "hex(substring(name, 1, 256)) AS name_hex" in every and every.endswith(f"LIMIT {sql.MAX_COLUMNS + 1}")
    assert "FROM system.parts WHERE active AND" in sql.rows_query(["logs"], [])


def test_the_help_shows_the_session_query_as_sent() -> None:
    from hardhouse.scan.sent import WHAT_IS_SENT

    assert " ".join(sql.SESSION_QUERY.split()) in " ".join(WHAT_IS_SENT.split())
    for table in ("system.tables", "system.parts", "system.columns"):
        assert table in WHAT_IS_SENT
    assert "SELECT count() AS examined, countIf(match(col, 'RULE')) AS m0" in WHAT_IS_SENT
