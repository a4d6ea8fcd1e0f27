"""The render plan for settings locks, the server's own logs, secrets in SHOW and server limits
(issue 12 items 1, 2, 6, 7): (subdir, concern, context) entries that hardhouse.render.build
renders like every other concern. The decisions live in hardhouse.spec.settings."""

from __future__ import annotations

from typing import Any

from hardhouse.spec.model import HardeningSpec
from hardhouse.spec.settings import (
    SYSTEM_LOG_TABLES,
    profile_locks,
    session_log_on,
    shows_no_secrets,
    system_log_retention,
)


def _value(value: Any) -> Any:
    # ClickHouse settings take 1/0 for booleans on every version.
    return int(value) if isinstance(value, bool) else value


def depth_plan(spec: HardeningSpec) -> list[tuple[str, str, dict[str, Any]]]:
    plan: list[tuple[str, str, dict[str, Any]]] = [("config.d", "limits", {"limits": spec.server_limits})]
    retention = system_log_retention(spec)
    tables = [name for name in SYSTEM_LOG_TABLES if name != "session_log" or session_log_on(spec)]
    if retention is None:
        tables = ["session_log"] if session_log_on(spec) else []
    if tables:
        plan.append(("config.d", "system_logs", {"retention_days": retention, "tables": [{"name": t} for t in tables]}))
    if shows_no_secrets(spec):
        plan.append(("config.d", "show_secrets", {}))
    profiles = {
        name: {
            "settings": {k: _value(v) for k, v in lock.settings.items()},
            "constraints": {k: {n: _value(v) for n, v in c.items()} for k, c in lock.constraints.items()},
        }
        for name, lock in profile_locks(spec).items()
    }
    if profiles:
        plan.append(("users.d", "settings", {"profiles": profiles}))
    return plan
