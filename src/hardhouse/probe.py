"""Find exposed ClickHouse endpoints from the network, the way an attacker would.

For each (host, port) the probe connects, works out what speaks there (ClickHouse HTTP,
native, their TLS variants, the interserver and metrics ports, or something else), tries
anonymous and well-known default logins, and for any endpoint that lets it in lists what
could be read: databases, tables, row counts and column names, never row contents. TLS
ports get a TLS scan (sslyze). Everything it sends is listed in `WHAT_IS_SENT`, which the
CLI prints in `--help`; nothing else leaves this process.

The per-endpoint functions (`port_state`, `login`, `tls_posture`) are the same ones the
deploy's and the tests' verification use (hardhouse.verify), so "probe says clean" and
"verify says clean" cannot drift apart.

Layout: targets -> endpoints (host, port) -> `probe_endpoint` (async; blocking clients run in
threads) -> `EndpointReport` with `Finding`s -> `ScanReport` -> text, JSON or SARIF.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import concurrent.futures
import datetime as dt
import errno
import functools
import http.client
import ipaddress
import json
import logging
import re
import socket
import ssl
import struct
import time
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

from hardhouse import __version__

# --------------------------------------------------------------------------------------------
# What the probe checks and sends
# --------------------------------------------------------------------------------------------

# Ports a ClickHouse server opens or documents: HTTP, native, HTTPS, native over TLS,
# interserver HTTP, MySQL, PostgreSQL, gRPC and Prometheus metrics.
DEFAULT_PORTS: tuple[int, ...] = (8123, 9000, 8443, 9440, 9009, 9004, 9005, 9100, 9363)
METRICS_PORTS = frozenset({9363})
# Well-known credentials tried after the anonymous attempt (user, password). The stock
# users.xml ships `default` and `readonly` with empty passwords; the rest are the first
# guesses of any scanner. An empty native `default` login is the anonymous attempt itself.
DEFAULT_CREDENTIALS: tuple[tuple[str, str], ...] = (
    ("default", "default"),
    ("default", "clickhouse"),
    ("default", "password"),
    ("default", "changeme"),
    ("admin", "admin"),
    ("readonly", ""),
)
# A CIDR larger than this many addresses is refused unless --max-hosts raises the cap (/16).
DEFAULT_MAX_HOSTS = 65536
CLIENT_NAME = "hardhouse-probe"
# Native protocol revision the probe announces: old enough for 18.16 and accepted by modern
# servers; its server Hello carries name, version, timezone, display name and patch only.
NATIVE_REVISION = 54429
USER_AGENT = f"{CLIENT_NAME}/{__version__}"
QUERY_TIMEOUT = 10  # seconds a listing query may run on the server (max_execution_time)
MAX_TABLES = 2000
MAX_COUNT_QUERIES = 50
# Engines whose `SELECT count()` reads only local storage. Never Kafka/RabbitMQ/NATS/S3Queue
# (reading consumes messages) nor URL/MySQL/... (it would send traffic elsewhere).
COUNTABLE_ENGINES = frozenset({"Memory", "Log", "TinyLog", "StripeLog"})

# Only the system tables that hold query text or logs are listed (they leak other users'
# queries); the rest of `system` is the same on every server.
SCOPE_TABLES = "(database != 'system' OR endsWith(name, '_log'))"
SCOPE_COLUMNS = "(database != 'system' OR endsWith(table, '_log'))"
WHAT_IS_SENT = f"""\b
What it sends, to each TARGET port and to nothing else:
  1. a TCP connection; if accepted, `GET /ping` (HTTP/1.1, User-Agent {USER_AGENT}).
  2. if the answer is neither HTTP nor a MySQL greeting: a TLS handshake (TLS 1.0-1.3,
     any suite, certificate not checked) and `GET /ping` over it. If TLS works but that
     gets no answer: a native Hello over TLS. If TLS fails and the port said nothing:
     a native Hello, then a PostgreSQL SSLRequest (8 bytes). A MySQL greeting is only
     read, never answered.
  3. ClickHouse HTTP(S): `GET /?query=SELECT version()` without credentials, then with
     each default credential (HTTP Basic). Port 9363, if not ClickHouse HTTP: `GET /metrics`.
  4. ClickHouse native (plain or TLS): a Hello (the login packet) as `default` with an
     empty password, then one Hello per default credential; each on its own connection,
     closed after the server's answer. No query is sent with a Hello.
  5. only where a login succeeded, read-only listings (HTTP GET, which ClickHouse runs
     read-only, or native through clickhouse-driver, both with readonly=1 and
     max_execution_time={QUERY_TIMEOUT}, resent without settings to a user that may not set
     them): system.databases; system.tables (names, engines, total_rows); system.parts (row
     counts); system.columns (names); `SELECT count()` on Memory/Log/MergeTree tables that
     have no count yet. Only `system` tables ending in _log are listed from `system`.
     No row of user data is read.
  6. TLS ports: an sslyze scan (one handshake per protocol version and cipher suite from
     SSL 2.0 to TLS 1.3, and the certificate chain; no application data); with --ca, also
     one OpenSSL handshake that validates the chain against that CA.
Default credentials: {", ".join(f"{u}/{p or '(empty)'}" for u, p in DEFAULT_CREDENTIALS)}.
"""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    help: str


# One entry per kind of finding; SARIF's rule list and the docs come from here.
RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("anonymous-access", Severity.CRITICAL, "Queries answered without credentials",
             "Remove the passwordless default user or give it a password (hardhouse spec: default_user: remove)."),
        Rule("default-credentials", Severity.CRITICAL, "A well-known default credential logs in",
             "Give every user a strong password stored as a hash (password_sha256_hex)."),
        Rule("sensitive-data-readable", Severity.CRITICAL, "Tables whose names suggest secrets or personal data are readable",
             "Close anonymous access; restrict users to the databases they need."),
        Rule("plaintext-port", Severity.MEDIUM, "ClickHouse accepts logins over plaintext",
             "Close the plaintext HTTP and native ports (ports.http: null, ports.native: null) and use 8443/9440."),
        Rule("interserver-reachable", Severity.MEDIUM, "The interserver HTTP port is reachable",
             "Close interserver_http_port unless the server replicates; set interserver_http_credentials."),
        Rule("metrics-readable", Severity.LOW, "Prometheus metrics are readable without credentials",
             "Bind the metrics endpoint to a management network only."),
        Rule("tls-old-protocol", Severity.MEDIUM, "TLS endpoint accepts a protocol older than TLS 1.2",
             "Disable sslv2, sslv3, tlsv1 and tlsv1_1 (tls.min_protocol: tlsv1_2)."),
        Rule("tls-weak-cipher", Severity.MEDIUM, "TLS endpoint accepts cipher suites without forward secrecy or AEAD",
             "Allow ECDHE/DHE suites with GCM or ChaCha20-Poly1305 only."),
        Rule("tls-certificate-expired", Severity.MEDIUM, "The server certificate has expired or is not valid yet",
             "Renew the certificate."),
        Rule("tls-certificate-untrusted", Severity.LOW, "The certificate chain does not validate",
             "Use a certificate from a CA the clients trust; pass --ca to validate against a private CA."),
        Rule("tls-certificate-self-signed", Severity.LOW, "The server certificate is self-signed",
             "Sign the server certificate with a CA instead."),
        Rule("tls-certificate-hostname", Severity.LOW, "The certificate does not name the address it is served on",
             "Put the server's DNS names and addresses in subjectAltName."),
        Rule("version-disclosure", Severity.LOW, "The server version is told to clients that did not log in",
             "Upgrade; modern servers still say their version in errors, so keep the ports private."),
        Rule("stack-trace-disclosure", Severity.LOW, "Server stack traces are sent to clients that did not log in",
             "Set calculate_text_stack_trace to 0 for the default profile."),
        Rule("hostname-disclosure", Severity.INFO, "The server's host name is sent to clients that did not log in",
             "Set display_name to a neutral value."),
    )
}


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    severity: Severity
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rule: str, message: str, severity: Severity | None = None, **data: Any) -> Finding:
        return cls(rule, message, RULES[rule].severity if severity is None else severity, data)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity.label, "message": self.message, **({"data": self.data} if self.data else {})}


@dataclass(frozen=True)
class LoginResult:
    """One login attempt as a client sees it; `accepted` means queries would run."""

    protocol: str  # "http" | "native"
    tls: bool
    user: str | None  # None: no credentials at all (HTTP)
    password: str | None
    accepted: bool
    detail: str
    code: int | None = None  # ClickHouse error code of a refusal
    status: int | None = None  # HTTP status
    version: str | None = None
    display_name: str | None = None
    stack_trace: bool = False  # the refusal carried a server stack trace
    leaked_version: str | None = None  # a version named in a refusal
    clickhouse: bool = False  # the answer was recognisably ClickHouse's

    @property
    def who(self) -> str:
        if self.user is None:
            return "no credentials"
        if self.user == "default" and not self.password and self.protocol == "native":
            return "user default with an empty password"
        return f"{self.user}/{self.password or '(empty)'}"

    @property
    def anonymous(self) -> bool:
        return self.user is None or (self.user == "default" and not self.password)


@dataclass
class TableInfo:
    database: str
    name: str
    engine: str
    rows: int | None = None
    columns: list[str] = field(default_factory=list)
    sensitive_columns: list[str] = field(default_factory=list)
    sensitive_reason: str | None = None  # why the table name itself is flagged

    @property
    def sensitive(self) -> bool:
        return bool(self.sensitive_reason or self.sensitive_columns)

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"


@dataclass
class DataInventory:
    """What a logged-in attacker could read: names and counts only."""

    via: str  # "http as no credentials" ...
    databases: list[str] = field(default_factory=list)
    tables: list[TableInfo] = field(default_factory=list)
    truncated: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(t.rows or 0 for t in self.tables)

    @property
    def sensitive_tables(self) -> list[TableInfo]:
        return [t for t in self.tables if t.sensitive]


@dataclass
class CertificateInfo:
    subject: str
    issuer: str
    not_after: str
    expired: bool
    days_left: int
    self_signed: bool
    trusted: bool | None  # None: not checked
    trust_detail: str
    hostname_match: bool | None
    strict_failure: str | None = None  # OpenSSL accepts the chain, RFC 5280 strict validation does not


@dataclass
class TlsPosture:
    scanner: str  # "sslyze" | "ssl"
    accepted_versions: list[str] = field(default_factory=list)
    accepted_suites: dict[str, list[str]] = field(default_factory=dict)
    weak_suites: list[str] = field(default_factory=list)
    certificate: CertificateInfo | None = None
    error: str | None = None


@dataclass
class EndpointReport:
    host: str
    port: int
    source: str | None = None  # the target argument or file this endpoint came from
    state: str = "unknown"  # open | closed | filtered | unreachable | error
    service: str | None = None
    clickhouse: bool = False
    tls: bool = False
    version: str | None = None
    display_name: str | None = None
    banner: str | None = None
    logins: list[LoginResult] = field(default_factory=list)
    inventory: DataInventory | None = None
    tls_posture: TlsPosture | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    elapsed: float = 0.0

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    @property
    def accepted_logins(self) -> list[LoginResult]:
        return [login for login in self.logins if login.accepted]

    def exposed(self, threshold: Severity = Severity.HIGH) -> bool:
        return any(f.severity >= threshold for f in self.findings)

    def sort_key(self) -> tuple[int, int, str, int]:
        state_rank = {"open": 0, "error": 1, "unreachable": 2, "filtered": 3, "closed": 4}.get(self.state, 5)
        severity = -1 if self.severity is None else int(self.severity)
        return (-severity, state_rank, self.host, self.port)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["address"] = self.address
        data["severity"] = self.severity.label if self.severity is not None else None
        data["findings"] = [f.as_dict() for f in self.findings]
        data["logins"] = [_login_dict(login) for login in self.logins]
        if self.inventory is not None:
            data["inventory"]["total_rows"] = self.inventory.total_rows
            for table, info in zip(data["inventory"]["tables"], self.inventory.tables, strict=True):
                table["sensitive"] = info.sensitive
        data["elapsed"] = round(self.elapsed, 4)
        return data


def _login_dict(login: LoginResult) -> dict[str, Any]:
    data = asdict(login)
    # The only passwords the probe knows are the public defaults above; say which one.
    data["password"] = None if login.password is None else (login.password and "(default list)") or "(empty)"
    data["who"] = login.who
    return data


@dataclass
class ScanReport:
    targets: list[str]
    endpoints: list[EndpointReport]
    started: str
    duration: float
    fail_on: Severity = Severity.HIGH

    @property
    def exposed(self) -> bool:
        return any(e.exposed(self.fail_on) for e in self.endpoints)

    def ordered(self) -> list[EndpointReport]:
        return sorted(self.endpoints, key=EndpointReport.sort_key)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {"endpoints": len(self.endpoints), "hosts": len({e.host for e in self.endpoints})}
        for endpoint in self.endpoints:
            counts[endpoint.state] = counts.get(endpoint.state, 0) + 1
        counts["clickhouse"] = sum(e.clickhouse for e in self.endpoints)
        counts["exposed"] = sum(e.exposed(self.fail_on) for e in self.endpoints)
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": {"name": CLIENT_NAME, "version": __version__},
            "started": self.started,
            "duration": round(self.duration, 3),
            "targets": self.targets,
            "fail_on": self.fail_on.label,
            "exposed": self.exposed,
            "summary": self.counts(),
            "endpoints": [e.as_dict() for e in self.ordered()],
        }


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


class TargetError(ValueError):
    """A target that cannot be understood: a usage error (exit 2)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    source: str | None = None


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise TargetError(f"{where}: {text!r} is not a TCP port (1-65535)")
    return int(text)


def _split_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port`, `v6`, `cidr`, `cidr:port` -> (host-or-cidr, port)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise TargetError(f"{text!r}: missing ']'")
        if rest and not rest.startswith(":"):
            raise TargetError(f"{text!r}: expected [ADDRESS]:PORT")
        return host, (_port(rest[1:], text) if rest else None)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port, text)
    return text, None  # a name, an IPv4 address or CIDR, or a bare IPv6 address/CIDR


def _expand_cidr(text: str, max_hosts: int) -> list[str]:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as error:
        raise TargetError(f"{text!r}: {error}") from None
    if network.num_addresses > max_hosts:
        raise TargetError(f"{text!r} holds {network.num_addresses} addresses, more than --max-hosts {max_hosts}; split it or raise --max-hosts")
    if network.num_addresses <= 2:
        return [str(a) for a in network]
    return [str(a) for a in network.hosts()]


# An existing file is read as targets when named @FILE, when its path has a `/`, or by suffix.
TARGET_FILE_SUFFIXES = frozenset({".py", ".txt", ".list", ".lst", ".hosts", ".targets"})
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


def _check_host(host: str, where: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOST_NAME.match(host):
        raise TargetError(f"{where}: {host!r} is not a host name or address")
    return host


def parse_target(text: str, ports: Sequence[int], *, max_hosts: int = DEFAULT_MAX_HOSTS, source: str | None = None) -> list[Endpoint]:
    """One target string (not a file) -> endpoints. A bare host gets every port in `ports`."""
    text = text.strip()
    if not text:
        raise TargetError("empty target")
    base, port = _split_host_port(text)
    chosen = [port] if port is not None else list(ports)
    if "/" in base:
        hosts = _expand_cidr(base, max_hosts)
    else:
        hosts = [_check_host(base, text)]
    return [Endpoint(host, p, source or text) for host in hosts for p in chosen]


def read_target_file(path: Path) -> list[str]:
    """A plain list: one target per line, `#` starts a comment, blank lines ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TargetError(f"{path}: {error.strerror or error}") from None
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        lines.extend(part for part in line.replace(",", " ").split() if part)
    return lines


def _inventory_host(name: str, data: dict[str, Any]) -> str | None:
    """pyinfra host name (+ data) -> network address, or None when it has none."""
    if isinstance(data.get("ssh_hostname"), str) and data["ssh_hostname"]:
        return str(data["ssh_hostname"])
    if name.startswith("@"):
        connector, _, rest = name[1:].partition("/")
        if connector == "local":
            return "127.0.0.1"
        if connector == "ssh" and rest:
            return rest
        return None  # @docker/ID, @chroot/... have no network address of their own
    return name.rsplit("@", 1)[-1]  # user@host


def _literal_hosts(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """A pyinfra inventory group: [host | (host, data)] or ([...], group_data)."""
    group_data: dict[str, Any] = {}
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], list) and isinstance(value[1], dict):
        value, group_data = value
    if not isinstance(value, list):
        return []
    hosts = []
    for item in value:
        if isinstance(item, str):
            hosts.append((item, dict(group_data)))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict):
            hosts.append((item[0], {**group_data, **item[1]}))
    return hosts


def inventory_hosts_static(path: Path) -> tuple[list[str], list[str]]:
    """Host addresses from a pyinfra inventory, read with `ast` (nothing is executed).

    Module-level assignments whose value is a literal list or (list, data) tuple are host
    groups, as pyinfra defines them; names starting with `_` are ignored, as pyinfra does.
    Returns (addresses, warnings).
    """
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError) as error:
        raise TargetError(f"{path}: not a readable pyinfra inventory: {error}") from None
    addresses: list[str] = []
    notes: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) and node.value else []
        names = [t.id for t in targets if isinstance(t, ast.Name) and not t.id.startswith("_")]
        if not names:
            continue
        try:
            value = ast.literal_eval(node.value)  # type: ignore[arg-type]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            notes.append(f"{path}:{node.lineno}: group {names[0]!r} is computed, not a literal; install pyinfra to read it")
            continue
        for name, data in _literal_hosts(value):
            address = _inventory_host(name, data)
            if address is None:
                notes.append(f"{path}: host {name!r} has no network address (connector), skipped")
            elif address not in addresses:
                addresses.append(address)
    return addresses, notes


def inventory_hosts(path: Path) -> tuple[list[str], list[str]]:
    """Hosts of a pyinfra inventory: pyinfra's own loader when installed (it runs the file
    and its group_data, so computed groups and ssh_hostname from group data count), else
    the static reader."""
    try:
        from pyinfra.api import State  # type: ignore[import-not-found]
        from pyinfra.context import ctx_state  # type: ignore[import-not-found]
        from pyinfra_cli.inventory import make_inventory  # type: ignore[import-not-found]
    except ImportError:
        return inventory_hosts_static(path)
    try:
        # pyinfra's loader runs the inventory and group_data files inside a State, as its CLI does.
        state = State(check_for_changes=False)
        state.cwd = str(path.parent.resolve())
        with ctx_state.use(state):
            inventory = make_inventory(str(path), cwd=state.cwd)
        addresses: list[str] = []
        notes: list[str] = []
        for host in inventory:
            data = {"ssh_hostname": host.data.get("ssh_hostname")}
            address = _inventory_host(host.name, data)
            if address is None:
                notes.append(f"{path}: host {host.name!r} has no network address (connector), skipped")
            elif address not in addresses:
                addresses.append(address)
        return addresses, notes
    except Exception as error:  # pyinfra's loader failing must not stop a scan: fall back
        addresses, notes = inventory_hosts_static(path)
        return addresses, [f"{path}: pyinfra could not load it ({type(error).__name__}: {error}); read statically", *notes]


def expand_targets(
    targets: Sequence[str],
    ports: Sequence[int] = DEFAULT_PORTS,
    *,
    max_hosts: int = DEFAULT_MAX_HOSTS,
) -> tuple[list[Endpoint], list[str]]:
    """Every target -> de-duplicated endpoints in order, plus warnings.

    A target is HOST, HOST:PORT, [IPv6]:PORT, CIDR or CIDR:PORT, `@FILE` or an existing
    FILE: a `.py` file is a pyinfra inventory, anything else a list of targets.
    """
    if not targets:
        raise TargetError("no target given")
    endpoints: list[Endpoint] = []
    seen: set[tuple[str, int]] = set()
    notes: list[str] = []
    total_hosts = 0

    def add(items: list[Endpoint]) -> None:
        nonlocal total_hosts
        for item in items:
            if (item.host, item.port) not in seen:
                seen.add((item.host, item.port))
                endpoints.append(item)
        total_hosts = len({e.host for e in endpoints})
        if total_hosts > max_hosts:
            raise TargetError(f"the targets hold more than --max-hosts {max_hosts} hosts")

    for target in targets:
        path = Path(target[1:]) if target.startswith("@") else Path(target)
        if target.startswith("@") and not path.is_file():
            raise TargetError(f"{target}: no such file")
        if target.startswith("@") or (path.is_file() and ("/" in target or path.suffix in TARGET_FILE_SUFFIXES)):
            if path.suffix == ".py":
                hosts, more = inventory_hosts(path)
                notes.extend(more)
                if not hosts:
                    notes.append(f"{path}: no hosts found")
                for host in hosts:
                    add(parse_target(host, ports, max_hosts=max_hosts, source=str(path)))
            else:
                for line in read_target_file(path):
                    add(parse_target(line, ports, max_hosts=max_hosts, source=str(path)))
        else:
            add(parse_target(target, ports, max_hosts=max_hosts))
    return endpoints, notes


# --------------------------------------------------------------------------------------------
# Sensitive names and weak suites
# --------------------------------------------------------------------------------------------

SENSITIVE_WORDS = frozenset({
    "log", "logs", "chat", "chats", "message", "messages", "msg", "msgs", "conversation", "conversations",
    "prompt", "prompts", "completion", "completions", "token", "tokens", "secret", "secrets", "password",
    "passwords", "passwd", "pwd", "credential", "credentials", "email", "emails", "mail", "phone", "ssn",
    "session", "sessions", "cookie", "cookies", "auth", "otp", "iban",
})
SENSITIVE_COMPOUNDS = ("apikey", "accesskey", "secretkey", "privatekey", "creditcard", "cardnumber", "bearer")


def sensitive_reason(name: str) -> str | None:
    """Why a table or column name suggests secrets or personal data, or None."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    compact = re.sub(r"[^a-z0-9]", "", snake)
    for compound in SENSITIVE_COMPOUNDS:
        if compound in compact:
            return compound
    for token in re.split(r"[^a-z0-9]+", snake):
        if token in SENSITIVE_WORDS:
            return token
    return None


def weak_suite_reason(suite: str, version: str) -> str | None:
    """Why a negotiated suite (RFC name) is weak; TLS 1.3 suites are all strong."""
    if version == "TLSv1.3":
        return None
    name = suite.upper()
    for marker, reason in (("NULL", "no encryption"), ("_ANON_", "no authentication"), ("EXPORT", "export grade"),
                           ("RC4", "RC4"), ("RC2", "RC2"), ("_DES_", "DES"), ("3DES", "3DES"), ("DES_192", "3DES"),
                           ("IDEA", "IDEA"), ("MD5", "MD5")):
        if marker in name:
            return reason
    if "ECDHE" not in name and "DHE" not in name:
        return "no forward secrecy"
    if not any(aead in name for aead in ("GCM", "CHACHA20", "CCM")):
        return "CBC mode, not AEAD"
    return None


# --------------------------------------------------------------------------------------------
# Wire formats: HTTP, native Hello, MySQL greeting
# --------------------------------------------------------------------------------------------

VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+){0,3}$")
CODE_RE = re.compile(r"Code: (\d+)")
LEAKED_VERSION_RE = re.compile(r"\(version (\d+\.\d+[\w.]*)|libclickhouse\.so\.(\d+\.\d+)")
STACK_RE = re.compile(r"Stack trace|\n\s*0\. .*(0x[0-9a-f]+|\.so)")
NATIVE_MARKER = "is for clickhouse-client program"


@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: str

    def clickhouse_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.startswith("x-clickhouse")}


def http_request(host: str, port: int, path: str, auth: tuple[str, str] | None = None) -> bytes:
    host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {USER_AGENT}", "Accept: */*", "Connection: close"]
    if auth is not None:
        lines.append("Authorization: Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    """(body, complete) of a chunked body; tolerant of a truncated one."""
    body = bytearray()
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return bytes(body), False
        try:
            size = int(data[pos:end].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return bytes(body), True
        if size == 0:
            return bytes(body), True
        start = end + 2
        body += data[start:start + size]
        if start + size > len(data):
            return bytes(body), False
        pos = start + size + 2


def parse_http(data: bytes, *, require_complete: bool = False) -> HttpResponse | None:
    """An HTTP/1.x response in `data`, or None (not HTTP, or incomplete when required)."""
    if not data.startswith(b"HTTP/"):
        return None
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        if require_complete:
            return None
        head, rest = data, b""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, colon, value = line.partition(":")
        if colon:
            key = key.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    complete = bool(sep)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, complete = _dechunk(rest)
    elif headers.get("content-length", "").isdigit():
        length = int(headers["content-length"])
        body, complete = rest[:length], len(rest) >= length
    else:
        body, complete = rest, False  # delimited by the end of the connection
    if require_complete and not complete:
        return None
    return HttpResponse(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body.decode("utf-8", errors="replace"))


class _Incomplete(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise _Incomplete
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def varint(self) -> int:
        result = 0
        for shift in range(0, 70, 7):
            byte = self.take(1)[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
        raise ValueError("varint too long")

    def string(self, limit: int = 1 << 20) -> str:
        size = self.varint()
        if size > limit:
            raise ValueError("string too long")
        return self.take(size).decode("utf-8", errors="replace")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _native_string(text: str) -> bytes:
    raw = text.encode()
    return _varint(len(raw)) + raw


def native_hello(user: str, password: str) -> bytes:
    """The client Hello packet (type 0): client name, version 1.0, revision, database, user, password."""
    return b"".join([_varint(0), _native_string(CLIENT_NAME), _varint(1), _varint(0), _varint(NATIVE_REVISION),
                     _native_string(""), _native_string(user), _native_string(password)])


@dataclass(frozen=True)
class NativeReply:
    accepted: bool
    server_name: str = ""
    version: str | None = None
    timezone: str | None = None
    display_name: str | None = None
    code: int | None = None
    exception: str | None = None
    message: str = ""
    stack_trace: str = ""


def parse_native_reply(data: bytes) -> NativeReply:
    """A server's answer to Hello: Hello (0) or Exception (2).

    Raises _Incomplete when more bytes are needed and ValueError when it is not ClickHouse
    (an echo of our own Hello, for one, names itself hardhouse-probe, not ClickHouse).
    """
    reader = _Reader(data)
    kind = reader.varint()
    if kind == 0:
        name = reader.string(256)
        major, minor, revision = reader.varint(), reader.varint(), reader.varint()
        if "clickhouse" not in name.lower() or major > 10000 or not 50000 <= revision < 200000:
            raise ValueError(f"not a ClickHouse Hello: {name!r}")
        used = min(revision, NATIVE_REVISION)
        timezone = reader.string(256) if used >= 54058 else None
        display = reader.string(256) if used >= 54372 else None
        patch = reader.varint() if used >= 54401 else None
        version = f"{major}.{minor}" + (f".{patch}" if patch is not None else "")
        return NativeReply(True, name, version, timezone, display or None)
    if kind == 2:
        code = struct.unpack("<i", reader.take(4))[0]
        name = reader.string(256)
        message = reader.string()
        stack = reader.string()
        if "exception" not in name.lower() and "DB::" not in message:
            raise ValueError("not a ClickHouse exception")
        return NativeReply(False, code=code, exception=name, message=message, stack_trace=stack)
    raise ValueError(f"unexpected native packet type {kind}")


def _native_complete(data: bytes) -> bool:
    try:
        parse_native_reply(data)
    except _Incomplete:
        return False
    except ValueError:
        return True
    return True


def parse_mysql_greeting(data: bytes) -> str | None:
    """The server version in a MySQL protocol greeting (or `error` for an error packet)."""
    if len(data) < 5 or data[3] != 0:
        return None
    length = int.from_bytes(data[:3], "little")
    if length == 0 or length > 1 << 16:
        return None
    if data[4] == 0x0A:
        end = data.find(b"\0", 5)
        return data[5:end].decode("latin-1") if end > 5 else None
    if data[4] == 0xFF:
        return "error"
    return None


# --------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------


class Unreachable(Exception):
    def __init__(self, state: str, detail: str):
        super().__init__(detail)
        self.state = state
        self.detail = detail


class NotTls(Exception):
    pass


_PERMISSIVE: ssl.SSLContext | None = None


def probe_tls_context(ca: Path | None = None) -> ssl.SSLContext:
    """What a scanner offers: every version and suite, no certificate check (unless `ca`)."""
    global _PERMISSIVE
    if ca is not None:
        return ssl.create_default_context(cafile=str(ca))
    if _PERMISSIVE is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("ALL:@SECLEVEL=0")
        _PERMISSIVE = context
    return _PERMISSIVE


async def _connect(host: str, port: int, tls: bool, timeout: float, ca: Path | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = probe_tls_context(ca) if tls else None
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host if tls else None, limit=1 << 20),
            timeout,
        )
    except ConnectionRefusedError:
        raise Unreachable("closed", "connection refused") from None
    except TimeoutError:
        raise Unreachable("filtered", f"no answer within {timeout:g}s") from None
    except socket.gaierror as error:
        raise Unreachable("unreachable", f"name does not resolve: {error.strerror}") from None
    except ssl.SSLError as error:
        raise NotTls(str(error)) from None
    except OSError as error:
        if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EACCES, errno.EPERM):
            raise Unreachable("unreachable", error.strerror or str(error)) from None
        if tls:
            raise NotTls(f"{type(error).__name__}: {error}") from None
        raise Unreachable("error", f"{type(error).__name__}: {error}") from None


@dataclass
class Exchange:
    data: bytes
    eof: bool  # the server closed the connection


async def exchange(
    host: str,
    port: int,
    payload: bytes,
    *,
    tls: bool = False,
    timeout: float = 3.0,
    complete: Callable[[bytes], bool] | None = None,
    limit: int = 1 << 20,
    ca: Path | None = None,
) -> Exchange:
    """Connect, send `payload`, read until `complete(data)`, EOF, `limit` bytes or the timeout."""
    reader, writer = await _connect(host, port, tls, timeout, ca)
    data = b""
    eof = False
    try:
        if payload:
            writer.write(payload)
            await asyncio.wait_for(writer.drain(), timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(data) < limit:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(65536), remaining)
            except TimeoutError:
                break
            if not chunk:
                eof = True
                break
            data += chunk
            if complete is not None and complete(data):
                break
    except (ConnectionError, ssl.SSLError, OSError, TimeoutError):
        eof = True
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (Exception, asyncio.CancelledError):  # closing a half-dead TLS session may fail; it is closed anyway
            pass
    return Exchange(data, eof)


def _first_answer_complete(data: bytes) -> bool:
    """Stop reading the answer to GET /ping once it is a whole HTTP response or clearly not HTTP."""
    if data.startswith(b"HTTP/"[: len(data)]) and len(data) < 5:
        return False
    if data.startswith(b"HTTP/"):
        return parse_http(data, require_complete=True) is not None
    if parse_mysql_greeting(data) is not None:
        return len(data) >= int.from_bytes(data[:3], "little") + 4
    return data.endswith(b"\n") or len(data) >= 4096


async def http_get(host: str, port: int, path: str, *, tls: bool, auth: tuple[str, str] | None = None,
                   timeout: float = 3.0, ca: Path | None = None) -> HttpResponse | None:
    reply = await exchange(host, port, http_request(host, port, path, auth), tls=tls, timeout=timeout,
                           complete=lambda d: parse_http(d, require_complete=True) is not None, ca=ca)
    return parse_http(reply.data)


def _query_path(query: str, settings: dict[str, Any] | None = None) -> str:
    return "/?" + urllib.parse.urlencode({"query": query, **(settings or {})})


async def login(
    host: str,
    port: int,
    *,
    protocol: str,
    tls: bool,
    user: str | None,
    password: str | None = "",
    timeout: float = 3.0,
    ca: Path | None = None,
) -> LoginResult:
    """One login as a client would try it; `user=None` sends no credentials (HTTP only).

    HTTP: `GET /?query=SELECT version()`. Native: a Hello packet, closed after the answer.
    Connection failures are refusals (`accepted=False`) with the reason in `detail`.
    """
    if protocol == "http":
        auth = None if user is None else (user, password or "")
        try:
            answer = await http_get(host, port, _query_path("SELECT version()"), tls=tls, auth=auth, timeout=timeout, ca=ca)
        except (Unreachable, NotTls) as error:
            return LoginResult("http", tls, user, password, False, f"no session: {error}")
        return http_login_result(answer, tls, user, password)
    if protocol != "native":
        raise ValueError(f"unknown protocol {protocol!r}")
    name = "default" if user is None else user
    try:
        reply = await exchange(host, port, native_hello(name, password or ""), tls=tls, timeout=timeout, complete=_native_complete, ca=ca)
    except (Unreachable, NotTls) as error:
        return LoginResult("native", tls, name, password, False, f"no session: {error}")
    try:
        parsed = parse_native_reply(reply.data)
    except (ValueError, _Incomplete):
        return LoginResult("native", tls, name, password, False, "no ClickHouse answer to Hello" if reply.data else "no answer to Hello")
    if parsed.accepted:
        return LoginResult("native", tls, name, password, True, "Hello answered", version=parsed.version,
                           display_name=parsed.display_name, clickhouse=True)
    return LoginResult("native", tls, name, password, False, f"code {parsed.code}", code=parsed.code,
                       stack_trace=bool(parsed.stack_trace.strip()), leaked_version=_leaked_version(parsed.message + "\n" + parsed.stack_trace),
                       clickhouse=True)


def http_login_result(answer: HttpResponse | None, tls: bool, user: str | None, password: str | None) -> LoginResult:
    """Judge the answer to `GET /?query=SELECT version()`: 200 without an error is a session."""
    if answer is None:
        return LoginResult("http", tls, user, password, False, "no HTTP answer")
    body = answer.body.strip()
    code = int(m.group(1)) if (m := CODE_RE.search(answer.body)) else None
    display = answer.headers.get("x-clickhouse-server-display-name")
    clickhouse = bool(answer.clickhouse_headers()) or (code is not None and "Exception" in answer.body)
    if answer.status == 200 and code is None:
        version = body if VERSION_RE.match(body) else None
        return LoginResult("http", tls, user, password, True, "SELECT version() answered", status=200, version=version,
                           display_name=display, clickhouse=clickhouse or version is not None)
    return LoginResult("http", tls, user, password, False, f"HTTP {answer.status}, code {code}", code=code, status=answer.status,
                       display_name=display, stack_trace=bool(STACK_RE.search(answer.body)),
                       leaked_version=_leaked_version(answer.body), clickhouse=clickhouse)


def _leaked_version(text: str) -> str | None:
    match = LEAKED_VERSION_RE.search(text)
    return (match.group(1) or match.group(2)) if match else None


async def port_state(host: str, port: int, timeout: float = 3.0) -> tuple[str, str]:
    """(state, detail): open, closed (refused), filtered (no answer), unreachable or error."""
    try:
        _, writer = await _connect(host, port, False, timeout)
    except Unreachable as error:
        return error.state, error.detail
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (Exception, asyncio.CancelledError):
        pass
    return "open", "accepts connections"


# --------------------------------------------------------------------------------------------
# TLS posture (sslyze, or the ssl module when sslyze is missing)
# --------------------------------------------------------------------------------------------

OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1")


def _hostname_matches(certificate: Any, host: str) -> bool | None:
    from cryptography import x509

    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return names is not None and address in names.get_values_for_type(x509.IPAddress)
    candidates = names.get_values_for_type(x509.DNSName) if names is not None else [
        a.value for a in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    host = host.lower().rstrip(".")
    for candidate in candidates:
        candidate = str(candidate).lower().rstrip(".")
        if candidate == host:
            return True
        if candidate.startswith("*.") and "." in host and host.split(".", 1)[1] == candidate[2:]:
            return True
    return False


def certificate_info(certificate: Any, host: str, trusted: bool | None, trust_detail: str) -> CertificateInfo:
    not_after = certificate.not_valid_after_utc
    not_before = certificate.not_valid_before_utc
    now = dt.datetime.now(dt.UTC)
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_after=not_after.isoformat(),
        expired=not (not_before <= now <= not_after),
        days_left=(not_after - now).days,
        self_signed=certificate.subject == certificate.issuer,
        trusted=trusted,
        trust_detail=trust_detail,
        hostname_match=_hostname_matches(certificate, host),
    )


def _sslyze_posture(host: str, port: int, ca: Path | None, timeout: float) -> TlsPosture:
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning

    # sslyze's bundled trust stores hold a few old certificates that cryptography warns about.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"sslyze\b.*")
    import sslyze  # a TLS scanner library: it speaks every TLS version itself (nassl)

    commands = {
        "SSLv2": sslyze.ScanCommand.SSL_2_0_CIPHER_SUITES,
        "SSLv3": sslyze.ScanCommand.SSL_3_0_CIPHER_SUITES,
        "TLSv1.0": sslyze.ScanCommand.TLS_1_0_CIPHER_SUITES,
        "TLSv1.1": sslyze.ScanCommand.TLS_1_1_CIPHER_SUITES,
        "TLSv1.2": sslyze.ScanCommand.TLS_1_2_CIPHER_SUITES,
        "TLSv1.3": sslyze.ScanCommand.TLS_1_3_CIPHER_SUITES,
    }
    try:
        address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    except socket.gaierror as error:
        return TlsPosture("sslyze", error=f"name does not resolve: {error}")
    extra = sslyze.ScanCommandsExtraArguments(certificate_info=sslyze.CertificateInfoExtraArgument(custom_ca_file=ca)) if ca else sslyze.ScanCommandsExtraArguments()
    request = sslyze.ServerScanRequest(
        server_location=sslyze.ServerNetworkLocation(hostname=host, port=port, ip_address=address),
        network_configuration=sslyze.ServerNetworkConfiguration(tls_server_name_indication=host, network_timeout=max(1, int(timeout)), network_max_retries=1),
        scan_commands={*commands.values(), sslyze.ScanCommand.CERTIFICATE_INFO},
        scan_commands_extra_arguments=extra,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sslyze's bundled trust stores trip cryptography deprecations
        scanner = sslyze.Scanner(per_server_concurrent_connections_limit=3, concurrent_server_scans_limit=1)
        scanner.queue_scans([request])
        result = next(iter(scanner.get_results()))
    if result.scan_result is None:
        error = result.connectivity_error_trace
        return TlsPosture("sslyze", error=f"TLS scan failed: {result.connectivity_status.name}: {str(error).strip()[:200] if error else ''}")
    posture = TlsPosture("sslyze")
    for label, command in commands.items():
        attempt = getattr(result.scan_result, command.value)
        if attempt.result is None:
            continue
        suites = [s.cipher_suite.name for s in attempt.result.accepted_cipher_suites]
        if suites:
            posture.accepted_versions.append(label)
            posture.accepted_suites[label] = suites
            posture.weak_suites += [f"{label} {s} ({why})" for s in suites if (why := weak_suite_reason(s, label))]
    info = result.scan_result.certificate_info
    if info.result is not None and info.result.certificate_deployments:
        deployment = info.result.certificate_deployments[0]
        leaf = deployment.received_certificate_chain[0]
        stores = deployment.path_validation_results
        if ca is not None:
            stores = [s for s in stores if s.trust_store.path == ca] or stores
        ok = [s.trust_store.name for s in stores if s.was_validation_successful]
        detail = f"validates against {', '.join(ok)}" if ok else _short_validation_error(stores)
        posture.certificate = certificate_info(leaf, host, bool(ok), detail)
        if not ok and ca is not None and _openssl_validates(host, port, ca, timeout):
            posture.certificate.trusted = True
            posture.certificate.strict_failure = detail
            posture.certificate.trust_detail = f"validates against {ca} with OpenSSL"
    elif info.error_reason is not None:
        posture.error = f"certificate: {info.error_reason.name}"
    return posture


_OID_NAMES = {"2.5.29.35": "authorityKeyIdentifier", "2.5.29.14": "subjectKeyIdentifier", "2.5.29.19": "basicConstraints",
              "2.5.29.15": "keyUsage", "2.5.29.37": "extendedKeyUsage", "2.5.29.17": "subjectAltName"}


def _short_validation_error(stores: Sequence[Any]) -> str:
    errors = sorted({str(s.validation_error) for s in stores if s.validation_error})
    text = "; ".join(re.sub(r"\s*\(encountered processing.*", "", e, flags=re.S) for e in errors) or "does not validate"
    for oid, name in _OID_NAMES.items():
        text = text.replace(oid, f"{oid} ({name})")
    return text[:200]


def _openssl_validates(host: str, port: int, ca: Path, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, ssl.create_default_context(cafile=str(ca)).wrap_socket(raw, server_hostname=host):
            return True
    except (OSError, ssl.SSLError):
        return False


def _ssl_posture(host: str, port: int, ca: Path | None, timeout: float) -> TlsPosture:
    """Fallback without sslyze: versions and a weak-suite probe through the system OpenSSL."""
    from cryptography import x509

    from hardhouse.testing.clients import tls_handshake

    versions = {"TLSv1.0": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1, "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
    posture = TlsPosture("ssl")
    for label, version in versions.items():
        if tls_handshake(host, port, version=version, timeout=timeout):
            posture.accepted_versions.append(label)
    for label in ("TLSv1.0", "TLSv1.1", "TLSv1.2"):
        if label in posture.accepted_versions and tls_handshake(host, port, version=versions[label], ciphers="aRSA:kRSA:CBC:!AESGCM:!CHACHA20", timeout=timeout):
            posture.weak_suites.append(f"{label} CBC or static-RSA suite accepted")
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, probe_tls_context().wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as error:
        posture.error = f"certificate: {error}"
        return posture
    if der:
        trusted, detail = None, "not checked"
        if ca is not None:
            try:
                with socket.create_connection((host, port), timeout=timeout) as raw, ssl.create_default_context(cafile=str(ca)).wrap_socket(raw, server_hostname=host):
                    trusted, detail = True, f"validates against {ca}"
            except (OSError, ssl.SSLError) as error:
                trusted, detail = False, str(error)[:200]
        posture.certificate = certificate_info(x509.load_der_x509_certificate(der), host, trusted, detail)
    return posture


def tls_posture(host: str, port: int, *, ca: Path | None = None, timeout: float = 5.0) -> TlsPosture:
    """Protocol versions, suites and certificate of one TLS port (blocking; ~0.5-1 s)."""
    try:
        import sslyze  # noqa: F401
    except ImportError:
        return _ssl_posture(host, port, ca, timeout)
    return _sslyze_posture(host, port, ca, timeout)


# --------------------------------------------------------------------------------------------
# What a logged-in attacker could read (names and counts only)
# --------------------------------------------------------------------------------------------

QueryFn = Callable[[str], list[Sequence[Any]]]


class QueryError(Exception):
    def __init__(self, code: int | None, message: str):
        super().__init__(message)
        self.code = code


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def collect_inventory(query: QueryFn, via: str, max_tables: int = MAX_TABLES) -> DataInventory:
    """Databases, tables, row counts and column names through `query` (read-only SELECTs)."""
    inventory = DataInventory(via)
    try:
        inventory.databases = sorted(str(row[0]) for row in query("SELECT name FROM system.databases"))
        rows = query(f"SELECT database, name, engine FROM system.tables WHERE {SCOPE_TABLES} ORDER BY database, name LIMIT {max_tables + 1}")
    except QueryError as error:
        inventory.errors.append(f"listing refused: {error}")
        return inventory
    inventory.truncated = len(rows) > max_tables
    tables = {(str(r[0]), str(r[1])): TableInfo(str(r[0]), str(r[1]), str(r[2])) for r in rows[:max_tables]}
    try:
        counts = query(f"SELECT database, name, total_rows FROM system.tables WHERE {SCOPE_TABLES}")
    except QueryError:  # servers before 19.x have no total_rows: sum the active parts instead
        try:
            counts = query(f"SELECT database, table, sum(rows) FROM system.parts WHERE active AND {SCOPE_COLUMNS} GROUP BY database, table")
        except QueryError as error:
            counts = []
            inventory.errors.append(f"row counts: {error}")
    for database, name, total in counts:
        if (str(database), str(name)) in tables and total is not None:
            tables[(str(database), str(name))].rows = int(total)
    counted = 0
    for table in tables.values():
        if table.rows is None and (table.engine in COUNTABLE_ENGINES or table.engine.endswith("MergeTree")) and counted < MAX_COUNT_QUERIES:
            counted += 1
            try:
                table.rows = int(query(f"SELECT count() FROM {_quote(table.database)}.{_quote(table.name)}")[0][0])
            except (QueryError, IndexError, ValueError, TypeError) as error:
                inventory.errors.append(f"count {table.qualified}: {error}")
    try:
        for database, name, column in query(f"SELECT database, table, name FROM system.columns WHERE {SCOPE_COLUMNS}"):
            table_info = tables.get((str(database), str(name)))
            if table_info is not None:
                table_info.columns.append(str(column))
    except QueryError as error:
        inventory.errors.append(f"columns: {error}")
    for table in tables.values():
        table.sensitive_reason = sensitive_reason(table.name)
        table.sensitive_columns = [c for c in table.columns if sensitive_reason(c)]
    inventory.tables = list(tables.values())
    return inventory


def _http_query_fn(host: str, port: int, tls: bool, auth: tuple[str, str] | None, timeout: float) -> QueryFn:
    """Blocking HTTP GET queries (GET makes ClickHouse run them read-only)."""
    settings: dict[str, Any] = {"readonly": 1, "max_execution_time": QUERY_TIMEOUT}

    def run(sql: str) -> list[Sequence[Any]]:
        connection: http.client.HTTPConnection
        if tls:
            connection = http.client.HTTPSConnection(host, port, timeout=timeout + QUERY_TIMEOUT, context=probe_tls_context())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout + QUERY_TIMEOUT)
        headers = {"User-Agent": USER_AGENT}
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        try:
            connection.request("GET", _query_path(sql + " FORMAT JSONCompact", settings), headers=headers)
            response = connection.getresponse()
            body = response.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as error:
            raise QueryError(None, f"{type(error).__name__}: {error}") from None
        finally:
            connection.close()
        if response.status != 200:
            code = int(m.group(1)) if (m := CODE_RE.search(body)) else None
            if code == 164 and settings:  # a readonly=1 user may not set anything; it is read-only already
                settings.clear()
                return run(sql)
            raise QueryError(code, f"HTTP {response.status}, code {code}")
        try:
            return list(json.loads(body)["data"])
        except (ValueError, KeyError) as error:
            raise QueryError(None, f"unreadable answer: {error}") from None

    return run


def _native_inventory(host: str, port: int, tls: bool, user: str, password: str, timeout: float, via: str) -> DataInventory:
    from clickhouse_driver import Client
    from clickhouse_driver.errors import Error as DriverError
    from clickhouse_driver.errors import ServerException

    settings: dict[str, Any] = {"readonly": 1, "max_execution_time": QUERY_TIMEOUT}
    options: dict[str, Any] = {"secure": True, "verify": False} if tls else {}

    def connect(current: dict[str, Any]) -> Any:
        return Client(host, port=port, user=user, password=password, client_name=CLIENT_NAME, connect_timeout=timeout,
                      send_receive_timeout=timeout + QUERY_TIMEOUT, sync_request_timeout=timeout, settings=dict(current), **options)

    client = connect(settings)

    def run(sql: str) -> list[Sequence[Any]]:
        nonlocal client
        try:
            return list(client.execute(sql))
        except ServerException as error:
            if error.code == 164 and settings:
                settings.clear()
                client.disconnect()
                client = connect(settings)
                return run(sql)
            raise QueryError(error.code, f"code {error.code}") from None
        except (DriverError, OSError, EOFError) as error:
            raise QueryError(None, f"{type(error).__name__}: {error}") from None

    try:
        return collect_inventory(run, via)
    finally:
        client.disconnect()


# --------------------------------------------------------------------------------------------
# One endpoint
# --------------------------------------------------------------------------------------------


@dataclass
class ProbeOptions:
    timeout: float = 3.0  # per connection: connect, and each answer
    credentials: tuple[tuple[str, str], ...] = DEFAULT_CREDENTIALS
    enumerate: bool = True
    tls_scan: bool = True
    ca: Path | None = None
    concurrency: int = 256
    per_host: int = 16
    blocking: int = 4  # threads for the blocking clients (sslyze, clickhouse-driver)
    endpoint_timeout: float = 120.0


T = TypeVar("T")


class _Context:
    def __init__(self, options: ProbeOptions):
        self.options = options
        self.blocking = asyncio.Semaphore(max(1, options.blocking))

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        async with self.blocking:
            return await asyncio.to_thread(function, *args)


async def probe_endpoint(host: str, port: int, options: ProbeOptions | None = None, *, source: str | None = None,
                         context: _Context | None = None) -> EndpointReport:
    """Everything the probe learns about one (host, port); never raises for network trouble."""
    options = options or ProbeOptions()
    context = context or _Context(options)
    report = EndpointReport(host, port, source)
    started = time.monotonic()
    try:
        await asyncio.wait_for(_probe(report, context), options.endpoint_timeout)
    except Unreachable as error:
        report.state, report.error = error.state, error.detail
    except TimeoutError:
        report.error = f"probe did not finish within {options.endpoint_timeout:g}s"
        report.state = report.state if report.state == "open" else "error"
    except Exception as error:  # one odd endpoint must not stop a fleet scan; say what happened
        report.error = f"{type(error).__name__}: {error}"
        if report.state != "open":
            report.state = "error"
    report.findings.sort(key=lambda f: -f.severity)
    report.elapsed = time.monotonic() - started
    return report


async def _probe(report: EndpointReport, context: _Context) -> None:
    host, port, timeout = report.host, report.port, context.options.timeout
    ping = http_request(host, port, "/ping")
    plain = await exchange(host, port, ping, timeout=timeout, complete=_first_answer_complete)
    report.state = "open"
    if await _identify(report, plain, False, context):
        return
    try:
        secure: Exchange | None = await exchange(host, port, ping, tls=True, timeout=timeout, complete=_first_answer_complete)
    except NotTls:
        secure = None
    except Unreachable:
        secure = None
    if secure is not None:
        report.tls = True
        if await _identify(report, secure, True, context):
            return
        if not secure.data and await _try_native(report, True, context):
            return
        report.service = report.service or "tls"
        report.banner = report.banner or _printable(secure.data)
        return
    if plain.data:
        report.service = "unknown"
        report.banner = _printable(plain.data)
        return
    if await _try_native(report, False, context):
        return
    pg = await exchange(host, port, struct.pack(">ii", 8, 80877103), timeout=timeout, complete=lambda d: len(d) >= 1)
    if pg.data in (b"S", b"N"):
        report.service = "postgresql"
        report.banner = "PostgreSQL protocol (login not attempted)"
        return
    report.service = "unknown"
    report.banner = "(silent)" if not plain.eof else "(closes without a word)"


def _printable(data: bytes, size: int = 60) -> str | None:
    if not data:
        return None
    text = data[:size].decode("latin-1")
    return "".join(c if 32 <= ord(c) < 127 else "." for c in text) + ("..." if len(data) > size else "")


async def _identify(report: EndpointReport, answer: Exchange, tls: bool, context: _Context) -> bool:
    """Classify the answer to GET /ping; True when the endpoint is fully handled."""
    response = parse_http(answer.data)
    if response is not None:
        if NATIVE_MARKER in response.body:
            report.tls = tls
            await _native_endpoint(report, tls, context, None)
        else:
            report.tls = tls
            await _http_endpoint(report, response, tls, context)
        return True
    greeting = parse_mysql_greeting(answer.data)
    if greeting is not None:
        report.tls = tls
        is_clickhouse = "clickhouse" in greeting.lower()
        report.service = "clickhouse-mysql" if is_clickhouse else "mysql"
        report.clickhouse = is_clickhouse
        report.banner = f"MySQL protocol, server {greeting} (login not attempted)"
        if is_clickhouse:
            report.version = greeting.split("-")[0] or None
            report.findings.append(Finding.of("version-disclosure", f"the MySQL greeting names the server version {greeting}", version=greeting))
            if not tls:
                report.findings.append(Finding.of("plaintext-port", "ClickHouse's MySQL interface takes passwords over plaintext"))
        return True
    return False  # silent, closed, a TLS alert or an unknown banner: the caller tries TLS / native next


async def _try_native(report: EndpointReport, tls: bool, context: _Context) -> bool:
    first = await login(report.host, report.port, protocol="native", tls=tls, user="default", password="", timeout=context.options.timeout)
    if not first.clickhouse:
        return False
    report.tls = tls
    await _native_endpoint(report, tls, context, first)
    return True


async def _credential_logins(report: EndpointReport, protocol: str, tls: bool, context: _Context, skip: set[tuple[str, str]]) -> None:
    options = context.options
    for user, password in options.credentials:
        if (user, password) in skip:
            continue
        report.logins.append(await login(report.host, report.port, protocol=protocol, tls=tls, user=user, password=password, timeout=options.timeout))


async def _http_endpoint(report: EndpointReport, ping: HttpResponse, tls: bool, context: _Context) -> None:
    host, port, options = report.host, report.port, context.options
    report.service = "https" if tls else "http"
    report.banner = ping.headers.get("server") or f"HTTP {ping.status}"
    raw = await http_get(host, port, _query_path("SELECT version()"), tls=tls, timeout=options.timeout)
    anonymous = http_login_result(raw, tls, None, None)
    body = raw.body if raw is not None else ""
    if "Poco::Exception" in body and "Not found: endpoint" in body:
        report.service = "clickhouse-interserver" + ("-tls" if tls else "")
        report.clickhouse = True
        report.findings.append(Finding.of("interserver-reachable", "the interserver HTTP port answers; without interserver credentials anyone can fetch table parts from it"))
        return
    if not (anonymous.clickhouse or (ping.body == "Ok.\n" and ping.clickhouse_headers())):
        if port in METRICS_PORTS:
            metrics = await http_get(host, port, "/metrics", tls=tls, timeout=options.timeout)
            if metrics is not None and metrics.status == 200 and ("ClickHouseProfileEvents_" in metrics.body or "ClickHouseMetrics_" in metrics.body):
                report.service = "clickhouse-metrics"
                report.clickhouse = True
                report.findings.append(Finding.of("metrics-readable", "GET /metrics answers ClickHouse's Prometheus metrics without credentials"))
        return
    report.clickhouse = True
    report.service = "clickhouse-https" if tls else "clickhouse-http"
    report.banner = None
    report.logins.append(anonymous)
    if options.credentials:
        await _credential_logins(report, "http", tls, context, skip={("default", "")} if anonymous.accepted else set())
    display = next((login.display_name for login in report.logins if login.display_name), None) or ping.headers.get("x-clickhouse-server-display-name")
    await _common_findings(report, tls, context, display)


async def _native_endpoint(report: EndpointReport, tls: bool, context: _Context, first: LoginResult | None) -> None:
    options = context.options
    report.clickhouse = True
    report.service = "clickhouse-native-tls" if tls else "clickhouse-native"
    if first is None:
        first = await login(report.host, report.port, protocol="native", tls=tls, user="default", password="", timeout=options.timeout)
    report.logins.append(first)
    if options.credentials:
        await _credential_logins(report, "native", tls, context, skip={("default", "")})
    display = next((login.display_name for login in report.logins if login.display_name), None)
    await _common_findings(report, tls, context, display)


async def _common_findings(report: EndpointReport, tls: bool, context: _Context, display_name: str | None) -> None:
    options = context.options
    accepted = report.accepted_logins
    report.version = next((login.version for login in report.logins if login.version), None)
    report.display_name = display_name
    where = f"over {'TLS' if tls else 'plaintext'} {report.service}"
    for login_result in accepted:
        rule = "anonymous-access" if login_result.anonymous else "default-credentials"
        report.findings.append(Finding.of(rule, f"{login_result.who} can run queries {where}", user=login_result.user, protocol=login_result.protocol))
    if accepted and options.enumerate:
        best = accepted[0]
        via = f"{best.protocol} as {best.who}"
        try:
            if best.protocol == "http":
                auth = None if best.user is None else (best.user, best.password or "")
                report.inventory = await context.in_thread(collect_inventory, _http_query_fn(report.host, report.port, tls, auth, options.timeout), via)
            else:
                report.inventory = await context.in_thread(_native_inventory, report.host, report.port, tls, best.user or "default", best.password or "", options.timeout, via)
        except Exception as error:  # the listing is extra evidence; the access finding stands without it
            report.inventory = DataInventory(via, errors=[f"{type(error).__name__}: {error}"])
        for table in report.inventory.sensitive_tables:
            why = [f"name ({table.sensitive_reason})"] if table.sensitive_reason else []
            if table.sensitive_columns:
                why.append("columns " + ", ".join(table.sensitive_columns))
            rows = "unknown" if table.rows is None else f"{table.rows}"
            report.findings.append(Finding.of("sensitive-data-readable", f"{table.qualified} ({rows} rows) is readable; flagged by {'; '.join(why)}",
                                              table=table.qualified, rows=table.rows, columns=table.sensitive_columns))
    elif not accepted:
        leaked = next((login.leaked_version for login in report.logins if login.leaked_version), None)
        if leaked:
            report.version = report.version or leaked
            report.findings.append(Finding.of("version-disclosure", f"a refused login still names the server version ({leaked})", version=leaked))
    if any(login.stack_trace for login in report.logins):
        report.findings.append(Finding.of("stack-trace-disclosure", "refused logins answer with the server's stack trace (binary paths and addresses)"))
    if display_name and not accepted:
        report.findings.append(Finding.of("hostname-disclosure", f"the server names itself {display_name!r} to clients that did not log in", display_name=display_name))
    if not tls:
        report.findings.append(Finding.of("plaintext-port", f"{report.service} takes passwords and data over plaintext"))
    elif options.tls_scan:
        try:
            posture = await context.in_thread(functools.partial(tls_posture, report.host, report.port, ca=options.ca, timeout=options.timeout))
        except Exception as error:  # a scanner crash is reported, not fatal
            posture = TlsPosture("sslyze", error=f"{type(error).__name__}: {error}")
        report.tls_posture = posture
        report.findings.extend(tls_findings(posture, options.ca is not None))


def tls_findings(posture: TlsPosture, ca_given: bool = False) -> list[Finding]:
    findings = []
    old = [v for v in posture.accepted_versions if v in OLD_PROTOCOLS]
    if old:
        severity = Severity.HIGH if any(v.startswith("SSL") for v in old) else None
        findings.append(Finding.of("tls-old-protocol", f"accepts {', '.join(old)}", severity, versions=old))
    if posture.weak_suites:
        shown = ", ".join(posture.weak_suites[:3]) + (f" and {len(posture.weak_suites) - 3} more" if len(posture.weak_suites) > 3 else "")
        findings.append(Finding.of("tls-weak-cipher", f"accepts weak suites: {shown}", suites=posture.weak_suites))
    certificate = posture.certificate
    if certificate is not None:
        if certificate.expired:
            findings.append(Finding.of("tls-certificate-expired", f"certificate not valid now (not after {certificate.not_after})"))
        if certificate.self_signed:
            findings.append(Finding.of("tls-certificate-self-signed", f"certificate is self-signed ({certificate.subject})"))
        elif certificate.trusted is False:
            severity = Severity.MEDIUM if ca_given else Severity.INFO
            findings.append(Finding.of("tls-certificate-untrusted", f"certificate chain does not validate: {certificate.trust_detail}", severity))
        elif certificate.strict_failure:
            findings.append(Finding.of("tls-certificate-untrusted", f"OpenSSL accepts the chain, strict RFC 5280 validation does not: {certificate.strict_failure}", Severity.LOW))
        if certificate.hostname_match is False:
            findings.append(Finding.of("tls-certificate-hostname", f"certificate ({certificate.subject}) does not name this address"))
    return findings


# --------------------------------------------------------------------------------------------
# A fleet
# --------------------------------------------------------------------------------------------


async def scan_endpoints(
    endpoints: Sequence[Endpoint],
    options: ProbeOptions | None = None,
    on_result: Callable[[EndpointReport], None] | None = None,
) -> list[EndpointReport]:
    """Probe every endpoint with at most `concurrency` in flight (and `per_host` per host)."""
    options = options or ProbeOptions()
    context = _Context(options)
    per_host: dict[str, asyncio.Semaphore] = {}
    results: list[EndpointReport] = []
    pending: Iterator[Endpoint] = iter(endpoints)

    async def worker() -> None:
        for endpoint in pending:  # one shared iterator: each endpoint goes to exactly one worker
            gate = per_host.setdefault(endpoint.host, asyncio.Semaphore(max(1, options.per_host)))
            async with gate:
                result = await probe_endpoint(endpoint.host, endpoint.port, options, source=endpoint.source, context=context)
            results.append(result)
            if on_result is not None:
                on_result(result)

    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(_quiet_exception_handler)
    asyncio_logger = logging.getLogger("asyncio")
    level = asyncio_logger.level
    asyncio_logger.setLevel(logging.CRITICAL)  # half-closed TLS sessions of odd servers are expected noise
    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(options.concurrency, len(endpoints))))))
    finally:
        loop.set_exception_handler(previous)
        asyncio_logger.setLevel(level)
    return results


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exception = context.get("exception")
    if isinstance(exception, (ssl.SSLError, ConnectionError, OSError)):
        return
    loop.default_exception_handler(context)


def scan(
    targets: Sequence[str],
    options: ProbeOptions | None = None,
    *,
    ports: Sequence[int] = DEFAULT_PORTS,
    max_hosts: int = DEFAULT_MAX_HOSTS,
    fail_on: Severity = Severity.HIGH,
    on_result: Callable[[EndpointReport], None] | None = None,
) -> ScanReport:
    """Blocking entry point: targets -> ScanReport. Raises TargetError for bad targets."""
    endpoints, _ = expand_targets(targets, ports, max_hosts=max_hosts)
    return run_scan(list(targets), endpoints, options, fail_on=fail_on, on_result=on_result)


def run_scan(targets: list[str], endpoints: Sequence[Endpoint], options: ProbeOptions | None = None, *,
             fail_on: Severity = Severity.HIGH, on_result: Callable[[EndpointReport], None] | None = None) -> ScanReport:
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    results = run_sync(scan_endpoints(endpoints, options, on_result))
    return ScanReport(targets, results, started.isoformat(timespec="seconds"), time.monotonic() - clock, fail_on)


def run_sync(coroutine: Awaitable[T]) -> T:
    """Run a coroutine from blocking code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]


def login_sync(host: str, port: int, **kwargs: Any) -> LoginResult:
    return run_sync(login(host, port, **kwargs))


def port_state_sync(host: str, port: int, timeout: float = 3.0) -> tuple[str, str]:
    return run_sync(port_state(host, port, timeout))


def probe_endpoint_sync(host: str, port: int, options: ProbeOptions | None = None) -> EndpointReport:
    return run_sync(probe_endpoint(host, port, options))


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _summary_line(endpoint: EndpointReport) -> str:
    parts: list[str] = []
    accepted = endpoint.accepted_logins
    if accepted:
        parts.append("login: " + ", ".join(dict.fromkeys(login.who for login in accepted)))
    if endpoint.inventory is not None:
        inventory = endpoint.inventory
        parts.append(f"readable: {len(inventory.databases)} databases, {len(inventory.tables)} tables, {inventory.total_rows} rows")
        sensitive = inventory.sensitive_tables
        if sensitive:
            parts.append("sensitive: " + ", ".join(f"{t.qualified}" + (f" ({', '.join(t.sensitive_columns)})" if t.sensitive_columns else "") for t in sensitive[:5])
                         + (f" +{len(sensitive) - 5}" if len(sensitive) > 5 else ""))
    if endpoint.clickhouse and not accepted and endpoint.logins:
        codes = sorted({str(login.code) for login in endpoint.logins if login.code is not None})
        parts.append("logins refused" + (f" (codes {', '.join(codes)})" if codes else ""))
    if endpoint.tls_posture is not None:
        if endpoint.tls_posture.accepted_versions:
            parts.append("TLS " + "/".join(v.replace("TLSv", "") for v in endpoint.tls_posture.accepted_versions))
        if endpoint.tls_posture.error:
            parts.append(f"TLS scan: {endpoint.tls_posture.error}")
    for finding in endpoint.findings:
        if finding.rule not in ("anonymous-access", "default-credentials", "sensitive-data-readable"):
            parts.append(finding.message if finding.severity >= Severity.MEDIUM else finding.rule)
    if not endpoint.clickhouse and endpoint.state == "open":
        parts.append("not ClickHouse" + (f": {endpoint.banner}" if endpoint.banner else ""))
    if endpoint.error:
        parts.append(endpoint.error)
    return "; ".join(parts) or "-"


def render_text(report: ScanReport, *, show_closed: bool = False, verbose: bool = False) -> str:
    counts = report.counts()
    shown = [e for e in report.ordered() if show_closed or e.state not in ("closed",)]
    header = ("SEVERITY", "ENDPOINT", "STATE", "SERVICE", "VERSION", "WHAT A CLIENT GETS")
    rows = [(e.severity.label if e.severity is not None else "-", e.address, e.state, e.service or "-", e.version or "-", _summary_line(e)) for e in shown]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]

    lines = [line(header)]
    for endpoint, row in zip(shown, rows, strict=True):
        lines.append(line(row))
        if verbose:
            lines.extend(f"    - [{f.severity.label}] {f.rule}: {f.message}" for f in endpoint.findings)
    hidden = len(report.endpoints) - len(shown)
    states = ", ".join(f"{counts[s]} {s}" for s in ("open", "closed", "filtered", "unreachable", "error") if counts.get(s))
    verdict = f"EXPOSED: {counts['exposed']} endpoint(s) at or above {report.fail_on.label}" if report.exposed else f"nothing at or above {report.fail_on.label}"
    lines.append("")
    lines.append(f"{counts['endpoints']} endpoints on {counts['hosts']} hosts in {report.duration:.1f}s: {states}; "
                 f"{counts['clickhouse']} ClickHouse; {verdict}" + (f" ({hidden} closed not listed; --show-closed lists them)" if hidden else ""))
    return "\n".join(lines)


def render_json(report: ScanReport) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str)


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note", Severity.INFO: "note"}
_SECURITY_SEVERITY = {Severity.CRITICAL: "9.8", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0", Severity.INFO: "0.0"}


def render_sarif(report: ScanReport) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per finding kind, one result per finding.

    Network endpoints have no file; each result points at the targets file or inventory the
    host came from when there is one (so code-scanning dashboards can attach it), else at a
    `clickhouse://host:port` URI, and names the endpoint as a logical location.
    """
    import hashlib

    rules = list(RULES.values())
    index = {rule.id: i for i, rule in enumerate(rules)}
    results = []
    for endpoint in report.ordered():
        for finding in endpoint.findings:
            source = endpoint.source if endpoint.source and Path(endpoint.source).is_file() else None
            uri = Path(source).as_posix() if source else f"clickhouse://{endpoint.address}"
            fingerprint = hashlib.sha256(f"{finding.rule}|{endpoint.address}|{finding.data.get('table', '')}".encode()).hexdigest()
            results.append({
                "ruleId": finding.rule,
                "ruleIndex": index[finding.rule],
                "level": _SARIF_LEVEL[finding.severity],
                "message": {"text": f"{endpoint.address} ({endpoint.service}): {finding.message}"},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": uri}},
                    "logicalLocations": [{"name": endpoint.address, "fullyQualifiedName": f"{endpoint.address}/{endpoint.service}", "kind": "resource"}],
                }],
                "partialFingerprints": {"endpointFinding/v1": fingerprint},
                "properties": {"severity": finding.severity.label, "host": endpoint.host, "port": endpoint.port,
                               "service": endpoint.service, **({"data": finding.data} if finding.data else {})},
            })
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": CLIENT_NAME,
                "version": __version__,
                "informationUri": "https://clickhouse.com/docs/operations/security",
                "rules": [{
                    "id": rule.id,
                    "name": "".join(word.capitalize() for word in rule.id.split("-")),
                    "shortDescription": {"text": rule.title},
                    "fullDescription": {"text": rule.title},
                    "help": {"text": rule.help},
                    "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
                    "properties": {"security-severity": _SECURITY_SEVERITY[rule.severity], "tags": ["security", "clickhouse"]},
                } for rule in rules],
            }},
            "invocations": [{"executionSuccessful": True, "startTimeUtc": report.started,
                             "properties": {"targets": report.targets, "endpoints": len(report.endpoints)}}],
            "results": results,
        }],
    }
