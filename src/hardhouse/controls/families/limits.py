"""Bounds a leaked credential cannot lift: quotas, profile limits users cannot SET away,
connections and concurrent queries capped."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.QUOTA_1,
        "Usage bounded by quotas",
        Severity.LOW,
        "A leaked credential that cannot read much cannot copy much; quotas bound rows and time per interval.",
        (f"{DOCS}/operations/quotas",),
        ("quotas", "users[].quota"),
        templates=("quotas",),
    ),
    Control(
        ControlId.SET_1,
        "Profile limits users cannot SET away",
        Severity.MEDIUM,
        "A limit in a profile (max_execution_time, max_memory_usage, readonly) means nothing if the "
        "user can `SET` it back to 0; a leaked credential would lift it first. Every setting a profile "
        "sets becomes a constraint (a number n: 1..n; anything else: readonly), so the server answers "
        "452. 18.16 has no constraints: only `readonly: 1` stops SET there, and it stops writes too.",
        (f"{DOCS}/operations/settings/constraints-on-settings", f"{DOCS}/operations/settings/permissions-for-queries"),
        ("profiles", "lock_profile_settings"),
        templates=("settings",),
        feature="settings_constraints",
    ),
    Control(
        ControlId.LIMIT_1,
        "Connections and queries bounded",
        Severity.LOW,
        "A leaked credential or a scanner that opens connections or runs queries in a loop can take "
        "the server from everyone else. Connections, concurrent queries (server-wide and per user) "
        "and idle keep-alive time are capped.",
        (
            f"{SERVER_SETTINGS}#max_connections",
            f"{SERVER_SETTINGS}#max_concurrent_queries",
            f"{SERVER_SETTINGS}#keep_alive_timeout",
            f"{DOCS}/operations/settings/query-complexity",
        ),
        ("server_limits",),
        templates=("limits", "settings"),
    ),
)
