"""What the scan tests share: log lines with fake secrets (tests/secrets/samples.py) and plain
ones, the counts each rule must give for them (RE2 here, the same rules), and the random
parts of the secrets that must appear in no output."""

from __future__ import annotations

import re
from collections import Counter

from hardhouse.secret_shapes import BUILTIN_RULES, matching_rules
from tests.secrets.samples import fake_secrets

RANDOM_PART = re.compile(r"[A-Za-z0-9]{12,}")


def secret_lines() -> list[str]:
    return [line for lines in fake_secrets().values() for line in lines]


def expected_counts(lines: list[str]) -> dict[str, int]:
    """rule -> rows matching it, by RE2 in this process (a row counts once per rule)."""
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(matching_rules(line, BUILTIN_RULES))
    return dict(counts)


def random_parts(lines: list[str]) -> set[str]:
    """The long alphanumeric runs of the secret lines: what a leak of a value would show."""
    return {part for line in lines for part in RANDOM_PART.findall(line)}
