"""The spec's query_masking section: which secrets the server masks in its query and server
logs (hardhouse's built-in rules and the spec's own); the models, the rules that span them,
and which rules a target gets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse.secret_shapes import RuleError, check_replacement, compile_rule
from hardhouse.spec.declare import StrictModel, described
from hardhouse.spec.errors import Problem
from hardhouse.spec.fields import check_name
from hardhouse.spec.gates import Gate, refusals, wanted

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec

# Built-in masking rules: (name, RE2 regexp, replacement). Each replacement keeps enough of
# the match to show that something was there and what kind of secret it was.
BUILTIN_MASKING_RULES: tuple[tuple[str, str, str], ...] = (
    # OpenAI-style and similar API keys: sk-..., sk-live-..., sk-proj-...
    ("hardhouse_api_keys", r"sk-[A-Za-z0-9_-]{16,}", "sk-******"),
    # Authorization: Bearer <token>
    ("hardhouse_bearer_tokens", r"(?i)(bearer\s+)[A-Za-z0-9._~+/-]+=*", r"\1******"),
    # api_key=..., token: ..., secret=..., password=... inside log lines and query text
    (
        "hardhouse_secret_assignments",
        r"(?i)((?:api[_-]?key|access[_-]?token|token|secret|password)\s*[=:]\s*)[^\s'\",;&]+",
        r"\1******",
    ),
    # CREATE/ALTER USER ... IDENTIFIED [WITH method] BY 'secret' (quotes escaped as \' or '')
    ("hardhouse_identified_by", r"(?i)(IDENTIFIED\s+(?:WITH\s+\w+\s+)?BY\s+)'(?:[^'\\]|\\.|'')*'", r"\1'******'"),
)


class MaskingRule(StrictModel):
    name: str = described(description="rule name (unique)")
    regexp: str = described(description="RE2 regular expression matching the secret")
    replace: str = described("******", description="replacement text; \\1..\\9 insert capture groups")

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        return check_name(value, "rule name")

    @model_validator(mode="after")
    def valid_rule(self) -> MaskingRule:
        """The regexp by RE2 itself; the replacement as ClickHouse reads it (hardhouse.secret_shapes,
        which redaction at ingest uses too)."""
        try:
            compiled = compile_rule(self.regexp)
        except RuleError as error:
            raise PydanticCustomError("hardhouse", f"regexp: {error.reason}", {"fix": error.fix}) from None
        try:
            check_replacement(self.replace, compiled.groups)
        except RuleError as error:
            raise PydanticCustomError("hardhouse", f"replace: {error.reason}", {"fix": error.fix}) from None
        return self


class QueryMasking(StrictModel):
    builtin_rules: Annotated[
        bool | None, Gate("query_masking_rules", "set builtin_rules: null, or target a newer clickhouse_version")
    ] = described(
        None,
        description=(
            "apply hardhouse's rules for API keys (sk-...), bearer tokens, key=value secrets and passwords in "
            "IDENTIFIED BY; null: where the target supports masking (22.8+)"
        ),
        why="the incident leaked API keys through logs; masking costs nothing where the server has it",
    )
    rules: Annotated[
        list[MaskingRule],
        Gate(
            "query_masking_rules",
            "remove it (query masking needs 22.8+), or target a newer clickhouse_version",
        ),
    ] = described(default_factory=list, description="your own rules, applied after the built-in ones (needs 22.8+)")


def masking_rules(spec: HardeningSpec) -> list[tuple[str, str, str]]:
    """(name, regexp, replacement) of every rule the target gets, built-in ones first."""
    builtin = wanted(spec.query_masking, "builtin_rules", spec.version)
    rules = list(BUILTIN_MASKING_RULES) if builtin else []
    return rules + [(rule.name, rule.regexp, rule.replace) for rule in spec.query_masking.rules]


def checks(spec: HardeningSpec) -> list[Problem]:
    """Masking asked for where the target lacks it; a rule name used twice."""
    masking = spec.query_masking
    problems = refusals(masking, "builtin_rules", spec.version, "query_masking")
    problems += refusals(masking, "rules", spec.version, "query_masking")
    taken = {name for name, _, _ in BUILTIN_MASKING_RULES}
    for index, rule in enumerate(masking.rules):
        if rule.name in taken:
            problems.append(
                Problem(
                    f"query_masking.rules[{index}].name",
                    f"rule name {rule.name!r} is already used",
                    "give each rule its own name (names starting hardhouse_ are the built-in rules')",
                )
            )
        taken.add(rule.name)
    return problems
