"""The users section's files: the server-wide refusal of insecure users, the stock users'
fate, the declared users with their credentials, networks and rights, the quotas, and the
server's own rule for passwords set through SQL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.stock import STOCK_PASSWORDLESS_USERS
from hardhouse.render.credentials import MIN_LENGTH
from hardhouse.spec.fields import parse_network
from hardhouse.spec.model import HardeningSpec
from hardhouse.spec.rights import row_filters, user_access
from hardhouse.spec.users import LOCKED_PROFILE, refuses_insecure_auth, server_password_policy

if TYPE_CHECKING:
    from hardhouse.render.inputs import RenderInput

# A SHA-256 value with no known preimage: no password maps to it, and a fixed value keeps
# renders reproducible (a re-deploy changes nothing).
LOCKED_HASH = "f" * 64
# A user name a users.d file can remove by element name (ASCII XML names; others are refused
# before rendering, by hardhouse.deploy.users).
REMOVABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}")
# The render-time judge's length rule, as the server's password_complexity can state it.
# (The judge also refuses guessable passwords; no regular expression can.)
PASSWORD_RULES = ({"pattern": f".{{{MIN_LENGTH}}}", "message": f"be at least {MIN_LENGTH} characters long"},)


def xml_network(text: str, version: versions.Version) -> str:
    network = parse_network(text)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    if network.version == 4 and not versions.has(version, "ipv4_cidr_networks"):
        # 18.16 matches every client as an IPv6 address and applies the prefix to it: written
        # as given, 10.0.0.0/8 would admit every IPv4 client. The IPv4-mapped form is exact.
        return f"::ffff:{network.network_address}/{network.prefixlen + 96}"
    return str(network)


def host_removals(spec: HardeningSpec, names: Sequence[str]) -> list[str]:
    """The host's undeclared users to remove, sorted; a name the render must not write is a bug."""
    if not names:
        return []
    if spec.undeclared_users != "remove":
        raise ValueError(f"users to remove were given, but undeclared_users is {spec.undeclared_users}")
    declared = {user.name for user in spec.users}
    for name in names:
        if name in declared or name == "default" or name in STOCK_PASSWORDLESS_USERS:
            raise ValueError(f"user {name!r} is not an undeclared host user")
        if not REMOVABLE_NAME.fullmatch(name):
            raise ValueError(f"user {name!r} cannot be written as an XML element name")
    return sorted(set(names))


def auth(given: RenderInput) -> dict[str, Any] | None:
    return {} if refuses_insecure_auth(given.spec) else None


def stock_users(given: RenderInput) -> dict[str, Any]:
    spec = given.spec
    declared = {user.name for user in spec.users}
    return {
        "default_user": spec.default_user,
        "locked_hash": LOCKED_HASH,
        "locked_profile": LOCKED_PROFILE,
        "removed_stock_users": [name for name in STOCK_PASSWORDLESS_USERS if name not in declared],
        "removed_host_users": host_removals(spec, given.remove_users),
    }


def users(given: RenderInput) -> dict[str, Any]:
    spec = given.spec
    out = []
    for user in spec.users:
        grants, databases = user_access(spec, user)
        credential = given.credentials[user.name]
        out.append(
            {
                "name": user.name,
                "kind": credential.kind,
                "secret": credential.value,
                "networks": [xml_network(text, spec.version) for text in user.networks],
                "profile": user.profile,
                "quota": user.quota,
                "grants": grants,
                "databases": databases,
                "row_filters": row_filters(spec, user.name),
            }
        )
    return {"users": out}


def quotas(given: RenderInput) -> dict[str, Any] | None:
    return {"quotas": given.spec.quotas} if given.spec.quotas else None


def password_policy(given: RenderInput) -> dict[str, Any] | None:
    spec = given.spec
    if not server_password_policy(spec):
        return None
    return {"rules": PASSWORD_RULES, "password_type": spec.password_policy.sql_password_type}
