"""What secrets look like in log lines: hardhouse's built-in rules, a team's own, and the same
matching and rewriting ClickHouse does with them.

One list serves three uses, so that what is redacted at ingest, what `hardhouse scan` counts at
rest and what the probe weighs in an open table are the same shapes:

    redaction   replaceRegexpAll(column, rule.regexp, rule.replace), rule after rule
    scan        countIf(match(column, rule.regexp)), computed by the server
    tests       redact_text / matching_rules: the same rewrite done here with RE2, checked
                against ClickHouse's own answer (tests/render/test_redaction_oracle.py)

A rule is RE2 (ClickHouse's regexp engine, linear time); its replacement uses ClickHouse's
syntax: \\0..\\9 insert a capture group, \\\\ a backslash. Each built-in replacement keeps what
names the secret (`Bearer `, `api_key=`, the URL's user) and replaces only the secret, and no
rule matches what a rule wrote: a redacted table scans clean.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import re2

REGEXP_MAX = 1000  # characters; a rule is a short pattern, not a program
REDACTED = "[REDACTED]"

# RE2 keeps its parse errors (which quote the pattern) off stderr.
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False

# A raw control, separator or format character (what str.isprintable rejects) would reach the
# server as a byte a reviewer cannot see; RE2 takes it as an escape instead.
ESCAPE_FIX = "write it as an RE2 escape, e.g. \\n, \\t or \\x{202e}"
# \0..\9, \\ ; anything else after a backslash is not a replacement ClickHouse reads.
REPLACEMENT_ESCAPE = re.compile(r"\\(.?)", re.S)


@dataclass(frozen=True)
class SecretRule:
    name: str
    regexp: str  # RE2
    replace: str  # ClickHouse replaceRegexpAll syntax
    what: str  # what it finds, for humans
    label: str = ""  # the same in the fewest words, for a headline ("API keys"); "": the name

    def compiled(self) -> re2._Regexp:
        return compile_rule(self.regexp)


BUILTIN_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "api_key",
        # OpenAI/Anthropic sk-..., Stripe sk_live_/pk_test_/rk_..., with their key body.
        r"\b(?:sk|pk|rk)[-_][A-Za-z0-9_-]{16,}",
        REDACTED,
        "API keys of the sk-/sk_/pk_/rk_ families",
        "API keys",
    ),
    SecretRule(
        "github_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
        REDACTED,
        "GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)",
        "GitHub tokens",
    ),
    SecretRule(
        "slack_token",
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        REDACTED,
        "Slack tokens (xoxb-, xoxp-, xoxa-, ...)",
        "Slack tokens",
    ),
    SecretRule(
        "aws_access_key",
        r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
        REDACTED,
        "AWS access key ids (AKIA..., ASIA...)",
        "AWS access key ids",
    ),
    SecretRule(
        "private_key",
        # A key block, or its start up to the end of a line that cut it off.
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
        "[REDACTED PRIVATE KEY]",
        "PEM private key blocks",
        "private keys",
    ),
    SecretRule(
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*",
        REDACTED,
        "JSON Web Tokens (eyJ....eyJ....)",
        "JSON Web Tokens",
    ),
    SecretRule(
        "bearer_token",
        r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]+=*",
        r"\1" + REDACTED,
        "Authorization: Bearer tokens",
        "bearer tokens",
    ),
    SecretRule(
        "url_credentials",
        r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@\[][^/\s@]*@",
        r"\1" + REDACTED + "@",
        "passwords in URLs (scheme://user:password@host)",
        "passwords in URLs",
    ),
    SecretRule(
        "secret_assignment",
        r"(?i)\b((?:api[_-]?key|access[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|token|secret|"
        r"passwd|password|pwd)[\"']?\s*[=:]\s*[\"']?)[^\s'\",;&\[][^\s'\",;&]*",
        r"\1" + REDACTED,
        "password=, secret=, token=, api_key= and similar pairs",
        "passwords and tokens",
    ),
)
BUILTIN_NAMES = frozenset(rule.name for rule in BUILTIN_RULES)


class RuleError(ValueError):
    """Why a regexp or a replacement is refused: the reason, and the fix."""

    def __init__(self, reason: str, fix: str):
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@functools.lru_cache(maxsize=512)  # rules are few; each line of a test or report asks again
def compile_rule(regexp: str) -> re2._Regexp:
    """The rule compiled by RE2, or RuleError. Refused: empty, too long, a control character
    (ClickHouse would read the raw byte), not RE2, or matching the empty string (it would
    rewrite every row and a count would match every row)."""
    if not regexp:
        raise RuleError("the regexp is empty", "write an RE2 regular expression matching the secret")
    if len(regexp) > REGEXP_MAX:
        raise RuleError(f"the regexp is longer than {REGEXP_MAX} characters", "write a shorter pattern")
    if not regexp.isprintable():
        raise RuleError("the regexp contains a control character (or another invisible one)", ESCAPE_FIX)
    try:
        compiled = re2.compile(regexp, options=RE2_OPTIONS)
    except (re2.error, ValueError, TypeError, UnicodeError) as error:
        detail = error.args[0] if error.args else ""
        reason = (detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail))[:120]
        raise RuleError(
            f"the regexp is not valid RE2 ({reason})",
            "rewrite it in RE2 syntax (no lookaround or backreferences: https://github.com/google/re2/wiki/Syntax)",
        ) from None
    if compiled.search("") is not None:
        raise RuleError(
            "the regexp matches the empty string, so it would rewrite every row",
            "make it match at least one character of the secret",
        )
    return compiled


# An alternative that never matches ([^\s\S]: no character is neither space nor not-space).
NEVER = r"[^\s\S]"


def for_match(regexp: str) -> str:
    r"""The regexp as ClickHouse's match() must be given it to answer as RE2 does: the same
    matches, behind a top-level alternation. 18.16's match() takes a shortcut for a single
    pattern with a literal part that ignores (?i) (`(?i)bearer\s+\S+` misses "BEARER x",
    checked live); with a top-level `|` it runs RE2 (tests/scan, tests/render)."""
    return f"(?:{regexp})|{NEVER}"


def check_replacement(replace: str, groups: int) -> None:
    """RuleError unless `replace` is text ClickHouse's replaceRegexpAll reads as intended."""
    if not replace.isprintable():
        raise RuleError("the replacement contains a control character (or another invisible one)", "use plain text")
    if len(replace) > REGEXP_MAX:
        raise RuleError(f"the replacement is longer than {REGEXP_MAX} characters", "write a shorter replacement")
    for escape in REPLACEMENT_ESCAPE.finditer(replace):
        after = escape.group(1)
        if after == "\\":
            continue
        if not after.isdigit() or int(after) > groups:
            raise RuleError(
                f"the replacement has \\{after!r}, which is not \\\\ or a capture group of the regexp",
                f"use \\0 to \\{groups} for capture groups, or \\\\ for a backslash",
            )


def _expand(replace: str, match: re2._Match) -> str:
    def one(escape: re.Match[str]) -> str:
        after = escape.group(1)
        return "\\" if after == "\\" else (match.group(int(after)) or "")

    return REPLACEMENT_ESCAPE.sub(one, replace)


def redact_text(text: str, rules: Iterable[SecretRule]) -> str:
    """`text` as the redaction stores it: each rule's replaceRegexpAll, in order."""
    for rule in rules:
        text = rule.compiled().sub(lambda match, rule=rule: _expand(rule.replace, match), text)
    return text


def matching_rules(text: str, rules: Sequence[SecretRule]) -> list[str]:
    """The names of the rules that match somewhere in `text` (what scan counts per row)."""
    return [rule.name for rule in rules if rule.compiled().search(text) is not None]
