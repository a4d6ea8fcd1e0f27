"""How bad a failed control or a finding is, and how SARIF says it. Shared by the probe, the
audit and the catalog, so every report ranks the same way."""

from __future__ import annotations

from enum import IntEnum


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

    @property
    def sarif_level(self) -> str:
        return {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning"}.get(self, "note")

    @property
    def security_severity(self) -> str:
        """GitHub code scanning's 0-10 score, as a string."""
        return {
            Severity.CRITICAL: "9.8",
            Severity.HIGH: "8.0",
            Severity.MEDIUM: "5.5",
            Severity.LOW: "3.0",
            Severity.INFO: "0.0",
        }[self]
