"""The catalog of controls hardhouse enforces and checks (catalog), their typed ids (ids), how
bad a failure is (severity), where probe rules, verify checks and audit rules declare the
control they judge (registry), waivers with a reason and an expiry (waivers), and the catalog
as the README's table and as SARIF rules (table, sarif)."""

from hardhouse.controls.catalog import BY_AUDIT_RULE, BY_ID, BY_PROBE_RULE, BY_VERIFY_CHECK, CONTROLS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

__all__ = [
    "BY_AUDIT_RULE",
    "BY_ID",
    "BY_PROBE_RULE",
    "BY_VERIFY_CHECK",
    "CONTROLS",
    "Control",
    "ControlId",
    "Severity",
]
