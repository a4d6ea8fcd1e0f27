"""The settings sections' files: the spec's profiles, the settings and locks the settings file
adds to every profile, the server's limits, the retention of its own logs, and secrets kept out
of SHOW. The decisions are the spec's (hardhouse.spec.settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardhouse.spec.settings import (
    CONSTRAINTS_KEY,
    SYSTEM_LOG_TABLES,
    profile_locks,
    session_log_on,
    shows_no_secrets,
    system_log_retention,
)
from hardhouse.spec.users import LOCKED_PROFILE

if TYPE_CHECKING:
    from hardhouse.render.inputs import RenderInput


def setting_value(value: Any) -> Any:
    # ClickHouse settings take 1/0 for booleans on every version.
    return int(value) if isinstance(value, bool) else value


def profiles(given: RenderInput) -> dict[str, Any] | None:
    spec = given.spec
    out = {
        name: {k: setting_value(v) for k, v in settings.items() if k != CONSTRAINTS_KEY}
        for name, settings in spec.profiles.items()
    }
    if spec.default_user == "lock":
        out[LOCKED_PROFILE] = {"readonly": 1}
    return {"profiles": out} if out else None


def limits(given: RenderInput) -> dict[str, Any]:
    return {"limits": given.spec.server_limits}


def system_logs(given: RenderInput) -> dict[str, Any] | None:
    spec = given.spec
    retention = system_log_retention(spec)
    tables = [name for name in SYSTEM_LOG_TABLES if name != "session_log" or session_log_on(spec)]
    if retention is None:
        tables = ["session_log"] if session_log_on(spec) else []
    if not tables:
        return None
    return {"retention_days": retention, "tables": [{"name": t} for t in tables]}


def show_secrets(given: RenderInput) -> dict[str, Any] | None:
    return {} if shows_no_secrets(given.spec) else None


def locks(given: RenderInput) -> dict[str, Any] | None:
    """The settings file: what every rendered profile gains, settings and constraints."""
    out = {
        name: {
            "settings": {k: setting_value(v) for k, v in lock.settings.items()},
            "constraints": {k: {n: setting_value(v) for n, v in c.items()} for k, c in lock.constraints.items()},
        }
        for name, lock in profile_locks(given.spec).items()
    }
    return {"profiles": out} if out else None
