"""Rules for the strings a spec carries: names, environment variables, hashes, addresses,
networks, host paths, regular expressions and column types. Each raises `fail(...)`, which
pydantic collects with the field's path. The deploy applies the same host-path rule."""

from __future__ import annotations

import ipaddress
import re

from pydantic_core import PydanticCustomError

# A name that is safe as an XML element name and as a ClickHouse identifier.
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
NAME_RULE = "starts with a letter or underscore, then letters, digits or underscores (at most 63)"
ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# X.509 limits a common name to 64 characters (RFC 5280, ub-common-name).
COMMON_NAME_MAX = 64
KEY_HEX_DIGITS = 64  # AES_256_CTR takes a 32-byte key: 64 hex digits


def fail(problem: str, fix: str) -> PydanticCustomError:
    """An error pydantic collects with the others, carrying our fix text."""
    # Braces would be read as pydantic placeholders; the message is plain text.
    problem = problem.replace("{", "(").replace("}", ")")
    return PydanticCustomError("hardhouse", problem, {"fix": fix})



def has_control_character(text: str) -> bool:
    """XML 1.0 cannot carry these, escaped or not."""
    return any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF or c in "\ufffe\uffff" for c in text)


def check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value):
        raise fail(f"{what} {value!r} cannot be used", f"use a name that {NAME_RULE}")
    return value


def is_any_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if network.prefixlen == 0:
        return True
    # ::ffff:0:0/96 is every IPv4 address seen through IPv6.
    return network == ipaddress.ip_network("::ffff:0:0/96")


def check_address(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise fail(f"{text!r} is not an IP address", "use an explicit address such as 10.0.0.5 or ::1") from None
    return text


def check_network(text: str) -> str:
    parse_network(text)
    return text


def check_database(text: str) -> str:
    return check_name(text, "database name")



def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        fix = "write an address (10.0.0.5) or a network in CIDR form (10.0.0.0/8, 2001:db8::/64)"
        if "host bits set" in str(error):
            fix = f"write the network address: {ipaddress.ip_network(text, strict=False)}"
        raise fail(f"{text!r} is not an IP network", fix) from None



# RE2 (ClickHouse's regexp engine) has no lookaround, backreferences or atomic groups;
# Python's re would accept them, so they are refused before a server sees them.
RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\(\?>|\(\?P=|(?<!\\)\\[1-9]|(?<!\\)\\Z|(?<!\\)[*+?}]\+")
REWRITE_ESCAPE = re.compile(r"\\(.?)")


def check_re2(pattern: str) -> re.Pattern[str]:
    """Compile pattern as Python re after refusing what RE2 cannot do; raise fail(...)."""
    if not pattern:
        raise fail("the regexp is empty", "write a regular expression (RE2 syntax) matching the secret")
    if has_control_character(pattern):
        raise fail("the regexp contains a control character", "write \\n or \\t instead of the raw character")
    if RE2_UNSUPPORTED.search(pattern):
        raise fail(
            "the regexp uses lookaround, a backreference, \\Z or a possessive/atomic group, which RE2 does not support",
            "rewrite it in RE2 syntax (https://github.com/google/re2/wiki/Syntax); use a capture group and \\1 in replace instead of lookbehind",
        )
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise fail(f"the regexp does not compile ({error})", "fix the regular expression (RE2 syntax)") from None
    if compiled.search("") is not None:
        raise fail("the regexp matches the empty string, so it would rewrite every log line", "make it match at least one character of the secret")
    return compiled



TIME_TYPE_PATTERN = re.compile(r"^(Date|Date32|DateTime|DateTime64)(\(.*\))?$")
TYPE_CHARS = re.compile(r"^[A-Za-z][A-Za-z0-9_(), ']*$")
TYPE_MAX = 120


def check_column_type(text: str) -> str:
    """A ClickHouse type name with no way to smuggle SQL: letters, digits, parentheses,
    commas only inside them, and quoted literals of plain characters."""
    depth, quoted = 0, False
    ok = bool(TYPE_CHARS.match(text)) and len(text) <= TYPE_MAX
    for char in text if ok else "":
        if char == "'":
            quoted = not quoted
        elif quoted:
            ok = char not in "(),"
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            ok = depth >= 0
        elif char == ",":
            ok = depth > 0
        if not ok:
            break
    if not ok or depth or quoted:
        raise fail(f"{text!r} is not a column type hardhouse can write safely", "use a ClickHouse type such as String, DateTime, LowCardinality(String) or DateTime64(3, 'UTC')")
    return text


