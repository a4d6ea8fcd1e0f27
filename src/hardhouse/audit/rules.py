"""Judgement from inside: the audit rules, each a pure function from a merged configuration
(hardhouse.audit.merge) to findings. No I/O; every finding names the effective value and the
file:line that decides it. Values are read as ClickHouse reads them (hardhouse.audit.values:
raw text, `${}` expanded; hardhouse.audit.users: users by Poco key, networks by prefix);
a value that cannot be decided raises Undecidable, which `judge` turns into an undecided
finding of the rule's control, never a pass. Secrets are never put in a finding: a password's
value or hash is judged here and only its location is reported."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from hardhouse.audit.cluster_rules import CLUSTER_RULES
from hardhouse.audit.files import Dialect
from hardhouse.audit.grant_rules import RULE as SOURCE_RULE
from hardhouse.audit.grant_rules import source_table_functions
from hardhouse.audit.merge import ServerTree
from hardhouse.audit.model import Finding
from hardhouse.audit.user_rules import USER_RULES
from hardhouse.audit.users import profiles as users_profiles
from hardhouse.audit.values import Undecidable, Unknown, Values, known
from hardhouse.clickhouse import addresses
from hardhouse.clickhouse.ports import PORTS
from hardhouse.clickhouse.tls import disabled_protocols, weak_suite_reason
from hardhouse.clickhouse.xmltree import Element
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, judges
from hardhouse.spec.settings import SYSTEM_LOG_TABLES

# ClickHouse's own default when openSSL.server.cipherList is not set.
CLICKHOUSE_DEFAULT_CIPHERS = "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH"
# Ports that carry logins or data in the clear (TLS ports and interserver are judged apart).
PLAINTEXT_PORTS = tuple(port for port in PORTS if not port.tls and port.protocol != "interserver")
TLS_PORT_ELEMENTS = ("https_port", "tcp_port_secure", "interserver_https_port")
# Listen elements judged like listen_host: the interserver one exists on modern servers only.
LISTEN_ELEMENTS = {Dialect.V18: ("listen_host",), Dialect.MODERN: ("listen_host", "interserver_listen_host")}


def _config(tree: ServerTree) -> Values:
    return tree.config_values


def _value(values: Values, element: Element, subject: str) -> str:
    return known(values.get(element), subject)


def _found(values: Values, path: str, subject: str, below: Element | None = None) -> Element | None:
    return known(values.find(path, below), subject)


def _custom_listeners(tree: ServerTree, subject: str) -> None:
    """Modern servers also open the listeners a <protocols> section declares: not judged here."""
    if tree.dialect is Dialect.MODERN and _found(_config(tree), "protocols", subject) is not None:
        raise Undecidable(
            subject,
            Unknown(
                "a <protocols> section declares listeners of its own, which the audit does not judge",
                "remove <protocols> or check those listeners with hardhouse probe",
            ),
        )


@judges(Tool.AUDIT, "listen-any", ControlId.LISTEN_1)
def listen_any(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    _custom_listeners(tree, "listen_host")
    for name in LISTEN_ELEMENTS[tree.dialect]:
        for element in known(values.all_named(name), name):
            text = _value(values, element, name)
            address = addresses.listen_address(text)
            if address is None:
                if addresses.is_loopback_name(text):
                    continue
                raise Undecidable(
                    name,
                    Unknown(
                        f"{text!r} at {element.value_origin} is no address: the server binds whatever its resolver "
                        "answers for it (a name can resolve to 0.0.0.0)",
                        "write the address itself",
                        element.value_origin,
                    ),
                )
            if addresses.is_any(address):
                yield Finding("listen-any", name, text, element.value_origin, "listens on every interface")


@judges(Tool.AUDIT, "plaintext-port", ControlId.PORT_1)
def plaintext_port(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    _custom_listeners(tree, "ports")
    for port in PLAINTEXT_PORTS:
        element = _found(values, port.element, port.element)
        if element is None:
            continue
        text = _value(values, element, port.element)
        if not text.strip(addresses.C_SPACE):
            continue  # not a number: the server refuses to start ("Not a valid integer")
        if port.protocol == "grpc" and _is_on(known(values.text("grpc/enable_ssl") or "", "grpc.enable_ssl")):
            continue
        # 0 is a port too: the server binds a random one (seen on 18.16).
        yield Finding("plaintext-port", port.element, text, element.value_origin, f"{port.what} is open")


@judges(Tool.AUDIT, "interserver-unauthenticated", ControlId.PORT_2)
def interserver_unauthenticated(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    user = known(values.text("interserver_http_credentials/user"), "interserver_http_credentials")
    has_credentials = bool(user)
    for name in ("interserver_http_port", "interserver_https_port"):
        element = _found(values, name, name)
        if element is None:
            continue
        text = _value(values, element, name)
        if not text.strip(addresses.C_SPACE):
            continue
        if not has_credentials:
            yield Finding(
                "interserver-unauthenticated",
                name,
                text,
                element.value_origin,
                "open without interserver_http_credentials: anyone reaching it can fetch table parts",
            )
        elif name == "interserver_http_port":
            yield Finding(
                "interserver-unauthenticated",
                name,
                text,
                element.value_origin,
                "interserver credentials cross the network in the clear; use interserver_https_port",
            )


@judges(Tool.AUDIT, "metrics-open", ControlId.PORT_3)
def metrics_open(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    element = _found(values, "prometheus/port", "prometheus.port")
    if element is not None:
        text = _value(values, element, "prometheus.port")
        if text.strip(addresses.C_SPACE):
            yield Finding(
                "metrics-open", "prometheus.port", text, element.value_origin, "metrics answer without credentials"
            )


def tls_ports(tree: ServerTree) -> list[Element]:
    """The TLS ports that are open (a port whose value cannot be decided counts as open)."""
    values = _config(tree)
    found = []
    for name in TLS_PORT_ELEMENTS:
        element = values.find(name)
        if isinstance(element, Unknown) or element is None:
            if element is not None:
                found.append(tree.config.root)
            continue
        text = values.get(element)
        if isinstance(text, Unknown) or text.strip(addresses.C_SPACE):
            found.append(element)
    return found


def _tls_server(tree: ServerTree, subject: str) -> Element | None:
    return _found(_config(tree), "openSSL/server", subject)


@judges(Tool.AUDIT, "tls-old-protocol", ControlId.TLS_1)
def tls_old_protocol(tree: ServerTree) -> Iterator[Finding]:
    if not tls_ports(tree):
        return
    subject = "openSSL.server.disableProtocols"
    server = _tls_server(tree, subject)
    element = None if server is None else _found(_config(tree), "disableProtocols", subject, server)
    text = "" if element is None else _value(_config(tree), element, subject)
    disabled = {part.strip().lower() for part in text.split(",")}
    allowed = [name for name in disabled_protocols("tlsv1_2").split(",") if name not in disabled]
    if not allowed:
        return
    origin = element.value_origin if element is not None else (server or tls_ports(tree)[0]).origin
    yield Finding(
        "tls-old-protocol",
        subject,
        text if element is not None else None,
        origin,
        f"{'not set, so ' if element is None else ''}{', '.join(allowed)} stay enabled",
    )


@judges(Tool.AUDIT, "tls-weak-cipher", ControlId.TLS_2)
def tls_weak_cipher(tree: ServerTree) -> Iterator[Finding]:
    if not tls_ports(tree):
        return
    subject = "openSSL.server.cipherList"
    server = _tls_server(tree, subject)
    element = None if server is None else _found(_config(tree), "cipherList", subject, server)
    text = _value(_config(tree), element, subject) if element is not None else CLICKHOUSE_DEFAULT_CIPHERS
    problem = cipher_list_problem(text)
    if problem:
        origin = element.value_origin if element is not None else (server or tls_ports(tree)[0]).origin
        shown = text if element is not None else None
        prefix = f"not set, so ClickHouse's default {CLICKHOUSE_DEFAULT_CIPHERS} applies: " if element is None else ""
        yield Finding("tls-weak-cipher", subject, shown, origin, prefix + problem)


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


@judges(Tool.AUDIT, "tls-certificate-missing", ControlId.TLS_3)
def tls_certificate_missing(tree: ServerTree) -> Iterator[Finding]:
    ports = tls_ports(tree)
    if not ports:
        return
    for name in ("certificateFile", "privateKeyFile"):
        subject = f"openSSL.server.{name}"
        server = _tls_server(tree, subject)
        element = None if server is None else _found(_config(tree), name, subject, server)
        if element is None or not _value(_config(tree), element, subject):
            yield Finding(
                "tls-certificate-missing",
                subject,
                None,
                (server or ports[0]).origin,
                "not set while a TLS port is open",
            )


@judges(Tool.AUDIT, "masking-missing", ControlId.LOG_1)
def masking_missing(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    section = _found(values, "query_masking_rules", "query_masking_rules")
    # ClickHouse takes every child whose key starts with "rule" as a rule (rule, rule_1, rule[1]...).
    keyed = [] if section is None else known(values.keys(section), "query_masking_rules")
    if not [element for key, element in keyed if key.startswith("rule")]:
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


def profiles(tree: ServerTree) -> list[tuple[str, Element]]:
    return known(users_profiles(tree.users_values), "profiles")


def _profile_flag(
    tree: ServerTree, rule: str, setting: str, wrong: Callable[[str], bool], why: str
) -> Iterator[Finding]:
    """A finding for each profile whose `setting` is set the wrong way (on or off)."""
    values = tree.users_values
    for name, profile in profiles(tree):
        subject = f"profile {name}"
        element = _found(values, setting, subject, profile)
        if element is not None:
            text = _value(values, element, subject)
            if wrong(text):
                yield Finding(rule, subject, text, element.value_origin, why)


@judges(Tool.AUDIT, "secrets-displayed", ControlId.LEAK_2)
def secrets_displayed(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    subject = "display_secrets_in_show_and_select"
    server = _found(values, subject, subject)
    if server is not None and _is_on(_value(values, server, subject)):
        yield Finding(
            "secrets-displayed",
            subject,
            _value(values, server, subject),
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


@judges(Tool.AUDIT, "query-log-off", ControlId.LOG_3)
def query_log_off(tree: ServerTree) -> Iterator[Finding]:
    yield from _profile_flag(
        tree,
        "query-log-off",
        "log_queries",
        _is_off,
        "log_queries is off: this profile's queries leave no trace in query_log",
    )


def _locked_on(values: Values, constraint: Element | None, subject: str) -> bool:
    """A constraint that keeps a flag at 1: readonly/const, or min and max both 1."""
    if constraint is None:
        return False
    if _found(values, "readonly", subject, constraint) is not None:
        return True
    if _found(values, "const", subject, constraint) is not None:
        return True
    low = known(values.text("min", constraint), subject) or ""
    high = known(values.text("max", constraint), subject) or ""
    return low.strip() == "1" and high.strip() == "1"


@judges(Tool.AUDIT, "query-log-unlocked", ControlId.LOG_3)
def query_log_unlocked(tree: ServerTree) -> Iterator[Finding]:
    values = tree.users_values
    for name, profile in profiles(tree):
        subject = f"profile {name}"
        if not _locked_on(values, _found(values, "constraints/log_queries", subject, profile), subject):
            yield Finding(
                "query-log-unlocked",
                subject,
                None,
                profile.origin,
                "no constraint on log_queries: its users can SET log_queries = 0 and leave no trace",
            )


@judges(Tool.AUDIT, "system-log-no-ttl", ControlId.LOG_3)
def system_log_no_ttl(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    for name in SYSTEM_LOG_TABLES:
        section = _found(values, name, name)
        if section is None:
            continue  # not enabled: nothing is kept
        ttl = known(values.text("ttl", section), name)
        engine = known(values.text("engine", section), name)
        if not (ttl or "").strip() and "TTL" not in (engine or "").upper():
            yield Finding(
                "system-log-no-ttl",
                name,
                None,
                section.origin,
                "kept forever: no ttl, so query text, users and addresses pile up",
            )


@judges(Tool.AUDIT, "session-log-off", ControlId.LOG_4)
def session_log_off(tree: ServerTree) -> Iterator[Finding]:
    if _found(_config(tree), "session_log", "session_log") is None:
        yield Finding("session-log-off", "session_log", None, None, "not configured: logins leave no record")


@judges(Tool.AUDIT, "queries-unbounded", ControlId.LIMIT_1)
def queries_unbounded(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    subject = "max_concurrent_queries"
    element = _found(values, subject, subject)
    text = None if element is None else _value(values, element, subject)
    if text is None or text.strip() in ("", "0"):
        origin = element.value_origin if element is not None else None
        yield Finding("queries-unbounded", subject, text, origin, "no cap on queries running at once")


@judges(Tool.AUDIT, "cors-any-origin", ControlId.HTTP_1)
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


@judges(Tool.AUDIT, "user-files-shared", ControlId.FILES_1)
def user_files_shared(tree: ServerTree) -> Iterator[Finding]:
    values = _config(tree)
    subject = "user_files_path"
    element = _found(values, subject, subject)
    value = (_value(values, element, subject) if element is not None else "").strip() or STOCK_USER_FILES_PATH
    files = _directory(value)
    problem = "is the whole file system" if files == "/" else None
    for name in SERVER_DIRECTORIES:
        other = known(values.text(name), subject)
        if problem is None and other is not None and other.strip() and _holds(files, _directory(other)):
            problem = f"is or holds {name} ({other.strip()}): file() can read and write the server's own files"
    if problem is not None:
        origin = element.value_origin if element is not None else None
        yield Finding("user-files-shared", subject, value, origin, problem)


Rule = Callable[[ServerTree], Iterator[Finding]]
# Every rule read from the configuration tree, by id; each registers its control above. Drift
# is judged apart (hardhouse.audit.drift) because it needs the spec.
RULES: dict[str, Rule] = {
    "listen-any": listen_any,
    "plaintext-port": plaintext_port,
    "interserver-unauthenticated": interserver_unauthenticated,
    "metrics-open": metrics_open,
    "tls-old-protocol": tls_old_protocol,
    "tls-weak-cipher": tls_weak_cipher,
    "tls-certificate-missing": tls_certificate_missing,
    **USER_RULES,
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
    SOURCE_RULE: source_table_functions,
}


def judge(tree: ServerTree) -> list[Finding]:
    """Every rule's findings; a rule that meets a value it cannot decide adds an undecided
    finding of its control (after the findings it made before it)."""
    found: list[Finding] = []
    for rule_id, rule in RULES.items():
        try:
            for finding in rule(tree):
                found.append(finding)
        except Undecidable as undecidable:
            found.append(Finding.undecided_by(rule_id, undecidable.subject, undecidable.unknown))
    return found
