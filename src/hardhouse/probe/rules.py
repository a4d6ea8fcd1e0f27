"""Judgement: `judge` turns what was observed at one endpoint into findings and notes, by the
rules and notes hardhouse.probe.rulebook declares. Pure: no I/O, the same observation always
gives the same judgement (the scanner observes; the output modules print)."""

from __future__ import annotations

from typing import NamedTuple

from hardhouse.clickhouse import codes
from hardhouse.clickhouse.tls import OLD_LABELS
from hardhouse.probe.model import (
    CountedTable,
    EndpointReport,
    Finding,
    Note,
    SecretCount,
    Service,
    TlsPosture,
    ZooKeeperInfo,
)
from hardhouse.probe.wire.zookeeper import WORD_LEAKS
from hardhouse.probe.zookeeper import CLICKHOUSE_PATHS, INFORMATIONAL_WORDS, ROOT, world_writable
from hardhouse.secret_shapes import BUILTIN_RULES

LOGIN_SERVICES = frozenset(
    {Service.CLICKHOUSE_HTTP, Service.CLICKHOUSE_HTTPS, Service.CLICKHOUSE_NATIVE, Service.CLICKHOUSE_NATIVE_TLS}
)


class Judgement(NamedTuple):
    findings: list[Finding]  # most severe first
    notes: list[Note]


def judge(report: EndpointReport, ca_given: bool = False) -> Judgement:
    """Every finding the observations at one endpoint support (most severe first), and the notes."""
    said: list[Finding | Note] = []
    if report.interserver:
        said.append(_interserver(report.interserver_status))
    if report.zookeeper is not None:
        said.extend(zookeeper_judgement(report.zookeeper))
    if report.metrics:
        said.append(
            Finding.of("metrics-readable", "GET /metrics answers ClickHouse's Prometheus metrics without credentials")
        )
    if report.service == Service.CLICKHOUSE_MYSQL and report.mysql_greeting:
        said.append(
            Finding.of(
                "version-disclosure",
                f"the MySQL greeting names the server version {report.mysql_greeting}",
                version=report.mysql_greeting,
            )
        )
        if not report.tls:
            said.append(Finding.of("plaintext-port", "ClickHouse's MySQL interface takes passwords over plaintext"))
    if report.web_ui:
        pages = ", ".join(report.web_ui)
        said.append(Finding.of("web-ui-served", f"serves its built-in web pages to anyone: {pages}", pages=pages))
    if report.service in LOGIN_SERVICES:
        said.extend(_login_judgement(report))
        if report.tls_posture is not None:
            said.extend(tls_judgement(report.tls_posture, ca_given))
    findings = [item for item in said if isinstance(item, Finding)]
    return Judgement(sorted(findings, key=lambda f: -f.severity), [item for item in said if isinstance(item, Note)])


def _interserver(status: int | None) -> Finding | Note:
    if status == 401:
        return Note.of(
            "interserver-asks-credentials",
            "the interserver port answers and asks for credentials (HTTP 401 to a part request without them)",
            status=status,
        )
    if status is not None:
        return Finding.of(
            "interserver-unauthenticated",
            f"serves without credentials: a request for a part no table has, sent without "
            f"credentials, was answered HTTP {status}, not 401; anyone can fetch table parts here",
            status=status,
        )
    return Finding.of(
        "interserver-reachable",
        "the interserver HTTP port answers, but a part request sent without credentials got no answer, so "
        "nothing shows that it asks for them; without interserver credentials anyone can fetch table parts",
    )


def zookeeper_judgement(info: ZooKeeperInfo) -> list[Finding | Note]:
    what = "ClickHouse Keeper" if info.keeper else "ZooKeeper"
    root = info.readable.get(ROOT)
    said: list[Finding | Note] = [
        Note.of(
            "zookeeper-answers",
            f"{what} answers an anonymous session" + ("" if root is None else f"; / lists {root} children"),
            **({"version": info.version} if info.version else {}),
        )
    ]
    # World-writable first: of two findings of one control, the worse one leads.
    for path, granted in world_writable(info).items():
        said.append(
            Finding.of(
                "zookeeper-znodes-writable",
                f"the ACL of {path} grants world:anyone {', '.join(granted)}: "
                "anyone can create or change ClickHouse's znodes there (read by getACL; nothing was written)",
                path=path,
                permissions=granted,
            )
        )
    for path in CLICKHOUSE_PATHS:
        if path in info.readable:
            count = info.readable[path]
            said.append(
                Finding.of(
                    "zookeeper-znodes-readable",
                    f"{path} lists {count} children to an anonymous session",
                    path=path,
                    children=count,
                )
            )
    leaking = [word for word in info.words if word not in INFORMATIONAL_WORDS]
    if leaking:
        told = "; ".join(f"{word}: {WORD_LEAKS[word]}" for word in leaking if word in WORD_LEAKS)
        said.append(Finding.of("zookeeper-four-letter-words", f"answers {', '.join(leaking)} ({told})", words=leaking))
    return said


def _login_judgement(report: EndpointReport) -> list[Finding | Note]:
    said: list[Finding | Note] = []
    accepted = report.accepted_logins
    where = f"over {'TLS' if report.tls else 'plaintext'} {report.service}"
    for login in accepted:
        rule = "anonymous-access" if login.anonymous else "default-credentials"
        said.append(Finding.of(rule, f"{login.who} can run queries {where}", user=login.user, protocol=login.protocol))
    for login in report.logins:
        limited = None if login.accepted else codes.session_limit_only(login.code)
        if limited is not None:
            rule = "anonymous-access" if login.anonymous else "default-credentials"
            said.append(Finding.of(rule, f"{login.who} {where}: {limited}", user=login.user, protocol=login.protocol))
    if accepted and report.inventory is not None:
        for table in report.inventory.sensitive_tables:
            why = [f"name ({table.sensitive_reason})"] if table.sensitive_reason else []
            if table.sensitive_columns:
                why.append("columns " + ", ".join(table.sensitive_columns))
            rows = "unknown" if table.rows is None else f"{table.rows}"
            said.append(
                Finding.of(
                    "sensitive-data-readable",
                    f"{table.qualified} ({rows} rows) is readable; flagged by {'; '.join(why)}",
                    table=table.qualified,
                    rows=table.rows,
                    columns=table.sensitive_columns,
                )
            )
    if accepted and report.secret_count is not None:
        said.extend(secret_count_judgement(report.secret_count))
    if not accepted:
        leaked = next((login.leaked_version for login in report.logins if login.leaked_version), None)
        if leaked:
            said.append(
                Finding.of(
                    "version-disclosure", f"a refused login still names the server version ({leaked})", version=leaked
                )
            )
    if any(login.stack_trace for login in report.logins):
        said.append(
            Finding.of(
                "stack-trace-disclosure",
                "refused logins answer with the server's stack trace (binary paths and addresses)",
            )
        )
    if report.display_name and not accepted:
        said.append(
            Note.of(
                "display-name",
                f"the server names itself {report.display_name!r} to clients that did not log in",
                display_name=report.display_name,
            )
        )
    if not report.tls:
        said.append(Finding.of("plaintext-port", f"{report.service} takes passwords and data over plaintext"))
    return said


def tls_judgement(posture: TlsPosture, ca_given: bool = False) -> list[Finding | Note]:
    """The TLS scan judged: versions, suites and the certificate. Whether the chain validates is
    a finding only against a CA the operator named (--ca); against this machine's trust store it
    says nothing about the clients, so it is a note."""
    said: list[Finding | Note] = []
    old = [v for v in posture.accepted_versions if v in OLD_LABELS]
    if old:
        said.append(Finding.of("tls-old-protocol", f"accepts {', '.join(old)}", versions=old))
    if posture.weak_suites:
        shown = ", ".join(posture.weak_suites[:3]) + (
            f" and {len(posture.weak_suites) - 3} more" if len(posture.weak_suites) > 3 else ""
        )
        said.append(Finding.of("tls-weak-cipher", f"accepts weak suites: {shown}", suites=posture.weak_suites))
    certificate = posture.certificate
    if certificate is not None:
        if certificate.expired:
            said.append(
                Finding.of("tls-certificate-expired", f"certificate not valid now (not after {certificate.not_after})")
            )
        if certificate.self_signed:
            said.append(
                Finding.of("tls-certificate-self-signed", f"certificate is self-signed ({certificate.subject})")
            )
        elif certificate.trusted is False:
            message = f"certificate chain does not validate: {certificate.trust_detail}"
            said.append(
                Finding.of("tls-certificate-untrusted", message + " (against --ca)")
                if ca_given
                else Note.of("certificate-not-validated", message + " (against this machine's trust store; no --ca)")
            )
        elif certificate.strict_failure:
            said.append(
                Finding.of(
                    "tls-certificate-untrusted",
                    f"OpenSSL accepts the chain, strict RFC 5280 validation does not: {certificate.strict_failure}",
                )
            )
        if certificate.hostname_match is False:
            said.append(
                Finding.of(
                    "tls-certificate-hostname", f"certificate ({certificate.subject}) does not name this address"
                )
            )
    return said


# What each built-in rule finds, in the fewest words: "API keys", "GitHub tokens", "passwords in URLs".
HEADLINE_SHAPES = 3  # shapes named in a finding's headline; its parentheses count every rule
SHAPES = {rule.name: rule.label or rule.name for rule in BUILTIN_RULES}


def weight(table: CountedTable) -> str:
    """'logs.log_stream: 1,000 rows with API keys (api_key 1,000 of 1,000 rows examined)'. A rule
    matching in several columns is told per column; its headline is the largest (at least)."""
    headline, detail = [], []
    by_rule = table.by_rule()
    for rule, rows in sorted(by_rule.items(), key=lambda item: -item[1]):
        columns = [match for match in table.matches if match.rule == rule]
        least = "at least " if len(columns) > 1 else ""
        headline.append(f"{least}{_rows(rows)} with {SHAPES.get(rule, rule)}")
        if len(columns) == 1:
            detail.append(f"{rule} {rows:,}")
        else:
            detail.append(f"{rule} " + ", ".join(f"{match.rows:,} in {match.column}" for match in columns))
    if len(headline) > HEADLINE_SHAPES:
        headline[HEADLINE_SHAPES:] = [f"rows with {len(headline) - HEADLINE_SHAPES} more shapes"]
    examined = table.rows_examined or 0
    stored = ""
    if table.total_rows is not None and table.total_rows > examined:
        stored = f", {'a SAMPLE' if table.sample else 'the first'} of {_rows(table.total_rows)} stored"
    return f"{table.qualified}: {', '.join(headline)} ({'; '.join(detail)} of {_rows(examined)} examined{stored})"


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def secret_count_judgement(found: SecretCount) -> list[Finding | Note]:
    """A finding per table with secret-shaped rows (its counts per column and rule in the data),
    and a note of what the count covered."""
    said: list[Finding | Note] = []
    for table in found.tables:
        if table.matches:
            said.append(
                Finding.of(
                    "secret-rows-readable",
                    weight(table),
                    table=table.qualified,
                    via=found.via,
                    rows_examined=table.rows_examined,
                    total_rows=table.total_rows,
                    sample=table.sample,
                    rules=table.by_rule(),
                    matches=[{"column": m.column, "rule": m.rule, "rows": m.rows} for m in table.matches],
                )
            )
    if found.error:
        said.append(Note.of("secret-count", f"secret-shaped rows not counted ({found.via}): {found.error}"))
        return said
    undecided = [table for table in found.tables if table.status == "incomplete"]
    parts = [
        f"{len(found.tables)} tables weighed {found.via} (at most {found.max_rows:,} rows and "
        f"{found.max_seconds:g} s each): {sum(bool(t.matches) for t in found.tables)} with secret-shaped rows, "
        f"{sum(t.status == 'clean' for t in found.tables)} clean, {len(undecided)} undecided"
    ]
    parts += [f"{table.qualified} undecided: {table.reason}" for table in undecided[:5]]
    if found.not_counted:
        parts.append(f"{found.not_counted} more not counted (--count-max-tables or --count-seconds)")
    if found.skipped:
        parts.append(f"{found.skipped} skipped (no rows of their own, or no text column)")
    said.append(
        Note.of(
            "secret-count",
            "; ".join(parts),
            read_only=found.read_only,
            counted=len(found.tables),
            undecided=len(undecided),
            not_counted=found.not_counted,
        )
    )
    return said
