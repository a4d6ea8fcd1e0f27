"""What a scan found, judged: per table the rows examined and, per column and rule, the rows that
match (counts only: the report has no field a value could be put in), or why the table's
verdict is undecided. Registered as the scan's judge of HH-DATA-4."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, register
from hardhouse.controls.waivers import Waiver, judge

SECRETS_AT_REST = register(Tool.SCAN, "secrets-at-rest", ControlId.DATA_4)
CONTROL = str(ControlId.DATA_4)


class Status(StrEnum):
    CLEAN = "clean"  # every text column of the rows examined was asked; none matched
    SECRETS = "secrets"  # some rows match a rule
    INCOMPLETE = "incomplete"  # not scanned, or not completely: the verdict is undecided
    SKIPPED = "skipped"  # no rows of its own here (a view, a Null or Distributed table, an external engine)


@dataclass(frozen=True)
class Match:
    column: str
    rule: str
    rows: int


@dataclass
class TableResult:
    database: str
    table: str
    engine: str = ""
    examined: int | None = None  # rows the count query saw
    max_rows: int = 0
    total_rows: int | None = None  # from system.parts, where the table has parts
    sample: str | None = None  # SAMPLE fraction used
    columns: list[str] = field(default_factory=list)  # text columns asked
    rules: list[str] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)  # only counts above zero
    unscanned: list[tuple[str, str]] = field(default_factory=list)  # (column, why)
    reason: str = ""  # why incomplete or skipped
    incomplete: bool = False
    skipped: bool = False
    seconds: float = 0.0
    waiver: dict[str, object] | None = None

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}"

    @property
    def status(self) -> Status:
        if self.matches:
            return Status.SECRETS
        if self.incomplete or self.unscanned:
            return Status.INCOMPLETE
        if self.skipped:
            return Status.SKIPPED
        return Status.CLEAN

    @property
    def bounded(self) -> bool:
        """The row bound or a sample limited what was examined (by design, not a failure)."""
        return self.sample is not None or (self.examined is not None and self.examined >= self.max_rows)

    @property
    def failed(self) -> bool:
        return self.status in (Status.SECRETS, Status.INCOMPLETE)

    @property
    def waived(self) -> bool:
        return bool(self.waiver and not self.waiver.get("expired"))

    @property
    def matching_rows(self) -> int:
        return sum(match.rows for match in self.matches)


@dataclass
class ScanReport:
    endpoint: str
    user: str
    session: str  # how the scan is read-only and bounded in time on this session
    max_rows: int
    max_seconds: float
    server_version: str = ""
    tables: list[TableResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def count(self, status: Status) -> int:
        return sum(table.status == status for table in self.tables)

    @property
    def failed(self) -> bool:
        """Secrets found, or a table not scanned completely, that no live waiver covers."""
        return any(table.failed and not table.waived for table in self.tables)

    def apply_waivers(self, waivers: list[Waiver], today: dt.date | None = None) -> None:
        """A waiver of HH-DATA-4 covers a table named in its targets as db.table (or the host,
        host:port), or every table when it has no targets."""
        host = self.endpoint.rpartition(":")[0]
        for table in self.tables:
            if not table.failed:
                continue
            verdict = judge(waivers, CONTROL, (table.name, host, self.endpoint), today)
            table.waiver = verdict.as_dict()
