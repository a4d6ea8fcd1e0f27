"""Which column types a spec may give an 18.16 log table: the table in
hardhouse.clickhouse.versions (LEGACY_TYPE_FAMILIES) against Debian's real server, family by
family, and the spec refusing the rest with the column named."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.clickhouse.column_types import FAMILIES, families, parse_column_type
from hardhouse.clickhouse.driver import ServerException
from hardhouse.clickhouse.versions import LEGACY_TYPE_FAMILIES
from hardhouse.spec import load_spec
from hardhouse.spec.errors import SpecError
from hardhouse.testing.clients import native_query
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import VALID_SPEC, require

# One type per family, each valid by the spec's grammar.
SAMPLES = {
    "String": "String",
    "UUID": "UUID",
    "IPv4": "IPv4",
    "IPv6": "IPv6",
    "Bool": "Bool",
    "Float32": "Float32",
    "Float64": "Float64",
    "Date": "Date",
    "Date32": "Date32",
    **{f"{s}Int{b}": f"{s}Int{b}" for s in ("", "U") for b in (8, 16, 32, 64, 128, 256)},
    "FixedString": "FixedString(16)",
    "Decimal": "Decimal(10, 2)",
    **{f"Decimal{b}": f"Decimal{b}(2)" for b in (32, 64, 128, 256)},
    "DateTime": "DateTime('UTC')",
    "DateTime64": "DateTime64(3)",
    "Enum8": "Enum8('a' = 1)",
    "Enum16": "Enum16('a' = 1)",
    "Array": "Array(String)",
    "Nullable": "Nullable(String)",
    "LowCardinality": "LowCardinality(String)",
    "Tuple": "Tuple(a String, b UInt8)",
    "Map": "Map(String, UInt64)",
}


def test_every_family_has_a_sample_and_families_are_found_nested() -> None:
    assert set(SAMPLES) == set(FAMILIES)
    assert families(parse_column_type("Array(Nullable(LowCardinality(String)))")) == {
        "Array",
        "Nullable",
        "LowCardinality",
        "String",
    }


def spec_with(column_type: str, version: str) -> dict:
    data = copy.deepcopy(VALID_SPEC)
    data["clickhouse_version"] = version
    data["log_databases"] = {
        "audit": {
            "tables": {"events": {"columns": {"ts": "DateTime", "value": column_type}, "time_column": "ts"}},
            "retention_days": None,
            "readers": ["analyst"],
        }
    }
    return data


@pytest.mark.parametrize("family", sorted(SAMPLES))
def test_the_spec_refuses_for_18_16_exactly_the_families_it_lacks(family: str) -> None:
    data = spec_with(SAMPLES[family], "18.16")
    if family in LEGACY_TYPE_FAMILIES:
        load_spec(data)
        return
    with pytest.raises(SpecError) as refused:
        load_spec(data)
    assert f"log_databases.audit.tables.events.columns.value: ClickHouse 18.16 has no {family} type" in str(
        refused.value
    )
    load_spec(spec_with(SAMPLES[family], "24.8"))  # a modern target takes it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    work: Path = tmp_path_factory.mktemp("ch1816-types")
    local = LocalClickHouse(work)
    native = free_port()
    local.use_stock_ports(free_port(), native, free_port())
    with local:
        local.start([("127.0.0.1", native)])
        yield native


@pytest.mark.integration
@pytest.mark.live
def test_debian_18_16_creates_exactly_the_legacy_families(server: int) -> None:
    created, refused = set(), {}
    for number, (family, column_type) in enumerate(sorted(SAMPLES.items())):
        try:
            native_query("127.0.0.1", server, f"CREATE TABLE default.t{number} (c {column_type}) ENGINE = Memory")
            created.add(family)
        except ServerException as error:
            refused[family] = error.code
    assert created == set(LEGACY_TYPE_FAMILIES), refused
    assert set(refused.values()) <= {44, 50}  # ILLEGAL_COLUMN (LowCardinality), UNKNOWN_TYPE
