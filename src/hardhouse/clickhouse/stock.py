"""What a stock ClickHouse install ships: users, profiles and quotas every users.xml defines."""

from __future__ import annotations

import hashlib

# Profiles and quotas every stock users.xml defines, so a spec may name them unseen.
STOCK_PROFILES = frozenset({"default", "readonly"})
STOCK_QUOTAS = frozenset({"default"})
# Debian's 18.16 users.xml also ships a passwordless "readonly" user (loopback only).
STOCK_PASSWORDLESS_USERS = ("readonly",)
# The SHA-256 of the empty password: a "hash" that is no password at all.
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Databases ClickHouse keeps for itself (and the stock one).
RESERVED_DATABASES = frozenset({"system", "information_schema", "INFORMATION_SCHEMA", "default"})
# The file `incl` substitutions come from when no include_from names one (18.16 and modern
# servers alike): a file outside the configuration directory that the server reads.
DEFAULT_INCLUDE_FROM = "/etc/metrika.xml"
