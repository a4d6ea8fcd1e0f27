"""The built-in secret shapes: each finds its own fakes and no plain log line, the rewrite keeps
the secret's name and drops its value, and a team's rule is refused when ClickHouse would read
it otherwise than meant."""

from __future__ import annotations

import pytest

from hardhouse.secret_shapes import (
    BUILTIN_RULES,
    RuleError,
    SecretRule,
    check_replacement,
    compile_rule,
    matching_rules,
    redact_text,
)
from tests.secrets.samples import BENIGN, fake_secrets, secret_part


@pytest.mark.parametrize("rule", [rule.name for rule in BUILTIN_RULES])
def test_each_rule_finds_its_fakes_and_the_rewrite_drops_the_secret(rule: str) -> None:
    lines = fake_secrets()[rule]
    for line in lines:
        assert rule in matching_rules(line, BUILTIN_RULES), line
        stored = redact_text(line, BUILTIN_RULES)
        assert secret_part(line) not in stored, (line, stored)
        assert "[REDACTED" in stored
        assert matching_rules(stored, BUILTIN_RULES) == [], stored


@pytest.mark.parametrize("line", BENIGN)
def test_a_plain_log_line_matches_no_rule_and_is_stored_as_written(line: str) -> None:
    assert matching_rules(line, BUILTIN_RULES) == []
    assert redact_text(line, BUILTIN_RULES) == line


def test_the_rewrite_keeps_what_names_the_secret() -> None:
    assert redact_text("Authorization: Bearer abcdef123", BUILTIN_RULES) == "Authorization: Bearer [REDACTED]"
    assert redact_text("x password=hunter2&y=1", BUILTIN_RULES) == "x password=[REDACTED]&y=1"
    assert redact_text("https://u:pw@h/x", BUILTIN_RULES) == "https://u:[REDACTED]@h/x"


@pytest.mark.parametrize(
    ("regexp", "reason"),
    [
        ("", "empty"),
        ("(?<=key=)\\w+", "not valid RE2"),
        ("(a)\\1", "not valid RE2"),
        ("a*", "empty string"),
        ("a\nb", "control character"),
        ("x" * 1001, "longer than"),
    ],
)
def test_a_rule_clickhouse_would_refuse_or_misread_is_refused_with_a_fix(regexp: str, reason: str) -> None:
    with pytest.raises(RuleError) as error:
        compile_rule(regexp)
    assert reason in error.value.reason and error.value.fix


@pytest.mark.parametrize("replace", ["\\2", "\\q", "a\\", "x\ty"])
def test_a_replacement_naming_a_missing_group_or_a_raw_control_character_is_refused(replace: str) -> None:
    with pytest.raises(RuleError):
        check_replacement(replace, groups=1)


def test_a_teams_rule_rewrites_with_its_groups() -> None:
    rule = SecretRule("acct", r"(acct-)[0-9]{8}", r"\1########", "account numbers")
    check_replacement(rule.replace, rule.compiled().groups)
    assert redact_text("acct-12345678 paid", [rule]) == "acct-######## paid"


def test_a_pathological_pattern_runs_in_linear_time() -> None:
    # (a+)+$ backtracks for hours in Python's re; RE2 answers at once.
    rule = SecretRule("p", "(a+)+$", "x", "")
    assert matching_rules("a" * 50_000 + "!", [rule]) == []
