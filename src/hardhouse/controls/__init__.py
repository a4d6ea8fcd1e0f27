"""The controls hardhouse enforces and checks: each declared once in its family module
(families), gathered in order by the catalog (catalog), with typed ids (ids), how bad a failure
is (severity), where probe rules, verify checks and audit rules declare the control they judge
(registry) and the index read from it (index), waivers with a reason and an expiry (waivers),
and the catalog as the README's table and as SARIF rules (table, sarif)."""

from hardhouse.controls.catalog import BY_ID, CONTROLS
from hardhouse.controls.control import Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

__all__ = [
    "BY_ID",
    "CONTROLS",
    "Control",
    "ControlId",
    "Severity",
]
