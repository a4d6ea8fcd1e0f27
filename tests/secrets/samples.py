"""Fake secrets in the shapes log lines carry, built at run time (no key-shaped literal sits in
the repository for a secret scanner to flag), with the lines that must stay as they are."""

from __future__ import annotations

import re
import secrets
import string


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


ALNUM = string.ascii_letters + string.digits


def fake_secrets() -> dict[str, list[str]]:
    """rule name -> log lines holding one secret of its shape; the secret part is random."""
    body = _random(ALNUM, 32)
    return {
        "api_key": [f"calling model with key sk-{body}", f"stripe sk_live_{body[:24]}", f"pk_test_{body[:20]} ok"],
        "github_token": [f"clone with ghp_{_random(ALNUM, 36)}", f"github_pat_{_random(ALNUM, 30)}"],
        "slack_token": [f"slack xoxb-{_random(string.digits, 12)}-{_random(ALNUM, 24)}"],
        "aws_access_key": [f"aws key AKIA{_random(string.ascii_uppercase + string.digits, 16)} used"],
        "private_key": [
            "-----BEGIN RSA PRIVATE KEY-----\\n" + _random(ALNUM, 40) + "\\n-----END RSA PRIVATE KEY-----",
            "key: -----BEGIN PRIVATE KEY-----" + _random(ALNUM, 40),
        ],
        "jwt": [f"session eyJhbGciOiJIUzI1NiJ9.eyJ{_random(ALNUM, 20)}.{_random(ALNUM, 30)}"],
        "bearer_token": [
            f"Authorization: Bearer {_random(ALNUM, 28)}",
            f"authorization: bearer {_random(ALNUM, 20)}==",
        ],
        "url_credentials": [f"connecting to postgres://app:{_random(ALNUM, 14)}@db.internal:5432/logs"],
        "secret_assignment": [
            f"login password={_random(ALNUM, 12)}&user=bob",
            f'config {{"api_key": "{_random(ALNUM, 20)}"}}',
            f"token: {_random(ALNUM, 16)}",
            f"client_secret={_random(ALNUM, 24)}",
        ],
    }


BENIGN = [
    "GET /api/v1/items?page=2 200 12ms",
    "user bob logged in from 10.0.0.7",
    "skipping sk- prefix check",
    "the token bucket refilled",
    "password reset requested for bob@example.com",
    "ask-for-help button clicked",
    "disk usage 71%; task_id=7f3a",
]


def secret_part(line: str) -> str:
    """The random part of a fake (its longest run of letters and digits)."""
    return max(re.findall(r"[A-Za-z0-9]{10,}", line), key=len)


def fake_lines() -> list[str]:
    return [line for lines in fake_secrets().values() for line in lines]


# Lines an attacker (or an odd application) writes: quotes, backslashes, non-ASCII, a secret
# split by a newline escape, several secrets in one line, and a long line.
def hostile_lines() -> list[str]:
    body = _random(ALNUM, 24)
    return [
        f"it's a 'quoted' \\ line with sk-{body} and \\'",
        f"unicode: пароль=секрет and token=ключ{body[:8]} and ünïcödé sk-{body}",
        f"two: Bearer {body} then password:{body[::-1]}",
        "x" * 5000 + f" api_key={body} " + "y" * 5000,
        f"PASSWORD = '{body}'",
        "Authorization:Bearer\t" + body,
    ]
