"""What the spec means for settings a user cannot lift, the server's own logs and its limits
(issue 12 items 1, 2, 6, 7): decisions the cross-checks and the renderer both take, so a lock is
never rendered where the checks would have refused it, or the other way round."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hardhouse.clickhouse import versions
from hardhouse.spec.errors import Problem
from hardhouse.spec.model import CONSTRAINTS_KEY, LOCKED_PROFILE, HardeningSpec, SettingConstraint

# What ClickHouse's stock users.xml sets in its own profiles (hardhouse.embedded.STOCK_USERS_XML):
# a user on a stock profile gets the same locks as one on a spec profile.
STOCK_PROFILE_SETTINGS: dict[str, dict[str, Any]] = {"default": {}, "readonly": {"readonly": 1}}
# A profile's <profile> element inherits another profile's settings.
INHERIT_KEY = "profile"
# Default retention of the server's own log tables where the target can expire them.
SYSTEM_LOG_RETENTION_DAYS = 30
# The server's own log tables hardhouse gives a retention; all have an event_date column.
SYSTEM_LOG_TABLES = ("query_log", "query_thread_log", "part_log", "text_log", "trace_log", "session_log")
# Settings added to every profile that does not set them, and the feature each needs (None: all).
# log_queries is left to the stock on 18.16: without masking rules there, a logged INSERT would
# keep the secrets it carries.
HARDENED_SETTINGS: tuple[tuple[str, Any, str | None], ...] = (
    ("log_queries", True, "settings_constraints"),
    ("format_display_secrets_in_show_and_select", False, "display_secrets_setting"),
)

# Set in every rendered profile by the responses file (hardhouse.render.surface, HH-LEAK-1 and
# HH-HTTP-1); where the spec keeps them closed, a session must not switch them back on.
STACK_TRACE_SETTING = "calculate_text_stack_trace"
CORS_SETTING = "add_http_cors_header"


def response_settings(spec: HardeningSpec) -> dict[str, int]:
    """The value the responses file gives each of these settings (1: the spec opens it)."""
    return {STACK_TRACE_SETTING: int(spec.http.stack_traces), CORS_SETTING: int(spec.http.cors_any_origin)}


def closed_response_settings(spec: HardeningSpec) -> list[str]:
    return [setting for setting, value in response_settings(spec).items() if not value]


@dataclass(frozen=True)
class ProfileLocks:
    """What the settings file writes into one profile: settings the profile does not set itself,
    and constraints as ClickHouse reads them ({setting: {"min": 1, "max": 300}} or {"readonly": True})."""

    settings: dict[str, Any] = field(default_factory=dict)
    constraints: dict[str, dict[str, Any]] = field(default_factory=dict)


def locks_profile_settings(spec: HardeningSpec) -> bool:
    if spec.lock_profile_settings is None:
        return versions.has(spec.version, "settings_constraints")
    return spec.lock_profile_settings


def system_log_retention(spec: HardeningSpec) -> int | None:
    """Days the server's own logs are kept, or None (kept forever)."""
    if spec.system_logs.retention_days is not None:
        return spec.system_logs.retention_days
    return SYSTEM_LOG_RETENTION_DAYS if versions.has(spec.version, "system_log_ttl") else None


def session_log_on(spec: HardeningSpec) -> bool:
    if spec.system_logs.session_log is None:
        return versions.has(spec.version, "session_log")
    return spec.system_logs.session_log


def shows_no_secrets(spec: HardeningSpec) -> bool:
    return versions.has(spec.version, "display_secrets_setting")


def default_constraint(setting: str, value: Any) -> dict[str, Any]:
    """A number n >= 1 becomes the range 1..n (the user may lower it, never raise it or set the
    0 that means unlimited); anything else (a flag, a text, 0, the readonly level) cannot be changed."""
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if numeric and value >= 1 and setting != "readonly":
        return {"min": 1, "max": value}
    return {"readonly": True}


def _constraint_dict(constraint: SettingConstraint) -> dict[str, Any]:
    if constraint.readonly:
        return {"readonly": True}
    return {k: v for k, v in (("min", constraint.min), ("max", constraint.max)) if v is not None}


def rendered_profiles(spec: HardeningSpec) -> dict[str, dict[str, Any]]:
    """Every profile the rendered users.d defines or merges into, with the settings it ends with."""
    out: dict[str, dict[str, Any]] = {name: dict(settings) for name, settings in STOCK_PROFILE_SETTINGS.items()}
    for name, settings in spec.profiles.items():
        out[name] = {k: v for k, v in settings.items() if k != CONSTRAINTS_KEY}
    if spec.default_user == "lock":
        out[LOCKED_PROFILE] = {"readonly": 1}
    return out


def profile_locks(spec: HardeningSpec) -> dict[str, ProfileLocks]:
    """profile -> what the settings file adds to it (profiles that gain nothing are left out)."""
    lock = locks_profile_settings(spec)
    added_settings = [
        (name, value)
        for name, value, feature in HARDENED_SETTINGS
        if feature is None or versions.has(spec.version, feature)
    ]
    added_settings.append(("max_concurrent_queries_for_user", spec.server_limits.max_concurrent_queries_for_user))
    out: dict[str, ProfileLocks] = {}
    for name, settings in rendered_profiles(spec).items():
        added = {setting: value for setting, value in added_settings if setting not in settings}
        explicit = spec.profiles.get(name, {}).get(CONSTRAINTS_KEY, {})
        constraints: dict[str, dict[str, Any]] = {}
        if lock:
            for setting, value in {**settings, **added}.items():
                # <profile> inside a profile names a parent profile; it is no setting to constrain.
                if setting not in explicit and setting != INHERIT_KEY:
                    constraints[setting] = default_constraint(setting, value)
            for setting in closed_response_settings(spec):
                if setting not in explicit and setting not in constraints:
                    constraints[setting] = {"readonly": True}
        for setting, constraint in explicit.items():
            shown = _constraint_dict(constraint)
            if shown:
                constraints[setting] = shown
        if added or constraints:
            out[name] = ProfileLocks(added, constraints)
    return out


def lock_checks(spec: HardeningSpec) -> list[Problem]:
    """Locks, retention and the login log asked for where the target lacks them; a profile value
    outside its own constraint."""
    problems: list[Problem] = []
    version = spec.version
    newer = "target a newer clickhouse_version"
    if not versions.has(version, "settings_constraints"):
        if spec.lock_profile_settings:
            problems.append(
                Problem(
                    "lock_profile_settings",
                    versions.needs_message("settings_constraints", version)
                    + "; 18.16 stops at start on a profile with constraints",
                    "set it to null or false; on 18.16 only readonly: 1 keeps a user from changing settings "
                    f"(and from writing), readonly: 2 does not stop SET; or {newer}",
                )
            )
        for name, settings in spec.profiles.items():
            if CONSTRAINTS_KEY in settings:
                problems.append(
                    Problem(
                        f"profiles.{name}.{CONSTRAINTS_KEY}",
                        versions.needs_message("settings_constraints", version),
                        f"remove them and use readonly: 1 for a user who must not change settings, or {newer}",
                    )
                )
    if spec.system_logs.retention_days is not None and not versions.has(version, "system_log_ttl"):
        problems.append(
            Problem(
                "system_logs.retention_days",
                versions.needs_message("system_log_ttl", version),
                f"set it to null (18.16 keeps its query_log until someone truncates it), or {newer}",
            )
        )
    if spec.system_logs.session_log and not versions.has(version, "session_log"):
        problems.append(
            Problem(
                "system_logs.session_log", versions.needs_message("session_log", version), f"set it to null, or {newer}"
            )
        )
    for name, settings in spec.profiles.items():
        for setting, constraint in settings.get(CONSTRAINTS_KEY, {}).items():
            value = settings.get(setting)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if (constraint.min is not None and value < constraint.min) or (
                constraint.max is not None and value > constraint.max
            ):
                problems.append(
                    Problem(
                        f"profiles.{name}.{CONSTRAINTS_KEY}.{setting}",
                        f"the profile sets {setting} to {value}, outside its own constraint",
                        "widen the constraint or change the value so that min <= value <= max",
                    )
                )
    return problems
