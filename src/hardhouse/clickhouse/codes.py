"""ClickHouse error codes that matter to hardhouse, and how to read one out of a message."""

from __future__ import annotations

import re

# Login refusals. 18.16 says why; modern servers say 516 for all of them, so a client
# cannot learn whether a user exists or which check failed.
UNKNOWN_USER = 192
WRONG_PASSWORD = 193
REQUIRED_PASSWORD = 194
IP_ADDRESS_NOT_ALLOWED = 195
AUTHENTICATION_FAILED = 516
LOGIN_REFUSALS = frozenset(
    {UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, IP_ADDRESS_NOT_ALLOWED, AUTHENTICATION_FAILED}
)
READONLY = 164  # a setting was changed by a read-only user
ACCESS_DENIED = 497
SETTING_CONSTRAINT_VIOLATION = 452  # a SET outside a profile's constraint (modern servers)
UNKNOWN_SETTING = 115  # e.g. mutations_sync on 18.16
NETWORK_ERROR = 210  # clickhouse-client could not connect
# The password was accepted and only the user's max_sessions_for_user refused the session (the
# limit is checked after authentication: a wrong password gets 516 first). Not a refusal of
# the credentials: a client gets in as soon as a session ends.
USER_SESSION_LIMIT_EXCEEDED = 700


def session_limit_only(code: int | None) -> str | None:
    """What a 700 means, for a report; None for any other code."""
    if code != USER_SESSION_LIMIT_EXCEEDED:
        return None
    return (
        "the password was accepted; only the user's session limit (700 USER_SESSION_LIMIT_EXCEEDED) "
        "refused the session, and a client gets in as soon as one ends"
    )


CODE_PATTERN = re.compile(r"Code: (\d{1,6})")


def code_in(text: str) -> int | None:
    """The first `Code: N` in a ClickHouse message, or None."""
    match = CODE_PATTERN.search(text)
    return int(match.group(1)) if match else None
