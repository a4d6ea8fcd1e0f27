"""The view's rewrite expression in the engines themselves (live 18.16, embedded 26.9): the
prefiltered rewrite the view renders stores, for every column type a redacted column may have,
exactly what every rule's replaceRegexpAll on every value stores, and for text exactly what
hardhouse's own RE2 rewrite predicts: fake secrets, hostile lines, lines whose names only
Unicode case folding matches, NULLs and arrays. (The ingest path itself is proven in
test_live_18_16.py and test_embedded_26_9.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.clickhouse.column_types import parse_column_type
from hardhouse.clickhouse.literals import sql_string
from hardhouse.render.log_databases import replaced, rewritten
from hardhouse.secret_shapes import BUILTIN_RULES, redact_text
from hardhouse.testing.local_server import server_binary
from tests.helpers import require
from tests.provision.capture import LiveServer, live_server
from tests.secrets.samples import BENIGN, fake_lines, hostile_lines
from tests.secrets.unicode_lines import case_folded_lines

# column type -> how a test value of that type is made from the text s
TYPES = {
    "String": "s",
    "Nullable(String)": "if(length(s) % 3 = 0, NULL, toNullable(s))",
    "Array(String)": "[s, 'plain', s]",
    "Array(Nullable(String))": "[toNullable(s), NULL, s]",
}
MODERN_TYPES = {
    **TYPES,
    "LowCardinality(String)": "toLowCardinality(s)",
    "LowCardinality(Nullable(String))": "toLowCardinality(if(length(s) % 3 = 0, NULL, toNullable(s)))",
}


def lines() -> list[str]:
    return fake_lines() + hostile_lines() + case_folded_lines() + BENIGN


def every_value(column_type: str) -> str:
    """Each rule's replaceRegexpAll on every value (the rewrite without a prefilter)."""
    if parse_column_type(column_type).family == "Array":
        return f"arrayMap(y -> {replaced('y', BUILTIN_RULES)}, c)"
    return replaced("c", BUILTIN_RULES)


def comparable(value: str) -> str:
    """A String for any value, NULL included (NULL != NULL would count as not differing)."""
    return f"concat(toString(isNull({value})), ifNull(toString({value}), ''))"


def differing(column_type: str, made: str, listed: str) -> str:
    rendered = rewritten("c", parse_column_type(column_type), BUILTIN_RULES)
    return (
        f"SELECT count() AS n, countIf({comparable(rendered)} != {comparable(every_value(column_type))}) AS differ "
        f"FROM (SELECT {made} AS c FROM (SELECT arrayJoin({listed}) AS s))"
    )


def queries(types: dict[str, str]) -> tuple[list[str], list[str]]:
    text = lines()
    listed = "[" + ", ".join(sql_string(line) for line in text) + "]"
    text_rewrite = rewritten("c", parse_column_type("String"), BUILTIN_RULES)
    stored = f"SELECT {text_rewrite} AS m FROM (SELECT arrayJoin({listed}) AS c)"
    return [stored] + [differing(t, made, listed) for t, made in types.items()], text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    with live_server(tmp_path_factory.mktemp("rewrite-18-16")) as running:
        yield running


@pytest.mark.integration
@pytest.mark.live
def test_18_16_stores_what_the_rules_and_hardhouse_predict(server: LiveServer) -> None:
    (stored, *typed), text = queries(TYPES)
    with server.session("admin") as admin:
        assert [row["m"] for row in admin.rows(stored)] == [redact_text(line, BUILTIN_RULES) for line in text]
        for query in typed:
            assert admin.rows(query) == [{"n": len(text), "differ": 0}]


@pytest.mark.integration
@pytest.mark.chdb
def test_26_9_stores_what_the_rules_and_hardhouse_predict(tmp_path: Path) -> None:
    from hardhouse.embedded import run_as
    from hardhouse.render import render
    from hardhouse.spec import load_spec
    from tests.provision.capture import MODERN_ENVIRON
    from tests.provision.scenarios import modern_spec

    (stored, *typed), text = queries(MODERN_TYPES)
    files = render(load_spec(modern_spec()), MODERN_ENVIRON)
    report = run_as(files, "admin", [stored, *typed], apply_sql=False, data_dir=tmp_path)
    assert report.logged_in and report.errors == [], (report.login, report.errors)
    first, *rest = report.outcomes
    assert first.ok and [row["m"] for row in first.rows] == [redact_text(line, BUILTIN_RULES) for line in text]
    assert [(o.ok, o.rows) for o in rest] == [(True, [{"n": len(text), "differ": 0}])] * len(rest)
