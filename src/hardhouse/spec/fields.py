"""Rules for the strings a spec carries: names, environment variables, hashes, addresses,
networks, host paths, regular expressions and column types. Each raises `fail(...)`, which
pydantic collects with the field's path. The deploy applies the same host-path rule
(`is_plain_host_path`).

Every pattern is matched against the whole string (`fullmatch`): with `re.match` and `$`,
a trailing newline slipped through ("default\\n" was not "default").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from pydantic_core import PydanticCustomError

from hardhouse.clickhouse.column_types import TypeSyntaxError, parse_column_type
from hardhouse.spec.errors import NOT_SHOWN, excerpt

# A name that is safe as an XML element name and as a ClickHouse identifier.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
NAME_RULE = "starts with a letter or underscore, then letters, digits or underscores (at most 63)"
ENV_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
# X.509 limits a common name to 64 characters (RFC 5280, ub-common-name).
COMMON_NAME_MAX = 64
# Characters no string that reaches XML, SQL or a shell may hold: C0 controls (tab and
# newline included), DEL, C1 controls, the Unicode line and paragraph separators, lone
# surrogates and the two non-characters XML 1.0 excludes.
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
# An IPv6 zone (fe80::1%eth0): an interface name or index, nothing that needs escaping.
SCOPE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
PATH_MAX_BYTES = 4096
HOST_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._+@-]+")
HOST_PATH_EXAMPLE = "/etc/clickhouse-server/tls/server.crt"
HOST_PATH_RULE = "absolute, normalized, only letters, digits, . _ + @ - and /"

AnyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Seen through IPv6, as ClickHouse matches clients on some versions (18.16 for certain):
# ::ffff:0:0/96 is every IPv4 client; 2000::/3 every public IPv6 address.
EVERY_IPV4 = ipaddress.IPv6Network("::ffff:0:0/96")
EVERY_PUBLIC_IPV6 = ipaddress.IPv6Network("2000::/3")
EVERYTHING = ((EVERY_IPV4, "every IPv4 address"), (EVERY_PUBLIC_IPV6, "every public IPv6 address (2000::/3)"))


def fail(problem: str, fix: str) -> PydanticCustomError:
    """An error pydantic collects with the others, carrying our fix text."""
    # Braces would be read as pydantic placeholders; the message is plain text.
    problem = problem.replace("{", "(").replace("}", ")")
    return PydanticCustomError("hardhouse", problem, {"fix": fix})


def has_control_character(text: str) -> bool:
    """XML 1.0 cannot carry these, escaped or not; the rest are refused so that what a
    reviewer reads is what the server gets."""
    return CONTROL_CHARACTER.search(text) is not None


def check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise fail(f"{what} {excerpt(value)} cannot be used", f"use a name that {NAME_RULE}")
    return value


def check_env_name(value: str, example: str) -> str:
    """An environment variable name; never echoed, since a pasted password lands here."""
    if not ENV_PATTERN.fullmatch(value):
        raise fail(
            f"this is not an environment variable name {NOT_SHOWN}",
            f"use letters, digits and underscores, e.g. {example}",
        )
    return value


def check_sha256_hex(value: str) -> str:
    if not SHA256_PATTERN.fullmatch(value):
        raise fail(
            f"this is not 64 lowercase hex digits {NOT_SHOWN}",
            "use the output of: printf '%s' \"$PASSWORD\" | sha256sum",
        )
    return value


# ---------------------------------------------------------------- addresses and networks


def _split_scope(text: str) -> tuple[str, str | None]:
    address, percent, scope = text.partition("%")
    return address, (scope if percent else None)


def check_address(text: str) -> str:
    """An IP address to listen on; an IPv6 zone (fe80::1%eth0) may follow, made only of
    letters, digits, '_', '.' and '-'."""
    _, scope = _split_scope(text)
    if scope is not None and not SCOPE_ID.fullmatch(scope):
        raise fail(
            f"{excerpt(text)} has a scope id (after %) with characters other than letters, digits, '_', '.' and '-'",
            "write the interface name or index after %, e.g. fe80::1%eth0",
        )
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise fail(f"{excerpt(text)} is not an IP address", "use an explicit address such as 10.0.0.5 or ::1") from None
    return text


def listens_everywhere(text: str) -> bool:
    """0.0.0.0 and :: bind every interface; so does the IPv4-mapped ::ffff:0.0.0.0."""
    address = ipaddress.ip_address(text)
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_unspecified or (mapped is not None and mapped.is_unspecified)


def check_network(text: str) -> str:
    parse_network(text)
    return text


def parse_network(text: str) -> AnyNetwork:
    if "%" in text:
        # A client network carries no zone; refused outright rather than half-supported.
        raise fail(
            f"{excerpt(text)} has a scope id (after %), which a client network cannot carry",
            "write the network without %..., e.g. fe80::/64",
        )
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        fix = "write an address (10.0.0.5) or a network in CIDR form (10.0.0.0/8, 2001:db8::/64)"
        if "host bits set" in str(error):
            fix = f"write the network address: {ipaddress.ip_network(text, strict=False)}"
        raise fail(f"{excerpt(text)} is not an IP network", fix) from None


def as_ipv6(network: AnyNetwork) -> ipaddress.IPv6Network:
    """a.b.c.d/n as ::ffff:a.b.c.d/(n+96): the form in which IPv6 sockets see IPv4 clients."""
    if isinstance(network, ipaddress.IPv4Network):
        return ipaddress.IPv6Network(f"::ffff:{network.network_address}/{network.prefixlen + 96}")
    return network


def everything_covered(networks: Iterable[AnyNetwork]) -> list[str]:
    """Which of "every IPv4 address" and "every public IPv6 address" the union of networks
    covers, judged in the IPv4-mapped view on every target (a false refusal is a nuisance,
    a false pass a hole)."""
    union = list(ipaddress.collapse_addresses(as_ipv6(network) for network in networks))
    return [what for target, what in EVERYTHING if any(target.subnet_of(block) for block in union)]


def is_any_network(network: AnyNetwork) -> bool:
    """A single network that admits every IPv4 or every public IPv6 client."""
    return bool(everything_covered([network]))


# ---------------------------------------------------------------- paths


def host_path_problem(value: str) -> str | None:
    """Why value is not a plain host path, or None: absolute, normalized (no empty, '.' or
    '..' segment, no '//', no trailing '/'), only [A-Za-z0-9._+@-] and '/', at most 4096 bytes."""
    if not value.startswith("/"):
        return "is not an absolute path"
    segments = value[1:].split("/")
    if not all(HOST_PATH_SEGMENT.fullmatch(segment) for segment in segments if segment):
        return "contains a character other than letters, digits, '.', '_', '+', '@', '-' and '/'"
    if any(segment in ("", ".", "..") for segment in segments):
        return "is not normalized (it has an empty, '.' or '..' segment, a '//' or a trailing '/')"
    if len(value) > PATH_MAX_BYTES:  # ASCII by now: characters are bytes
        return f"is longer than {PATH_MAX_BYTES} bytes"
    return None


def is_plain_host_path(value: object) -> bool:
    """The host-path rule as a predicate, for callers outside pydantic (the deploy)."""
    return isinstance(value, str) and host_path_problem(value) is None


def check_host_path(value: str, example: str = HOST_PATH_EXAMPLE) -> str:
    """A path on a host, safe in XML and in a shell command without quoting. The value is
    not echoed: some of these paths name key files."""
    problem = host_path_problem(value)
    if problem is not None:
        raise fail(f"this {problem}", f"give the full path on the host, normalized, e.g. {example}")
    return value


def check_local_path(value: str) -> str:
    """A path on the machine that renders (password_file): relative or absolute, but with no
    control character or NUL, and never echoed (a password may have been pasted here)."""
    if not value:
        raise fail("the path is empty", "give the path of the file holding the password")
    if has_control_character(value):
        raise fail(
            f"the path contains a control character or NUL {NOT_SHOWN}",
            "give the plain path of the file holding the password",
        )
    if len(value.encode("utf-8")) > PATH_MAX_BYTES:
        raise fail(
            f"the path is longer than {PATH_MAX_BYTES} bytes {NOT_SHOWN}",
            "give the path of the file holding the password",
        )
    return value


def check_database(text: str) -> str:
    return check_name(text, "database name")


def check_user_reference(text: str) -> str:
    return check_name(text, "user name")


# ---------------------------------------------------------------- column types


COLUMN_TYPE_FIX = "use a ClickHouse type such as String, DateTime, LowCardinality(String) or DateTime64(3, 'UTC')"


def check_column_type(text: str) -> str:
    """A ClickHouse type from an explicit grammar (hardhouse.clickhouse.column_types), so no
    clause or statement can ride along into CREATE TABLE."""
    try:
        parse_column_type(text)
    except TypeSyntaxError as error:
        raise fail(
            f"{excerpt(text)} is not a column type hardhouse can write safely: {error}",
            COLUMN_TYPE_FIX,
        ) from None
    return text
