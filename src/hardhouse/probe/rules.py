"""Judgement: the rules a probe finding can come from, and `judge`, which turns what was
observed at one endpoint into findings. Pure: no I/O, the same observation always gives the
same findings (the scanner observes; the output modules print)."""

from __future__ import annotations

from dataclasses import dataclass

from hardhouse.clickhouse.tls import OLD_LABELS
from hardhouse.probe.model import EndpointReport, Finding, Service, Severity, TlsPosture, ZooKeeperInfo
from hardhouse.probe.wire.zookeeper import WORD_LEAKS
from hardhouse.probe.zookeeper import CLICKHOUSE_PATHS, INFORMATIONAL_WORDS, ROOT, world_writable


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
        Rule(
            "anonymous-access",
            Severity.CRITICAL,
            "Queries answered without credentials",
            "Remove the passwordless default user or give it a password (hardhouse spec: default_user: remove).",
        ),
        Rule(
            "default-credentials",
            Severity.CRITICAL,
            "A well-known default credential logs in",
            "Give every user a strong password stored as a hash (password_sha256_hex).",
        ),
        Rule(
            "sensitive-data-readable",
            Severity.CRITICAL,
            "Tables whose names suggest secrets or personal data are readable",
            "Close anonymous access; restrict users to the databases they need.",
        ),
        Rule(
            "plaintext-port",
            Severity.MEDIUM,
            "ClickHouse accepts logins over plaintext",
            "Close the plaintext HTTP and native ports (ports.http: null, ports.native: null) and use 8443/9440.",
        ),
        Rule(
            "interserver-reachable",
            Severity.MEDIUM,
            "The interserver HTTP port is reachable",
            "Close interserver_http_port unless the server replicates; set interserver_http_credentials.",
        ),
        Rule(
            "interserver-unauthenticated",
            Severity.HIGH,
            "The interserver port serves without credentials",
            "Set interserver_http_credentials on every replica (hardhouse spec: cluster.interserver), "
            "or close the port.",
        ),
        Rule(
            "zookeeper-open",
            Severity.INFO,
            "ZooKeeper or Keeper answers an anonymous session",
            "Let only ClickHouse's nodes reach the coordination port (firewall or listen address).",
        ),
        Rule(
            "zookeeper-znodes-readable",
            Severity.HIGH,
            "ClickHouse's znodes can be listed without credentials",
            "Give ClickHouse a digest identity (hardhouse spec: cluster.zookeeper.user) so its znodes "
            "carry an ACL only the identity passes; fix the ACL of znodes made before.",
        ),
        Rule(
            "zookeeper-znodes-writable",
            Severity.CRITICAL,
            "The world may create or change ClickHouse's znodes",
            "Give ClickHouse a digest identity (hardhouse spec: cluster.zookeeper.user) and setAcl "
            "the existing znodes to that digest only.",
        ),
        Rule(
            "zookeeper-four-letter-words",
            Severity.MEDIUM,
            "Four-letter words that leak clients, paths or configuration answer",
            "Allow only ruok: 4lw.commands.whitelist=ruok (Keeper: four_letter_word_white_list).",
        ),
        Rule(
            "web-ui-served",
            Severity.LOW,
            "Built-in web pages (SQL console, dashboard) are served",
            "Serve only the query handler and /ping: http_handlers without <defaults/> (hardhouse spec: http.web_ui).",
        ),
        Rule(
            "metrics-readable",
            Severity.LOW,
            "Prometheus metrics are readable without credentials",
            "Bind the metrics endpoint to a management network only.",
        ),
        Rule(
            "tls-old-protocol",
            Severity.MEDIUM,
            "TLS endpoint accepts a protocol older than TLS 1.2",
            "Disable sslv2, sslv3, tlsv1 and tlsv1_1 (tls.min_protocol: tlsv1_2).",
        ),
        Rule(
            "tls-weak-cipher",
            Severity.MEDIUM,
            "TLS endpoint accepts cipher suites without forward secrecy or AEAD",
            "Allow ECDHE/DHE suites with GCM or ChaCha20-Poly1305 only.",
        ),
        Rule(
            "tls-certificate-expired",
            Severity.MEDIUM,
            "The server certificate has expired or is not valid yet",
            "Renew the certificate.",
        ),
        Rule(
            "tls-certificate-untrusted",
            Severity.LOW,
            "The certificate chain does not validate",
            "Use a certificate from a CA the clients trust; pass --ca to validate against a private CA.",
        ),
        Rule(
            "tls-certificate-self-signed",
            Severity.LOW,
            "The server certificate is self-signed",
            "Sign the server certificate with a CA instead.",
        ),
        Rule(
            "tls-certificate-hostname",
            Severity.LOW,
            "The certificate does not name the address it is served on",
            "Put the server's DNS names and addresses in subjectAltName.",
        ),
        Rule(
            "version-disclosure",
            Severity.LOW,
            "The server version is told to clients that did not log in",
            "Upgrade; modern servers still say their version in errors, so keep the ports private.",
        ),
        Rule(
            "stack-trace-disclosure",
            Severity.LOW,
            "Server stack traces are sent to clients that did not log in",
            "Set calculate_text_stack_trace to 0 for the default profile.",
        ),
        Rule(
            "hostname-disclosure",
            Severity.INFO,
            "The server's host name is sent to clients that did not log in",
            "Set display_name to a neutral value.",
        ),
    )
}

LOGIN_SERVICES = frozenset(
    {Service.CLICKHOUSE_HTTP, Service.CLICKHOUSE_HTTPS, Service.CLICKHOUSE_NATIVE, Service.CLICKHOUSE_NATIVE_TLS}
)


def judge(report: EndpointReport, ca_given: bool = False) -> list[Finding]:
    """Every finding the observations at one endpoint support, most severe first."""
    findings: list[Finding] = []
    if report.interserver:
        findings.extend(_interserver_findings(report.interserver_status))
    if report.zookeeper is not None:
        findings.extend(zookeeper_findings(report.zookeeper))
    if report.metrics:
        findings.append(
            Finding.of("metrics-readable", "GET /metrics answers ClickHouse's Prometheus metrics without credentials")
        )
    if report.service == Service.CLICKHOUSE_MYSQL and report.mysql_greeting:
        findings.append(
            Finding.of(
                "version-disclosure",
                f"the MySQL greeting names the server version {report.mysql_greeting}",
                version=report.mysql_greeting,
            )
        )
        if not report.tls:
            findings.append(Finding.of("plaintext-port", "ClickHouse's MySQL interface takes passwords over plaintext"))
    if report.web_ui:
        pages = ", ".join(report.web_ui)
        findings.append(Finding.of("web-ui-served", f"serves its built-in web pages to anyone: {pages}", pages=pages))
    if report.service in LOGIN_SERVICES:
        findings.extend(_login_findings(report))
        if report.tls_posture is not None:
            findings.extend(tls_findings(report.tls_posture, ca_given))
    return sorted(findings, key=lambda f: -f.severity)


def _interserver_findings(status: int | None) -> list[Finding]:
    if status == 401:
        return [
            Finding.of(
                "interserver-reachable",
                "the interserver port answers and asks for credentials (HTTP 401 to a part request without them)",
                Severity.LOW,
                status=status,
            )
        ]
    if status is not None:
        return [
            Finding.of(
                "interserver-unauthenticated",
                f"serves without credentials: a request for a part no table has, sent without "
                f"credentials, was answered HTTP {status}, not 401; anyone can fetch table parts here",
                status=status,
            )
        ]
    return [
        Finding.of(
            "interserver-reachable",
            "the interserver HTTP port answers; without interserver credentials anyone can fetch table parts from it",
        )
    ]


def zookeeper_findings(info: ZooKeeperInfo) -> list[Finding]:
    what = "ClickHouse Keeper" if info.keeper else "ZooKeeper"
    root = info.readable.get(ROOT)
    findings = [
        Finding.of(
            "zookeeper-open",
            f"{what} answers an anonymous session" + ("" if root is None else f"; / lists {root} children"),
            **({"version": info.version} if info.version else {}),
        )
    ]
    for path in CLICKHOUSE_PATHS:
        if path in info.readable:
            count = info.readable[path]
            findings.append(
                Finding.of(
                    "zookeeper-znodes-readable",
                    f"{path} lists {count} children to an anonymous session",
                    path=path,
                    children=count,
                )
            )
    for path, granted in world_writable(info).items():
        findings.append(
            Finding.of(
                "zookeeper-znodes-writable",
                f"the ACL of {path} grants world:anyone {', '.join(granted)}: "
                "anyone can create or change ClickHouse's znodes there (read by getACL; nothing was written)",
                path=path,
                permissions=granted,
            )
        )
    leaking = [word for word in info.words if word not in INFORMATIONAL_WORDS]
    if leaking:
        told = "; ".join(f"{word}: {WORD_LEAKS[word]}" for word in leaking if word in WORD_LEAKS)
        findings.append(
            Finding.of("zookeeper-four-letter-words", f"answers {', '.join(leaking)} ({told})", words=leaking)
        )
    return findings


def _login_findings(report: EndpointReport) -> list[Finding]:
    findings = []
    accepted = report.accepted_logins
    where = f"over {'TLS' if report.tls else 'plaintext'} {report.service}"
    for login in accepted:
        rule = "anonymous-access" if login.anonymous else "default-credentials"
        findings.append(
            Finding.of(rule, f"{login.who} can run queries {where}", user=login.user, protocol=login.protocol)
        )
    if accepted and report.inventory is not None:
        for table in report.inventory.sensitive_tables:
            why = [f"name ({table.sensitive_reason})"] if table.sensitive_reason else []
            if table.sensitive_columns:
                why.append("columns " + ", ".join(table.sensitive_columns))
            rows = "unknown" if table.rows is None else f"{table.rows}"
            findings.append(
                Finding.of(
                    "sensitive-data-readable",
                    f"{table.qualified} ({rows} rows) is readable; flagged by {'; '.join(why)}",
                    table=table.qualified,
                    rows=table.rows,
                    columns=table.sensitive_columns,
                )
            )
    if not accepted:
        leaked = next((login.leaked_version for login in report.logins if login.leaked_version), None)
        if leaked:
            findings.append(
                Finding.of(
                    "version-disclosure", f"a refused login still names the server version ({leaked})", version=leaked
                )
            )
    if any(login.stack_trace for login in report.logins):
        findings.append(
            Finding.of(
                "stack-trace-disclosure",
                "refused logins answer with the server's stack trace (binary paths and addresses)",
            )
        )
    if report.display_name and not accepted:
        findings.append(
            Finding.of(
                "hostname-disclosure",
                f"the server names itself {report.display_name!r} to clients that did not log in",
                display_name=report.display_name,
            )
        )
    if not report.tls:
        findings.append(Finding.of("plaintext-port", f"{report.service} takes passwords and data over plaintext"))
    return findings


def tls_findings(posture: TlsPosture, ca_given: bool = False) -> list[Finding]:
    findings = []
    old = [v for v in posture.accepted_versions if v in OLD_LABELS]
    if old:
        severity = Severity.HIGH if any(v.startswith("SSL") for v in old) else None
        findings.append(Finding.of("tls-old-protocol", f"accepts {', '.join(old)}", severity, versions=old))
    if posture.weak_suites:
        shown = ", ".join(posture.weak_suites[:3]) + (
            f" and {len(posture.weak_suites) - 3} more" if len(posture.weak_suites) > 3 else ""
        )
        findings.append(Finding.of("tls-weak-cipher", f"accepts weak suites: {shown}", suites=posture.weak_suites))
    certificate = posture.certificate
    if certificate is not None:
        if certificate.expired:
            findings.append(
                Finding.of("tls-certificate-expired", f"certificate not valid now (not after {certificate.not_after})")
            )
        if certificate.self_signed:
            findings.append(
                Finding.of("tls-certificate-self-signed", f"certificate is self-signed ({certificate.subject})")
            )
        elif certificate.trusted is False:
            severity = Severity.MEDIUM if ca_given else Severity.INFO
            findings.append(
                Finding.of(
                    "tls-certificate-untrusted",
                    f"certificate chain does not validate: {certificate.trust_detail}",
                    severity,
                )
            )
        elif certificate.strict_failure:
            findings.append(
                Finding.of(
                    "tls-certificate-untrusted",
                    f"OpenSSL accepts the chain, strict RFC 5280 validation does not: {certificate.strict_failure}",
                    Severity.LOW,
                )
            )
        if certificate.hostname_match is False:
            findings.append(
                Finding.of(
                    "tls-certificate-hostname", f"certificate ({certificate.subject}) does not name this address"
                )
            )
    return findings
