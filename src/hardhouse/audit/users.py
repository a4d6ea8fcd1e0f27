"""The users of a merged users file as ClickHouse loads them: each user's name (a Poco key, so
a second `<bob>` is a user named `bob[1]`), how it authenticates, and whom its networks admit.

Networks follow ClickHouse's own reading of `users.NAME.networks` (its first `<networks>`):
every child whose name starts with `ip` is an address or subnet, `host_regexp*` a regular
expression on the client's reverse-DNS name, `host*` a name whose addresses are admitted, and
on modern servers `like*` a LIKE pattern on that name. Without `<networks>` an 18.16 user
admits nobody and a modern one everybody. Text goes through hardhouse.audit.values (raw, `${}`
expanded) and hardhouse.clickhouse.addresses (glibc's numeric forms, masks, prefix lengths).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

import re2

from hardhouse.audit.files import Dialect
from hardhouse.audit.values import Unknown, Values
from hardhouse.clickhouse import addresses
from hardhouse.clickhouse.stock import EMPTY_SHA256
from hardhouse.clickhouse.xmltree import Element, Origin

EMPTY_DOUBLE_SHA1 = hashlib.sha1(hashlib.sha1(b"").digest()).hexdigest()
# Elements that give a user a way to authenticate other than a password.
OTHER_AUTHENTICATION = ("ldap", "kerberos", "ssl_certificates", "ssh_keys", "http_authentication")
PASSWORD_ELEMENTS = (
    "password",
    "password_sha256_hex",
    "password_double_sha1_hex",
    "password_bcrypt_hash",
    "password_scram_sha256_hex",  # what hardhouse renders for 26.9+: PBKDF2-HMAC-SHA256, 4096 rounds
)
# The SCRAM-SHA-256 hash of the empty password as users.xml stores it (no salt, 4096 rounds).
EMPTY_SCRAM_SHA256 = hashlib.pbkdf2_hmac("sha256", b"", b"", 4096).hex()
# Host names no network restriction should match; a regexp or LIKE pattern matching them all matches anyone.
PROBE_NAMES = ("attacker.example", "x", "203-0-113-7.customer.example.net")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A tree's pattern is hostile input: RE2 matches in linear time (Python's re can backtrack for
# hours on 31 characters) and keeps its parse errors, which quote the pattern, off stderr.
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False


@dataclass(frozen=True)
class NetworkEntry:
    key: str  # the Poco key: ip, ip[1], ipv6, host_regexp_x...
    kind: str  # "ip" | "host_regexp" | "host" | "like"
    text: str  # the value as ClickHouse reads it
    origin: Origin
    network: IPNetwork | None = None  # for "ip": the subnet it admits
    any_reason: str | None = None  # set when it admits every address (or every named host)

    def admits(self, address: addresses.IPAddress) -> bool | None:
        """Whether a client at `address` passes this entry; None: only the server's resolver knows."""
        if self.any_reason is not None:
            return True if self.kind == "ip" else None
        if self.kind == "ip":
            assert self.network is not None
            return _contains(self.network, address)
        if self.kind == "host" and addresses.is_loopback_name(self.text):
            return address.is_loopback
        return None


@dataclass
class Networks:
    entries: list[NetworkEntry] = field(default_factory=list)
    origin: Origin | None = None  # the <networks> element, or the user when absent
    everyone: str | None = None  # why the user admits every address (no <networks> on modern)

    def admits(self, address: addresses.IPAddress) -> bool | None:
        if self.everyone is not None:
            return True
        answers = [entry.admits(address) for entry in self.entries]
        if any(answer is True for answer in answers):
            return True
        return None if any(answer is None for answer in answers) else False


@dataclass
class Authentication:
    element: Element
    tag: str
    value: str | Unknown  # as ClickHouse reads it (never shown)

    @property
    def empty(self) -> bool | Unknown:
        """True when this method lets in a client that sends no password."""
        if self.tag == "no_password":
            return True
        if isinstance(self.value, Unknown):
            return self.value
        if self.tag == "password":
            return self.value == ""
        if self.tag == "password_sha256_hex":
            return self.value.lower() == EMPTY_SHA256
        if self.tag == "password_double_sha1_hex":
            return self.value.lower() == EMPTY_DOUBLE_SHA1
        if self.tag == "password_scram_sha256_hex":
            return self.value.lower() == EMPTY_SCRAM_SHA256
        return False


@dataclass
class User:
    name: str  # the Poco key ClickHouse names the user by
    element: Element
    methods: list[Authentication] | Unknown
    networks: Networks | Unknown


def users(values: Values, dialect: Dialect) -> list[User] | Unknown:
    """Every user of the merged users file, or Unknown when the set itself cannot be known."""
    section = values.find("users")
    if section is None:
        return []
    if isinstance(section, Unknown):
        return section
    keyed = values.keys(section)
    if isinstance(keyed, Unknown):
        return keyed
    return [
        User(name, element, _methods(values, element), _networks(values, element, dialect)) for name, element in keyed
    ]


def profiles(values: Values) -> list[tuple[str, Element]] | Unknown:
    """Every settings profile of the merged users file by Poco key, or Unknown when the set
    itself cannot be known."""
    section = values.find("profiles")
    if section is None or isinstance(section, Unknown):
        return [] if section is None else section
    return values.keys(section)


def _methods(values: Values, user: Element) -> list[Authentication] | Unknown:
    unknown = values.unknown(user)
    if unknown is not None:
        return unknown
    found = []
    for tag in (*PASSWORD_ELEMENTS, "no_password", *OTHER_AUTHENTICATION):
        element = values.find(tag, user)
        if isinstance(element, Unknown):
            return element
        if element is not None:
            found.append(Authentication(element, tag, values.get(element)))
    return found


def _networks(values: Values, user: Element, dialect: Dialect) -> Networks | Unknown:
    section = values.find("networks", user)
    if isinstance(section, Unknown):
        return section
    if section is None:
        if dialect is Dialect.MODERN:
            return Networks(origin=user.origin, everyone="has no <networks>: modern ClickHouse admits any address")
        return Networks(origin=user.origin)  # 18.16 admits nobody
    keyed = values.keys(section)
    if isinstance(keyed, Unknown):
        return keyed
    result = Networks(origin=section.origin)
    for key, element in keyed:
        text = values.get(element)
        if isinstance(text, Unknown):
            return text
        entry = network_entry(key, text, element.value_origin, dialect)
        if isinstance(entry, Unknown):
            return entry
        result.entries.append(entry)
    return result


def network_entry(key: str, text: str, origin: Origin, dialect: Dialect) -> NetworkEntry | Unknown:
    """One child of <networks>, read by its key's prefix as ClickHouse does."""
    if key.startswith("ip"):
        return _ip_entry(key, text, origin, dialect)
    if key.startswith("host_regexp"):
        return _pattern_entry(key, "host_regexp", text, origin)
    if key.startswith("host"):
        return NetworkEntry(key, "host", text, origin)
    if key.startswith("like") and dialect is Dialect.MODERN:
        return _pattern_entry(key, "like", text, origin)
    return Unknown(
        f"<{key}> at {origin} is no address pattern ClickHouse knows (ip*, host*, host_regexp*"
        f"{', like*' if dialect is Dialect.MODERN else ''}): it refuses the user or the whole file",
        "use <ip>, <host> or <host_regexp>",
        origin,
    )


def _ip_entry(key: str, text: str, origin: Origin, dialect: Dialect) -> NetworkEntry | Unknown:
    address_text, slash, mask_text = text.partition("/")
    address = addresses.parse_address(address_text)
    if address is None:
        return _unreadable(key, text, origin, "an address ClickHouse does not read")
    bits = address.max_prefixlen
    if not slash:
        prefix = bits
    elif addresses.is_decimal(mask_text):
        prefix = int(mask_text)
        if dialect is Dialect.V18:
            prefix %= 256  # parse<UInt8> wraps: /256 is /0 (seen on 18.16)
        if prefix > bits:
            return _unreadable(key, text, origin, f"a prefix longer than {bits} bits")
    else:
        mask = addresses.parse_address(mask_text)
        if mask is None or mask.version != address.version:
            return _unreadable(key, text, origin, "a mask ClickHouse does not read")
        prefix = _prefix_of(int(mask), bits)
        if prefix is None:
            # A non-contiguous mask admits the addresses whose masked bits match: not a subnet.
            return _unreadable(key, text, origin, "a mask that is not a prefix")
    any_reason = None
    if dialect is Dialect.V18 and bits == 32 and slash and addresses.is_decimal(mask_text):
        # 18.16 applies an IPv4 prefix length to the address's IPv6 form (::ffff:a.b.c.d): /8 keeps
        # the first 8 of 128 bits, all zero for every IPv4 client. Seen: 10.0.0.1/32 admits 127.0.0.77.
        network: IPNetwork = ipaddress.IPv6Network((0, prefix))
        any_reason = (
            "admits every IPv4 address: ClickHouse 18.16 applies an IPv4 prefix length to the IPv6 form "
            "(write ::ffff:A.B.C.D/(96+N), or a mask: A.B.C.D/255.255.0.0)"
        )
    else:
        masked = int(address) & _mask(prefix, bits)
        network = ipaddress.IPv4Network((masked, prefix)) if bits == 32 else ipaddress.IPv6Network((masked, prefix))
        any_reason = _any_reason(network)
    return NetworkEntry(key, "ip", text, origin, network, any_reason)


def _any_reason(network: IPNetwork) -> str | None:
    if network.prefixlen == 0:
        return f"admits every IPv{network.version} address"
    if isinstance(network, ipaddress.IPv6Network) and network.supernet_of(ipaddress.ip_network("::ffff:0:0/96")):
        return "admits every IPv4 address (as ::ffff:0:0/96)"
    return None


def _pattern_entry(key: str, kind: str, text: str, origin: Origin) -> NetworkEntry | Unknown:
    if kind == "like":
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in text)
    else:
        regex = text
    try:
        compiled = re2.compile(regex, options=RE2_OPTIONS)
    except (re2.error, ValueError, TypeError, UnicodeError):
        # Not RE2 syntax (a backreference, a lookaround: PCRE on 18.16) or too large: not decided.
        return _unreadable(
            key, text, origin, "a regular expression the audit cannot evaluate", "write it in RE2 syntax, or use <ip>"
        )
    matcher = compiled.fullmatch if kind == "like" else compiled.search
    matches_all = all(matcher(name) for name in PROBE_NAMES)
    reason = f"<{key}> matches any host name" if matches_all else None
    return NetworkEntry(key, kind, text, origin, any_reason=reason)


def _unreadable(
    key: str,
    text: str,
    origin: Origin,
    what: str,
    todo: str = "write a plain address or subnet (10.0.0.0/8, 2001:db8::/32)",
) -> Unknown:
    return Unknown(f"<{key}> at {origin} is {what}", todo, origin)


def _mask(prefix: int, bits: int) -> int:
    return ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)


def _prefix_of(mask: int, bits: int) -> int | None:
    for prefix in range(bits + 1):
        if _mask(prefix, bits) == mask:
            return prefix
    return None


def _contains(network: IPNetwork, address: addresses.IPAddress) -> bool:
    """ClickHouse compares in IPv6 form: an IPv4 client is ::ffff:a.b.c.d."""
    if network.version == address.version:
        return address in network
    if isinstance(address, ipaddress.IPv4Address) and isinstance(network, ipaddress.IPv6Network):
        return ipaddress.IPv6Address(int(address) | 0xFFFF00000000) in network
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped in network
    return False
