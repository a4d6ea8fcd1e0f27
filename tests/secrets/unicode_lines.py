"""Secret-shaped lines whose names are spelled with letters that RE2's (?i) folds to ASCII ones
(KELVIN SIGN to k, LONG S to s): a rule's case-insensitive match finds them, and an ASCII-only
case-insensitive search would not. Built at run time; the secret part is random."""

from __future__ import annotations

import secrets
import string

KELVIN_SIGN = "\u212a"  # folds to k
LONG_S = "\u017f"  # folds to s


def _random(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def case_folded_lines() -> list[str]:
    return [
        f"login pa{LONG_S}{LONG_S}word={_random(14)}",
        f"to{KELVIN_SIGN}en: {_random(16)}",
        f"api_{KELVIN_SIGN}ey={_random(18)}",
        f"AUTHORIZATION: BEARER {_random(22)}",
    ]
