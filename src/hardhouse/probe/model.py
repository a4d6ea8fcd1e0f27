"""What the probe reports: states and services, logins, what a logged-in client could read, the
TLS posture, findings and notes, and the report per endpoint and per scan. Plain data: the
scanner fills the observed fields, hardhouse.probe.rules turns them into findings and notes,
the output modules print."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from hardhouse import __version__
from hardhouse.controls.severity import Severity
from hardhouse.probe.rulebook import NOTES, RULES

if TYPE_CHECKING:
    from hardhouse.controls.ids import ControlId

CLIENT_NAME = "hardhouse-probe"


class State(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # connection refused
    FILTERED = "filtered"  # no answer in time
    UNREACHABLE = "unreachable"  # no route, no such name
    ERROR = "error"
    UNKNOWN = "unknown"


class Service(StrEnum):
    CLICKHOUSE_HTTP = "clickhouse-http"
    CLICKHOUSE_HTTPS = "clickhouse-https"
    CLICKHOUSE_NATIVE = "clickhouse-native"
    CLICKHOUSE_NATIVE_TLS = "clickhouse-native-tls"
    CLICKHOUSE_INTERSERVER = "clickhouse-interserver"
    CLICKHOUSE_INTERSERVER_TLS = "clickhouse-interserver-tls"
    CLICKHOUSE_METRICS = "clickhouse-metrics"
    CLICKHOUSE_MYSQL = "clickhouse-mysql"
    CLICKHOUSE_KEEPER = "clickhouse-keeper"
    ZOOKEEPER = "zookeeper"
    HTTP = "http"
    HTTPS = "https"
    MYSQL = "mysql"
    POSTGRESQL = "postgresql"
    TLS = "tls"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Finding:
    """A control failing at an endpoint, as one probe rule saw it. Its control is the one the
    rule is registered for, and its severity is that control's (hardhouse.controls.catalog)."""

    rule: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    waiver: dict[str, Any] | None = None  # the waiver that covers its control here (hardhouse.controls.waivers)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"no probe rule {self.rule!r}")

    @property
    def waived(self) -> bool:
        """A live waiver covers it: reported, but it does not fail the scan."""
        return self.waiver is not None and not self.waiver["expired"]

    @classmethod
    def of(cls, rule: str, message: str, **data: Any) -> Finding:
        return cls(rule, message, data)

    @property
    def control(self) -> ControlId:
        """The catalog control this finding's rule checks."""
        return RULES[self.rule].control

    @property
    def severity(self) -> Severity:
        """Its control's severity: a rule has none of its own."""
        return RULES[self.rule].severity

    def as_dict(self) -> dict[str, Any]:
        return {
            "control": str(self.control),
            "rule": self.rule,
            "severity": self.severity.label,
            "message": self.message,
            **({"data": self.data} if self.data else {}),
            **({"waived": self.waived, "waiver": self.waiver} if self.waiver else {}),
        }


@dataclass(frozen=True)
class Note:
    """Something seen at an endpoint that fails no control (hardhouse.probe.rulebook.NOTES says
    what each can be): reported with the endpoint, never ranked, never failing a scan."""

    id: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.id not in NOTES:
            raise ValueError(f"no probe note {self.id!r}")

    @classmethod
    def of(cls, id: str, message: str, **data: Any) -> Note:
        return cls(id, message, data)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "message": self.message, **({"data": self.data} if self.data else {})}


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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # The only passwords the probe sends are the public defaults; say which kind, never the value.
        data["password"] = None if self.password is None else (self.password and "(default list)") or "(empty)"
        data["who"] = self.who
        return data


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
    """What a logged-in attacker could read: names and counts only, never a row."""

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


@dataclass(frozen=True)
class RuleCount:
    column: str
    rule: str
    rows: int  # rows whose column matches the rule


@dataclass
class CountedTable:
    """One readable table's secret-shaped rows, counted by the server: numbers, never a value."""

    database: str
    table: str
    status: str  # hardhouse.scan.report.Status: secrets, clean, incomplete
    rows_examined: int | None = None
    total_rows: int | None = None
    sample: str | None = None
    matches: list[RuleCount] = field(default_factory=list)
    reason: str | None = None  # why incomplete

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.table}"

    def by_rule(self) -> dict[str, int]:
        """rule -> the most rows it matched in one column (a row may match in several)."""
        rules: dict[str, int] = {}
        for match in self.matches:
            rules[match.rule] = max(rules.get(match.rule, 0), match.rows)
        return rules


@dataclass
class SecretCount:
    """--count-secrets: how an anonymous or default login's session was made read-only and
    bounded, and per readable table the rows matching each secret shape (hardhouse.probe.weigh)."""

    via: str  # "http as no credentials" ...
    read_only: str = ""
    max_rows: int = 0
    max_seconds: float = 0.0
    tables: list[CountedTable] = field(default_factory=list)
    not_counted: int = 0  # tables with text left uncounted by --count-max-tables or the time budget
    skipped: int = 0  # tables holding no rows of their own or no text column
    error: str | None = None  # nothing could be counted, and why

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecretCount:
        tables = [
            CountedTable(**{**table, "matches": [RuleCount(**match) for match in table.get("matches", [])]})
            for table in data.get("tables", [])
        ]
        return cls(**{**{k: v for k, v in data.items() if k in cls.__dataclass_fields__}, "tables": tables})


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
    scanner: str  # "sslyze"
    accepted_versions: list[str] = field(default_factory=list)
    accepted_suites: dict[str, list[str]] = field(default_factory=dict)
    weak_suites: list[str] = field(default_factory=list)
    certificate: CertificateInfo | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TlsPosture:
        certificate = data.get("certificate")
        return cls(
            scanner=str(data.get("scanner", "sslyze")),
            accepted_versions=list(data.get("accepted_versions", [])),
            accepted_suites=dict(data.get("accepted_suites", {})),
            weak_suites=list(data.get("weak_suites", [])),
            certificate=CertificateInfo(**certificate) if certificate else None,
            error=data.get("error"),
        )


@dataclass
class ZooKeeperInfo:
    """What an anonymous client learns from a ZooKeeper or Keeper: child counts and world ACLs
    of ClickHouse's znodes (never their data), and the four-letter words that answer."""

    keeper: bool = False  # ClickHouse Keeper rather than Apache ZooKeeper
    version: str | None = None  # the first line of srvr (escaped excerpt)
    readable: dict[str, int] = field(default_factory=dict)  # path -> children listed anonymously
    refused: dict[str, str] = field(default_factory=dict)  # path -> why listing was refused
    world: dict[str, list[str]] = field(default_factory=dict)  # path -> what world:anyone may do
    words: list[str] = field(default_factory=list)  # four-letter words answered with data
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ZooKeeperInfo:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class EndpointReport:
    """One (host, port): what was observed there, then the findings judged from it."""

    host: str
    port: int
    source: str | None = None  # the target argument or file this endpoint came from
    state: State = State.UNKNOWN
    service: Service | None = None
    clickhouse: bool = False
    tls: bool = False
    version: str | None = None
    display_name: str | None = None
    banner: str | None = None
    logins: list[LoginResult] = field(default_factory=list)
    inventory: DataInventory | None = None
    tls_posture: TlsPosture | None = None
    zookeeper: ZooKeeperInfo | None = None
    secret_count: SecretCount | None = None  # only with --count-secrets
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)  # what was seen that fails no control
    error: str | None = None
    elapsed: float = 0.0
    # Observed facts the rules read (not printed on their own).
    interserver: bool = False  # the interserver endpoint answered
    interserver_status: int | None = None  # HTTP status of a part request sent without credentials
    metrics: bool = False  # Prometheus metrics answered without credentials
    mysql_greeting: str | None = None
    web_ui: list[str] = field(default_factory=list)  # built-in web pages served (/play, ...)

    def __post_init__(self) -> None:
        self.state = State(self.state)
        if self.service is not None:
            self.service = Service(self.service)

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
        return any(f.severity >= threshold and not f.waived for f in self.findings)

    def sort_key(self) -> tuple[int, int, str, int]:
        state_rank = {State.OPEN: 0, State.ERROR: 1, State.UNREACHABLE: 2, State.FILTERED: 3, State.CLOSED: 4}.get(
            self.state, 5
        )
        severity = -1 if self.severity is None else int(self.severity)
        return (-severity, state_rank, self.host, self.port)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for internal in ("interserver", "interserver_status", "metrics", "mysql_greeting", "web_ui"):
            data.pop(internal)
        data["state"] = str(self.state)
        data["service"] = None if self.service is None else str(self.service)
        data["address"] = self.address
        data["severity"] = self.severity.label if self.severity is not None else None
        data["findings"] = [f.as_dict() for f in self.findings]
        data["notes"] = [note.as_dict() for note in self.notes]
        data["logins"] = [login.as_dict() for login in self.logins]
        if self.inventory is not None:
            data["inventory"]["total_rows"] = self.inventory.total_rows
            for table, info in zip(data["inventory"]["tables"], self.inventory.tables, strict=True):
                table["sensitive"] = info.sensitive
        data["elapsed"] = round(self.elapsed, 4)
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
            counts[str(endpoint.state)] = counts.get(str(endpoint.state), 0) + 1
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
