"""The view's rewrite expression (hardhouse.render.log_databases.rewritten): with more than one
rule it rewrites only the texts one rule matches, and the alternation it tests with matches a
text exactly when one of the rules does (RE2 here, as in ClickHouse)."""

from __future__ import annotations

import re2

from hardhouse.clickhouse.column_types import parse_column_type
from hardhouse.clickhouse.literals import sql_string
from hardhouse.render.log_databases import any_rule, replaced, rewritten
from hardhouse.secret_shapes import BUILTIN_RULES, RE2_OPTIONS, SecretRule, matching_rules
from tests.secrets.samples import BENIGN, fake_lines, hostile_lines
from tests.secrets.unicode_lines import case_folded_lines

ACCOUNT = SecretRule("acct", "(acct-)[0-9]{8}", "\\1########", "test")


def test_one_rule_is_its_replace_alone() -> None:
    assert rewritten("message", parse_column_type("String"), (ACCOUNT,)) == replaced("message", (ACCOUNT,))


def test_several_rules_run_only_on_the_texts_their_alternation_matches() -> None:
    rules = (*BUILTIN_RULES, ACCOUNT)
    expression = rewritten("message", parse_column_type("String"), rules)
    filtered = f"arrayFilter(x1 -> match(x1, {sql_string(any_rule(rules))}), [message])"
    assert expression == f"arrayConcat(arrayMap(x1 -> {replaced('x1', rules)}, {filtered}), [message])[1]"


def test_a_null_is_tested_as_an_empty_text_and_array_elements_each() -> None:
    nullable = rewritten("note", parse_column_type("Nullable(String)"), BUILTIN_RULES)
    assert "match(assumeNotNull(x1), " in nullable
    low = rewritten("host", parse_column_type("LowCardinality(Nullable(String))"), BUILTIN_RULES)
    assert "match(assumeNotNull(x1), " in low
    tags = rewritten("tags", parse_column_type("Array(String)"), BUILTIN_RULES)
    assert tags.startswith("arrayMap(x1 -> arrayConcat(arrayMap(x2 -> ") and tags.endswith(", tags)")
    assert "match(x2, " in tags and "assumeNotNull" not in tags


def test_the_alternation_matches_exactly_when_a_rule_does() -> None:
    rules = (*BUILTIN_RULES, ACCOUNT)
    alternation = re2.compile(any_rule(rules), options=RE2_OPTIONS)
    lines = fake_lines() + hostile_lines() + BENIGN + case_folded_lines() + ["paid from acct-12345678", ""]
    for line in lines:
        assert (alternation.search(line) is not None) == bool(matching_rules(line, rules))
    assert any(alternation.search(line) is None for line in lines)  # the test sees both answers
