"""Column types from a grammar: the types a log table needs parse; anything that would add a
clause, a column or a statement to CREATE TABLE does not."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_core import PydanticCustomError

from hardhouse.clickhouse.column_types import TYPE_MAX, TypeSyntaxError, is_time_type, parse_column_type
from hardhouse.render import render, sql_statements
from hardhouse.spec import load_spec
from hardhouse.spec.errors import SpecError
from hardhouse.spec.fields import check_column_type

VALID = [
    "String",
    "UUID",
    "IPv4",
    "IPv6",
    "Bool",
    "Float32",
    "Float64",
    "Date",
    "Date32",
    "DateTime",
    "UInt8",
    "UInt256",
    "Int8",
    "Int128",
    "LowCardinality(String)",
    "Nullable(String)",
    "Array(String)",
    "Array(Array(Nullable(UInt64)))",
    "Map(String, UInt64)",
    "Map(String,UInt64)",
    "Map(LowCardinality(String), Array(String))",
    "Tuple(String, UInt64)",
    "Tuple(a String, b Nullable(UInt64))",
    "Tuple(String , UInt64)",
    "FixedString(16)",
    "Decimal(10, 2)",
    "Decimal(38)",
    "Decimal64(4)",
    "DateTime('UTC')",
    "DateTime('America/Argentina/Buenos_Aires')",
    "DateTime('Etc/GMT+3')",
    "DateTime64(3)",
    "DateTime64(3, 'UTC')",
    "DateTime64(9,'Europe/Berlin')",
    "Enum8('a' = 1, 'b' = 2)",
    "Enum8('a'=1,'b'=-2)",
    "Enum16('info level' = 1000)",
    "Enum8('a', 'b')",
]

INVALID = [
    # clauses after the type
    "String DEFAULT 'x'",
    "String CODEC(ZSTD(1))",
    "DateTime TTL ts + 1",
    "String MATERIALIZED x",
    "String ALIAS x",
    "String EPHEMERAL",
    "String COMMENT 'x'",
    "Nullable(String) DEFAULT NULL",
    "String -- comment",
    "String /* x */",
    # more columns, more statements
    "String, extra String",
    "String) ENGINE = Log; DROP TABLE x; --",
    "String;",
    "String\nextra String",
    # whitespace that is not a single separator
    "String\n",
    "String ",
    " String",
    "Nullable( String)",
    "Nullable(String )",
    "Map(String,  UInt64)",
    "Map(String,\tUInt64)",
    # quotes that could close early or escape
    "Enum8('a\\'' = 1)",
    "Enum8('a'' = 1)",
    "Enum8('a;b' = 1)",
    "DateTime('UTC'')",
    'DateTime("UTC")',
    "Enum8('a' = 'b')",
    # unknown families and wrong arguments
    "Foo",
    "string",
    "Object('json')",
    "JSON",
    "Nested(a String)",
    "AggregateFunction(uniq, String)",
    "String()",
    "String(5)",
    "FixedString(0)",
    "FixedString('a')",
    "Array(String, String)",
    "Array(a String)",
    "Map(String)",
    "Decimal(100, 2)",
    "Decimal(10, 20)",
    "DateTime64(-1)",
    "DateTime64(10)",
    "DateTime('UTC' = 1)",
    "DateTime(3)",
    "Nullable(1)",
    "Tuple()",
    "Enum8()",
    "Enum8(1)",
    "Nullable(String DEFAULT)",
    # unbalanced
    "Nullable(String",
    "Nullable(String))",
    "Nullable)",
    "(String)",
    # too long
    "Tuple(" + ", ".join(["String"] * 20) + ")",
    "",
]


@pytest.mark.parametrize("text", VALID)
def test_types_a_log_table_needs_parse(text: str) -> None:
    assert check_column_type(text) == text


@pytest.mark.parametrize("text", INVALID)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(PydanticCustomError) as error:
        check_column_type(text)
    assert "is not a column type hardhouse can write safely" in error.value.message()


def test_the_length_cap() -> None:
    longest = "Tuple(" + ", ".join(["UInt8"] * 16) + ")"
    assert len(longest) <= TYPE_MAX
    parse_column_type(longest)
    with pytest.raises(TypeSyntaxError, match="longer than 120"):
        parse_column_type("Tuple(" + ", ".join(["UInt8"] * 17) + ", String)")


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("Date", True),
        ("Date32", True),
        ("DateTime", True),
        ("DateTime('UTC')", True),
        ("DateTime64(3, 'UTC')", True),
        ("String", False),
        ("Nullable(DateTime)", False),
        ("LowCardinality(DateTime)", False),
        ("UInt32", False),
    ],
)
def test_the_time_column_rule(text: str, time: bool) -> None:
    assert is_time_type(parse_column_type(text)) is time


def test_every_valid_type_reaches_the_sql_as_one_column(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    columns = {"ts": "DateTime64(3, 'UTC')", **{f"c{i}": text for i, text in enumerate(VALID)}}
    spec_dict["log_databases"] = {
        "audit": {"tables": {"events": {"columns": columns, "time_column": "ts"}}, "readers": ["analyst"]}
    }
    sql = next(f for f in render(load_spec(spec_dict), environ) if f.path.endswith(".sql")).content
    statements = sql_statements(sql)
    assert len(statements) == 2
    for name, text in columns.items():
        assert f"\n    {name} {text}" in statements[1]


def test_a_nullable_time_column_is_refused(spec_dict: dict[str, Any]) -> None:
    spec_dict["log_databases"] = {
        "audit": {
            "tables": {"events": {"columns": {"ts": "Nullable(DateTime)"}, "time_column": "ts"}},
            "readers": ["analyst"],
        }
    }
    with pytest.raises(SpecError, match="not a date or time"):
        load_spec(spec_dict)
