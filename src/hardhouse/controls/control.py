"""What a control is: a stable, typed id (hardhouse.controls.ids), a title, its severity (the only
one: a probe, audit or verify finding is as severe as its control), why it matters, references,
the spec fields that implement it, the templates that render it, and the version feature it
needs. The family modules (hardhouse.controls.families) declare each control once with this;
the rules and checks that judge it register against its id (hardhouse.controls.registry)."""

from __future__ import annotations

from dataclasses import dataclass

from hardhouse.clickhouse import versions
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

# Links the controls' references share.
DOCS = "https://clickhouse.com/docs"
SERVER_SETTINGS = f"{DOCS}/operations/server-configuration-parameters/settings"
INCIDENT = "The incident behind hardhouse: a ClickHouse open on 8123/9000 without a password leaked log_stream"


@dataclass(frozen=True)
class Control:
    id: ControlId
    title: str
    severity: Severity
    rationale: str
    references: tuple[str, ...]
    spec_fields: tuple[str, ...]  # dotted paths in the hardening spec ("users[].networks")
    templates: tuple[str, ...] = ()  # render concerns (templates/<concern>.xml.j2) that implement it
    feature: str | None = None  # the versions.FEATURES entry it needs (None: every version)

    def applies_to(self, version: versions.Version | None) -> bool:
        """True when the control means something on this version (unknown version: it applies)."""
        return version is None or self.feature is None or versions.has(version, self.feature)

    @property
    def since(self) -> str | None:
        return None if self.feature is None else str(versions.FEATURES[self.feature].since)

    @property
    def sarif_name(self) -> str:
        return "".join(word.capitalize() for word in self.title.replace("-", " ").split()[:6])
