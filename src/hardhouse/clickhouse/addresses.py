"""How ClickHouse turns configuration text into addresses: Poco's IPAddress and SocketAddress
over glibc's parsers, reproduced with the same glibc calls (Python's socket module).

Seen on Debian's 18.16 (tests/audit/test_oracle.py keeps checking): `<listen_host>` values
`0`, `0.0`, `0x0`, `000.0.0.0` and ` 0.0.0.0 ` all bind 0.0.0.0 (glibc's inet_aton reads
them; Poco compares the trimmed text with "0.0.0.0"); `127.0.0.1 junk` binds 127.0.0.1
(inet_aton stops at whitespace); a value with a leading newline is looked up in DNS and fails.
In `<networks>`, `<ip>/0</ip>` is every IPv4 address (an empty address is 0.0.0.0), a mask may
be an address (`127.0.0.1/0.0.0.0` is everyone), a decimal prefix wraps at 256 on 18.16
(`/256` is everyone), and `0x7f000001/8` is 127.0.0.0/8.

Only numeric text is decided here: a name needs the server's resolver (DNS, /etc/hosts),
which the audit does not have, so it comes back as None and the caller fails closed.
"""

from __future__ import annotations

import ipaddress
import socket
import string

# The C function itself: a numeric lookup never waits on a resolver, and an event loop that
# patches socket.getaddrinfo (gevent, in pyinfra's process) would otherwise hand each call to
# a thread and switch to another host's work mid-audit.
from _socket import getaddrinfo as _getaddrinfo

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Poco's trim(): std::isspace in the C locale.
C_SPACE = " \t\n\v\f\r"
ANY_IPV4 = ipaddress.IPv4Address(0)
ANY_IPV6 = ipaddress.IPv6Address(0)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError, UnicodeError):
        return None


def _numeric_host(text: str, family: int) -> IPAddress | None:
    """getaddrinfo with AI_NUMERICHOST: glibc's numeric forms only, no resolver."""
    try:
        found = _getaddrinfo(text, None, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (OSError, ValueError, UnicodeError):
        return None
    for entry in found:
        host = entry[4][0]
        try:
            return ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            continue
    return None


def try_parse(text: str) -> IPAddress | None:
    """Poco's IPAddress::tryParse: inet_aton, then an IPv6 literal; None when neither."""
    if text.strip(C_SPACE) == "0.0.0.0":
        return ANY_IPV4
    v4 = _inet_aton(text)
    if v4 is not None and v4 != ANY_IPV4:
        return v4
    v6 = _numeric_host(text, socket.AF_INET6)
    if v6 is not None and v6 != ANY_IPV6:
        return v6
    return None


def parse_address(text: str) -> IPAddress | None:
    """Poco's IPAddress(string) constructor (the `<ip>` of a network): empty is 0.0.0.0, `::`
    is the IPv6 any-address; None where Poco throws (ClickHouse then refuses the user)."""
    trimmed = text.strip(C_SPACE)
    if not text or trimmed == "0.0.0.0":
        return ANY_IPV4
    v4 = _inet_aton(text)
    if v4 is not None and v4 != ANY_IPV4:
        return v4
    if trimmed == "::":
        return ANY_IPV6
    v6 = _numeric_host(text, socket.AF_INET6)
    return v6 if v6 is not None and v6 != ANY_IPV6 else None


def listen_address(text: str) -> IPAddress | None:
    """What `<listen_host>` binds (Poco's SocketAddress): a literal, else glibc's numeric
    host forms ("0", "0x0", "::"); None for a name, which only the server's resolver knows."""
    parsed = try_parse(text)
    if parsed is not None:
        return parsed
    return _numeric_host(text, socket.AF_UNSPEC)


def is_any(address: IPAddress) -> bool:
    """0.0.0.0, ::, or ::ffff:0.0.0.0 (an IPv6 socket bound there takes every IPv4 client)."""
    if address.is_unspecified:
        return True
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped is not None and mapped.is_unspecified


def is_loopback_name(text: str) -> bool:
    """`localhost` exactly: the one name every resolver maps to loopback."""
    return text == "localhost"


def is_decimal(text: str) -> bool:
    return bool(text) and all(c in string.digits for c in text)
