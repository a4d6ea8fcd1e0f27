"""What an audit reports: findings (a control that fails, the effective value and the file:line
that decides it), each control's status, and the report for one configuration tree. Plain
data: hardhouse.audit.rules judges, hardhouse.audit.output prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hardhouse.audit.values import Unknown
from hardhouse.clickhouse.xmltree import Origin, Unresolved
from hardhouse.controls.catalog import BY_ID
from hardhouse.controls.registry import Tool, registered
from hardhouse.controls.severity import Severity
from hardhouse.controls.waivers import Verdict


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    # A value the control judges cannot be decided offline: not a pass (exit 2 when nothing fails).
    UNDECIDED = "undecided"
    WAIVED = "waived"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class Finding:
    rule: str  # audit rule id (hardhouse.controls.registry: each belongs to one control)
    subject: str  # what is judged: "listen_host", "user default", "openSSL.server.cipherList"
    value: str | None  # the effective value, never a secret (None: absent, or not shown)
    origin: Origin | None  # the file:line that decides it
    problem: str  # why it fails the control, in a few words
    undecided: bool = False  # the audit could not decide the value: the control fails closed
    dialect: str | None = None  # set when only one dialect's reading of the tree finds it

    @classmethod
    def undecided_by(cls, rule: str, subject: str, unknown: Unknown) -> Finding:
        return cls(rule, subject, None, unknown.origin, f"cannot be decided offline: {unknown}", undecided=True)

    @property
    def control(self) -> str:
        """The control the rule registered against (hardhouse.controls.registry)."""
        return str(registered(Tool.AUDIT)[self.rule].control)

    @property
    def severity(self) -> Severity:
        return BY_ID[self.control].severity

    def line(self) -> str:
        """`HH-LISTEN-1 listen_host 0.0.0.0 from config.d/docker.xml:2: listens on every interface`"""
        value = "" if self.value is None else f" {self.value}"
        where = f" from {self.origin}" if self.origin else ""
        dialect = f" (by {self.dialect}'s rules)" if self.dialect else ""
        return f"{self.control} {self.subject}{value}{where}: {self.problem}{dialect}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "rule": self.rule,
            "severity": self.severity.label,
            "subject": self.subject,
            "value": self.value,
            "file": self.origin.file if self.origin else None,
            "line": self.origin.line if self.origin else None,
            "problem": self.problem,
            "undecided": self.undecided,
            **({"dialect": self.dialect} if self.dialect else {}),
        }


@dataclass
class ControlResult:
    id: str
    status: Status
    findings: list[Finding] = field(default_factory=list)
    verdict: Verdict | None = None  # the waiver that applies (live or expired), if any
    note: str = ""  # why it does not apply, or how it was judged

    def as_dict(self) -> dict[str, Any]:
        control = BY_ID[self.id]
        return {
            "id": self.id,
            "title": control.title,
            "severity": control.severity.label,
            "status": str(self.status),
            "findings": [finding.as_dict() for finding in self.findings],
            **({"waiver": self.verdict.as_dict()} if self.verdict and self.verdict.waiver else {}),
            **({"note": self.note} if self.note else {}),
        }


@dataclass
class AuditReport:
    target: str  # the configuration directory as given (or host name over SSH)
    dialect: str  # whose merge rules were applied: "18.16" or "modern"
    files: list[str]  # contributing files, in merge order (config first, then users)
    controls: list[ControlResult]
    unresolved: list[Unresolved]
    spec: str | None = None  # the spec compared against (drift mode)
    online: str | None = None  # what the running server was asked, or why it could not answer
    dialect_reason: str = ""  # why these rules: given, the spec's or server's version, or both

    @property
    def failed(self) -> list[ControlResult]:
        return [result for result in self.controls if result.status == Status.FAIL]

    @property
    def undecided(self) -> list[ControlResult]:
        return [result for result in self.controls if result.status == Status.UNDECIDED]

    @property
    def ok(self) -> bool:
        """Every applicable control holds or is waived: nothing failed and nothing undecided."""
        return not self.failed and not self.undecided

    def counts(self) -> dict[str, int]:
        return {str(status): sum(r.status == status for r in self.controls) for status in Status}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "dialect": self.dialect,
            "dialect_reason": self.dialect_reason,
            "spec": self.spec,
            "online": self.online,
            "files": self.files,
            "summary": self.counts(),
            "controls": [result.as_dict() for result in self.controls],
            "unresolved": [
                {"kind": u.kind, "name": u.name, "file": u.origin.file, "line": u.origin.line, "why": u.why}
                for u in self.unresolved
            ],
        }
