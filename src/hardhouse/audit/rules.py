"""Judgement from inside: the audit rules, each a pure function from a merged configuration
(hardhouse.audit.merge) to findings. No I/O; every finding names the effective value and the
file:line that decides it. Secrets are never put in a finding: a password's value or hash is
judged here and only its location is reported."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterator

from hardhouse.audit.cluster_rules import CLUSTER_RULES
from hardhouse.audit.merge import MergedConfig, ServerTree
from hardhouse.audit.model import Finding
from hardhouse.audit.xmltree import Element
from hardhouse.clickhouse.ports import PORTS
from hardhouse.clickhouse.stock import EMPTY_SHA256
from hardhouse.clickhouse.tls import disabled_protocols, weak_suite_reason
from hardhouse.spec.locks import SYSTEM_LOG_TABLES

# ClickHouse's own default when openSSL.server.cipherList is not set.
CLICKHOUSE_DEFAULT_CIPHERS = "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH"
# Ports that carry logins or data in the clear (TLS ports and interserver are judged apart).
PLAINTEXT_PORTS = tuple(port for port in PORTS if not port.tls and port.protocol != "interserver")
TLS_PORT_ELEMENTS = ("https_port", "tcp_port_secure", "interserver_https_port")
# Passwords a scanner tries first (the probe's default-credential list, and a few more).
KNOWN_PASSWORDS = ("", "default", "clickhouse", "password", "changeme", "admin", "root", "123456", "qwerty")
KNOWN_SHA256 = {hashlib.sha256(p.encode()).hexdigest(): p for p in KNOWN_PASSWORDS}
KNOWN_DOUBLE_SHA1 = {hashlib.sha1(hashlib.sha1(p.encode()).digest()).hexdigest(): p for p in KNOWN_PASSWORDS}
# Elements that give a user a way to authenticate other than a password.
OTHER_AUTHENTICATION = ("ldap", "kerberos", "ssl_certificates", "ssh_keys", "http_authentication")
PASSWORD_ELEMENTS = ("password", "password_sha256_hex", "password_double_sha1_hex", "password_bcrypt_hash")
ANY_IPV4 = ipaddress.ip_network("0.0.0.0/0")
ANY_IPV6 = ipaddress.ip_network("::/0")
IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
# Host names no network restriction should match; a regexp or LIKE pattern matching them all matches anyone.
PROBE_NAMES = ("attacker.example", "x", "203-0-113-7.customer.example.net")


def _text(element: Element | None) -> str:
    return "" if element is None else element.text


def _is_any_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return False
    if address.is_unspecified:
        return True
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped is not None and mapped.is_unspecified


def listen_any(tree: ServerTree) -> Iterator[Finding]:
    for element in tree.config.root.elements("listen_host"):
        if _is_any_address(element.text):
            yield Finding("listen-any", "listen_host", element.text, element.value_origin, "listens on every interface")


def plaintext_port(tree: ServerTree) -> Iterator[Finding]:
    root = tree.config.root
    for port in PLAINTEXT_PORTS:
        element = root.find(port.element)
        if element is None or not element.text:
            continue
        if port.protocol == "grpc" and _text(root.find("grpc/enable_ssl")) in ("1", "true"):
            continue
        yield Finding("plaintext-port", port.element, element.text, element.value_origin, f"{port.what} is open")


def interserver_unauthenticated(tree: ServerTree) -> Iterator[Finding]:
    root = tree.config.root
    credentials = root.find("interserver_http_credentials")
    has_credentials = credentials is not None and bool(_text(credentials.find("user")))
    for name in ("interserver_http_port", "interserver_https_port"):
        element = root.find(name)
        if element is None or not element.text:
            continue
        if not has_credentials:
            yield Finding(
                "interserver-unauthenticated",
                name,
                element.text,
                element.value_origin,
                "open without interserver_http_credentials: anyone reaching it can fetch table parts",
            )
        elif name == "interserver_http_port":
            yield Finding(
                "interserver-unauthenticated",
                name,
                element.text,
                element.value_origin,
                "interserver credentials cross the network in the clear; use interserver_https_port",
            )


def metrics_open(tree: ServerTree) -> Iterator[Finding]:
    element = tree.config.root.find("prometheus/port")
    if element is not None and element.text:
        yield Finding(
            "metrics-open", "prometheus.port", element.text, element.value_origin, "metrics answer without credentials"
        )


def tls_ports(tree: ServerTree) -> list[Element]:
    return [e for name in TLS_PORT_ELEMENTS if (e := tree.config.root.find(name)) is not None and e.text]


def tls_old_protocol(tree: ServerTree) -> Iterator[Finding]:
    if not tls_ports(tree):
        return
    server = tree.config.root.find("openSSL/server")
    element = None if server is None else server.find("disableProtocols")
    disabled = {part.strip().lower() for part in _text(element).split(",")}
    allowed = [name for name in disabled_protocols("tlsv1_2").split(",") if name not in disabled]
    if not allowed:
        return
    origin = element.value_origin if element is not None else (server or tls_ports(tree)[0]).origin
    yield Finding(
        "tls-old-protocol",
        "openSSL.server.disableProtocols",
        element.text if element is not None else None,
        origin,
        f"{'not set, so ' if element is None else ''}{', '.join(allowed)} stay enabled",
    )


def tls_weak_cipher(tree: ServerTree) -> Iterator[Finding]:
    if not tls_ports(tree):
        return
    server = tree.config.root.find("openSSL/server")
    element = None if server is None else server.find("cipherList")
    text = element.text if element is not None else CLICKHOUSE_DEFAULT_CIPHERS
    problem = cipher_list_problem(text)
    if problem:
        origin = element.value_origin if element is not None else (server or tls_ports(tree)[0]).origin
        shown = text if element is not None else None
        prefix = f"not set, so ClickHouse's default {CLICKHOUSE_DEFAULT_CIPHERS} applies: " if element is None else ""
        yield Finding("tls-weak-cipher", "openSSL.server.cipherList", shown, origin, prefix + problem)


def cipher_list_problem(text: str) -> str | None:
    """Why an OpenSSL cipher string admits weak TLS 1.2 suites, or None. Only a list of named
    suites can be judged; keywords (ALL, HIGH, DEFAULT, RSA...) select suites by rule and may
    include ones without forward secrecy or AEAD."""
    for token in (t.strip() for t in text.split(":")):
        if not token or token[0] in "!-+@":
            continue
        if "-" not in token or token.isupper() and token in ("ALL", "HIGH", "MEDIUM", "DEFAULT", "COMPLEMENTOFALL"):
            return f"{token} selects suites by keyword, including ones without forward secrecy or AEAD"
        reason = weak_suite_reason(_rfc_like(token), "TLSv1.2")
        if reason:
            return f"{token}: {reason}"
    return None


def _rfc_like(openssl_name: str) -> str:
    """Enough of the RFC spelling of an OpenSSL suite name for weak_suite_reason's markers."""
    name = openssl_name.upper().replace("-", "_")
    return f"_{name}_".replace("_DES_CBC3_", "_3DES_").replace("_EDH_", "_DHE_")


def tls_certificate_missing(tree: ServerTree) -> Iterator[Finding]:
    ports = tls_ports(tree)
    if not ports:
        return
    server = tree.config.root.find("openSSL/server")
    for name in ("certificateFile", "privateKeyFile"):
        element = None if server is None else server.find(name)
        if element is None or not element.text:
            yield Finding(
                "tls-certificate-missing",
                f"openSSL.server.{name}",
                None,
                (server or ports[0]).origin,
                "not set while a TLS port is open",
            )


def users(config: MergedConfig) -> list[Element]:
    section = config.root.find("users")
    return [] if section is None else section.elements()


def passwordless_user(tree: ServerTree) -> Iterator[Finding]:
    for user in users(tree.users):
        subject = f"user {user.tag}"
        if any(user.find(name) is not None for name in OTHER_AUTHENTICATION):
            continue
        present = [user.find(name) for name in PASSWORD_ELEMENTS]
        given = [element for element in present if element is not None]
        if not given:
            yield Finding(
                "passwordless-user", subject, None, user.origin, "has no password element: no password at all"
            )
            continue
        for element in given:
            text = element.text
            empty = (
                not text
                or (element.tag == "password_sha256_hex" and text.lower() == EMPTY_SHA256)
                or (element.tag == "password_double_sha1_hex" and KNOWN_DOUBLE_SHA1.get(text.lower()) == "")
            )
            if empty:
                yield Finding("passwordless-user", subject, None, element.value_origin, f"<{element.tag}> is empty")


def plaintext_password(tree: ServerTree) -> Iterator[Finding]:
    for user in users(tree.users):
        element = user.find("password")
        if element is not None and element.text:
            yield Finding(
                "plaintext-password",
                f"user {user.tag}",
                None,
                element.value_origin,
                "has a plaintext <password> (value not shown); store password_sha256_hex instead",
            )


def known_password(tree: ServerTree) -> Iterator[Finding]:
    for user in users(tree.users):
        for element in (user.find(name) for name in PASSWORD_ELEMENTS[:3]):
            if element is None or not element.text:
                continue  # an empty password is passwordless-user's finding
            text = element.text
            known = {
                "password": text if text in KNOWN_PASSWORDS else None,
                "password_sha256_hex": KNOWN_SHA256.get(text.lower()),
                "password_double_sha1_hex": KNOWN_DOUBLE_SHA1.get(text.lower()),
            }[element.tag]
            if known:
                yield Finding(
                    "known-password",
                    f"user {user.tag}",
                    None,
                    element.value_origin,
                    f"<{element.tag}> is a well-known password that scanners try first",
                )


def any_network(tree: ServerTree) -> Iterator[Finding]:
    for user in users(tree.users):
        subject = f"user {user.tag}"
        networks = user.find("networks")
        if networks is None:
            yield Finding(
                "any-network", subject, None, user.origin, "has no <networks>: it may log in from any address"
            )
            continue
        v4, v6 = [], []
        for element in networks.elements():
            text = element.text
            if element.tag == "ip":
                try:
                    network = ipaddress.ip_network(text, strict=False)
                except ValueError:
                    continue
                (v4 if network.version == 4 else v6).append(network)
            elif element.tag in ("host_regexp", "host_like") and _matches_any_name(element.tag, text):
                yield Finding("any-network", subject, text, element.value_origin, f"<{element.tag}> matches any host")
        if any(n == ANY_IPV6 or n.supernet_of(IPV4_MAPPED) for n in ipaddress.collapse_addresses(v6)):
            yield Finding(
                "any-network", subject, _shown(v6), networks.origin, "networks cover every IPv4 or IPv6 address"
            )
        elif ANY_IPV4 in ipaddress.collapse_addresses(v4):
            yield Finding("any-network", subject, _shown(v4), networks.origin, "networks cover every IPv4 address")


def _shown(networks: list[ipaddress.IPv4Network] | list[ipaddress.IPv6Network]) -> str:
    return ", ".join(str(n) for n in networks[:4]) + (", ..." if len(networks) > 4 else "")


def _matches_any_name(kind: str, pattern: str) -> bool:
    if kind == "host_like":
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    else:
        regex = pattern
    try:
        compiled = re.compile(regex)
    except re.error:
        return False
    matcher = compiled.fullmatch if kind == "host_like" else compiled.search
    return all(matcher(name) for name in PROBE_NAMES)


def masking_missing(tree: ServerTree) -> Iterator[Finding]:
    section = tree.config.root.find("query_masking_rules")
    # ClickHouse takes every child whose name starts with "rule" as a rule (rule, rule_1, rule_keys...).
    if section is None or not [child for child in section.elements() if child.tag.startswith("rule")]:
        origin = section.origin if section is not None else None
        yield Finding(
            "masking-missing",
            "query_masking_rules",
            None,
            origin,
            "no rule masks secrets in queries before they reach query_log and the text log",
        )


def _is_on(text: str) -> bool:
    # ClickHouse reads a Bool setting from 1/0 or true/false (any case).
    return text.strip().lower() in ("1", "true")


def _is_off(text: str) -> bool:
    return text.strip().lower() in ("0", "false")


def profiles(config: MergedConfig) -> list[Element]:
    section = config.root.find("profiles")
    return [] if section is None else section.elements()


def _profile_flag(
    tree: ServerTree, rule: str, setting: str, wrong: Callable[[str], bool], why: str
) -> Iterator[Finding]:
    """A finding for each profile whose `setting` is set the wrong way (on or off)."""
    for profile in profiles(tree.users):
        element = profile.find(setting)
        if element is not None and wrong(element.text):
            yield Finding(rule, f"profile {profile.tag}", element.text, element.value_origin, why)


def secrets_displayed(tree: ServerTree) -> Iterator[Finding]:
    server = tree.config.root.find("display_secrets_in_show_and_select")
    if server is not None and _is_on(server.text):
        yield Finding(
            "secrets-displayed",
            "display_secrets_in_show_and_select",
            server.text,
            server.value_origin,
            "SHOW and SELECT may show credentials of tables, dictionaries and table functions",
        )
    yield from _profile_flag(
        tree,
        "secrets-displayed",
        "format_display_secrets_in_show_and_select",
        _is_on,
        "format_display_secrets_in_show_and_select is on: its users see credentials wherever the server allows",
    )


def query_log_off(tree: ServerTree) -> Iterator[Finding]:
    yield from _profile_flag(
        tree,
        "query-log-off",
        "log_queries",
        _is_off,
        "log_queries is off: this profile's queries leave no trace in query_log",
    )


def _locked_on(constraint: Element | None) -> bool:
    """A constraint that keeps a flag at 1: readonly/const, or min and max both 1."""
    if constraint is None:
        return False
    if constraint.find("readonly") is not None or constraint.find("const") is not None:
        return True
    return _text(constraint.find("min")).strip() == "1" and _text(constraint.find("max")).strip() == "1"


def query_log_unlocked(tree: ServerTree) -> Iterator[Finding]:
    for profile in profiles(tree.users):
        if not _locked_on(profile.find("constraints/log_queries")):
            yield Finding(
                "query-log-unlocked",
                f"profile {profile.tag}",
                None,
                profile.origin,
                "no constraint on log_queries: its users can SET log_queries = 0 and leave no trace",
            )


def system_log_no_ttl(tree: ServerTree) -> Iterator[Finding]:
    for name in SYSTEM_LOG_TABLES:
        section = tree.config.root.find(name)
        if section is None:
            continue  # not enabled: nothing is kept
        ttl = section.find("ttl")
        engine = section.find("engine")
        if (ttl is None or not ttl.text) and (engine is None or "TTL" not in engine.text.upper()):
            yield Finding(
                "system-log-no-ttl",
                name,
                None,
                section.origin,
                "kept forever: no ttl, so query text, users and addresses pile up",
            )


def session_log_off(tree: ServerTree) -> Iterator[Finding]:
    if tree.config.root.find("session_log") is None:
        yield Finding("session-log-off", "session_log", None, None, "not configured: logins leave no record")


def queries_unbounded(tree: ServerTree) -> Iterator[Finding]:
    element = tree.config.root.find("max_concurrent_queries")
    if element is None or element.text.strip() in ("", "0"):
        origin = element.value_origin if element is not None else None
        shown = element.text if element is not None else None
        yield Finding("queries-unbounded", "max_concurrent_queries", shown, origin, "no cap on queries running at once")


def cors_any_origin(tree: ServerTree) -> Iterator[Finding]:
    yield from _profile_flag(
        tree, "cors-any-origin", "add_http_cors_header", _is_on, "sends Access-Control-Allow-Origin: * to any web page"
    )


# Directories file() must never reach: the server's own, and their parents.
SERVER_DIRECTORIES = ("path", "tmp_path", "format_schema_path")
STOCK_USER_FILES_PATH = "/var/lib/clickhouse/user_files/"


def _directory(text: str) -> str:
    return "/" + "/".join(part for part in text.strip().split("/") if part)


def _holds(outer: str, inner: str) -> bool:
    return outer == "/" or inner == outer or inner.startswith(outer + "/")


def user_files_shared(tree: ServerTree) -> Iterator[Finding]:
    element = tree.config.root.find("user_files_path")
    value = _text(element).strip() or STOCK_USER_FILES_PATH
    files = _directory(value)
    problem = "is the whole file system" if files == "/" else None
    for name in SERVER_DIRECTORIES:
        other = tree.config.root.find(name)
        if problem is None and other is not None and other.text.strip() and _holds(files, _directory(other.text)):
            problem = f"is or holds {name} ({other.text.strip()}): file() can read and write the server's own files"
    if problem is not None:
        origin = element.value_origin if element is not None else None
        yield Finding("user-files-shared", "user_files_path", value, origin, problem)


Rule = Callable[[ServerTree], Iterator[Finding]]
# Every audit rule the catalog names, by id (a test keeps the two equal). Drift is judged
# apart (hardhouse.audit.drift) because it needs the spec.
RULES: dict[str, Rule] = {
    "listen-any": listen_any,
    "plaintext-port": plaintext_port,
    "interserver-unauthenticated": interserver_unauthenticated,
    "metrics-open": metrics_open,
    "tls-old-protocol": tls_old_protocol,
    "tls-weak-cipher": tls_weak_cipher,
    "tls-certificate-missing": tls_certificate_missing,
    "passwordless-user": passwordless_user,
    "plaintext-password": plaintext_password,
    "known-password": known_password,
    "any-network": any_network,
    "masking-missing": masking_missing,
    **CLUSTER_RULES,
    "secrets-displayed": secrets_displayed,
    "query-log-off": query_log_off,
    "query-log-unlocked": query_log_unlocked,
    "system-log-no-ttl": system_log_no_ttl,
    "session-log-off": session_log_off,
    "queries-unbounded": queries_unbounded,
    "cors-any-origin": cors_any_origin,
    "user-files-shared": user_files_shared,
}
