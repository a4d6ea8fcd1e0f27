"""The spec's settings sections: settings profiles and the locks that keep a session from
lifting them (profiles, lock_profile_settings), the server's own logs (system_logs) and its
limits (server_limits); the models, the rules that span them, and what the settings file
writes into each profile. The renderer and the cross-checks take the same decisions here, so
a lock is never rendered where the checks would have refused it, or the other way round."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Discriminator, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse.clickhouse import versions
from hardhouse.spec.declare import StrictModel, described
from hardhouse.spec.errors import Problem, excerpt
from hardhouse.spec.fields import check_name, fail, has_control_character
from hardhouse.spec.gates import Gate, available, refusals, wanted
from hardhouse.spec.http import closed_response_settings
from hardhouse.spec.users import LOCKED_PROFILE

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec

SettingValue = int | float | str | bool
# The key of a profile that holds its constraints, as in ClickHouse's own <profiles><NAME><constraints>.
CONSTRAINTS_KEY = "constraints"
# Union tags pydantic puts in error locations; hardhouse.spec.load leaves them out of field paths.
SETTING_TAG, CONSTRAINTS_TAG = "setting value", "setting constraints"


class SettingConstraint(StrictModel):
    min: int | float | None = described(None, description="lowest value a user may SET")
    max: int | float | None = described(None, description="highest value a user may SET")
    readonly: bool = described(False, description="the user may not change the setting at all")

    @model_validator(mode="after")
    def consistent(self) -> SettingConstraint:
        if self.readonly and (self.min is not None or self.max is not None):
            raise PydanticCustomError(
                "hardhouse",
                "a readonly setting cannot also have min or max",
                {"fix": "give readonly: true alone, or min and/or max"},
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError(
                "hardhouse", f"min {self.min} is above max {self.max}", {"fix": "swap them, or widen the range"}
            )
        return self


def _profile_entry_kind(value: Any) -> str:
    return CONSTRAINTS_TAG if isinstance(value, dict) else SETTING_TAG


# A profile maps setting names to values, and the key `constraints` to {setting: constraint}.
ProfileEntry = Annotated[
    Annotated[SettingValue, Tag(SETTING_TAG)] | Annotated[dict[str, SettingConstraint], Tag(CONSTRAINTS_TAG)],
    Discriminator(_profile_entry_kind),
]


def _profile_shape(value: Any) -> Any:
    """Only `constraints` holds a mapping; said before the types are checked, so the message names it."""
    if not isinstance(value, dict):
        return value
    for name, settings in value.items():
        if not isinstance(settings, dict):
            continue
        for setting, setting_value in settings.items():
            if (setting == CONSTRAINTS_KEY) != isinstance(setting_value, dict):
                what = "must be a mapping of settings to constraints" if setting == CONSTRAINTS_KEY else "is a mapping"
                raise fail(
                    f"{excerpt(setting, 40)} in profile {excerpt(name, 40)} {what}",
                    f"write settings as setting: value, and limits under {CONSTRAINTS_KEY}: "
                    "{setting: {min: 1, max: 300}}",
                )
    return value


def _valid_profiles(value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for name, settings in value.items():
        check_name(name, "profile name")
        for setting, setting_value in settings.items():
            check_name(setting, f"setting name in profile {name!r}")
            if setting == CONSTRAINTS_KEY:
                for constrained in setting_value:
                    check_name(constrained, f"constrained setting in profile {name!r}")
                continue
            # XML 1.0 cannot carry control characters, escaped or not.
            if isinstance(setting_value, str) and has_control_character(setting_value):
                raise fail(
                    f"setting {setting!r} in profile {name!r} contains a control character",
                    "remove it; setting values are single-line text without control characters",
                )
    return value


# settings profiles by name: only `constraints` holds a mapping (said before the types are
# checked, so the message names it), and every name is one ClickHouse accepts.
Profiles = Annotated[
    dict[str, dict[str, ProfileEntry]], BeforeValidator(_profile_shape), AfterValidator(_valid_profiles)
]


class SystemLogs(StrictModel):
    retention_days: Annotated[
        int | None,
        Gate(
            "system_log_ttl",
            "set it to null (18.16 keeps its query_log until someone truncates it), or target a newer "
            "clickhouse_version",
        ),
    ] = described(
        None,
        description=(
            "rows of query_log, query_thread_log, part_log, text_log, trace_log and session_log older than this are "
            "deleted (ttl); null: 30 days where the target can (23.8+), kept forever before, where it cannot"
        ),
        why="the server's own logs hold query text, users and addresses: a log server's logs are secrets too",
    )
    session_log: Annotated[bool | None, Gate("session_log", "set it to null, or target a newer clickhouse_version")] = (
        described(
            None,
            description="record every login, refused or not, with user and address (system.session_log); null: 22.8+",
            why="who logged in from where, and who was refused, is the first question after a leak",
        )
    )

    @field_validator("retention_days")
    @classmethod
    def positive_retention(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise fail(f"{excerpt(value)} days keeps nothing", "use a number of days (1 or more), or null")
        return value


class ServerLimits(StrictModel):
    max_connections: int = described(
        1024,
        description="server-wide cap on simultaneous client connections (stock 4096)",
        why="a flood of connections from one leaked credential or scanner cannot exhaust threads and descriptors",
    )
    max_concurrent_queries: int = described(
        100,
        description="server-wide cap on queries running at once (0 = unlimited, the modern stock)",
        why="a credential running queries in a loop cannot take every core; a log server needs few at once",
    )
    keep_alive_timeout: int = described(
        10,
        description="seconds an idle HTTP keep-alive connection stays open (stock 3 on 18.16, 30 on modern)",
        why="idle sockets cannot pile up (slowloris) while a client's next request still reuses its connection",
    )
    max_concurrent_queries_for_user: int = described(
        20,
        description=(
            "per user: queries one user may run at once; added to every profile that does not set it, and locked "
            "(1..value) where the target has settings constraints"
        ),
        why="one leaked credential cannot crowd out every other user",
    )

    @field_validator("*")
    @classmethod
    def positive(cls, value: int) -> int:
        if value < 1:
            raise fail(f"{excerpt(value)} is not a limit", "use a positive number")
        return value


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


@dataclass(frozen=True)
class ProfileLocks:
    """What the settings file writes into one profile: settings the profile does not set itself,
    and constraints as ClickHouse reads them ({setting: {"min": 1, "max": 300}} or {"readonly": True})."""

    settings: dict[str, Any] = field(default_factory=dict)
    constraints: dict[str, dict[str, Any]] = field(default_factory=dict)


def locks_profile_settings(spec: HardeningSpec) -> bool:
    return wanted(spec, "lock_profile_settings", spec.version)


def system_log_retention(spec: HardeningSpec) -> int | None:
    """Days the server's own logs are kept, or None (kept forever)."""
    if spec.system_logs.retention_days is not None:
        return spec.system_logs.retention_days
    return SYSTEM_LOG_RETENTION_DAYS if available(spec.system_logs, "retention_days", spec.version) else None


def session_log_on(spec: HardeningSpec) -> bool:
    return wanted(spec.system_logs, "session_log", spec.version)


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


def profile_is_read_only(spec: HardeningSpec, profile: str) -> bool:
    """readonly 1 or 2 refuses every write (2 still lets the session change settings)."""
    if profile in spec.profiles:
        value = spec.profiles[profile].get("readonly")
        return value is True or str(value) in {"1", "2"}
    return profile == "readonly"


def checks(spec: HardeningSpec) -> list[Problem]:
    """Locks, retention and the login log asked for where the target lacks them; a profile value
    outside its own constraint."""
    version = spec.version
    newer = "target a newer clickhouse_version"
    problems = refusals(spec, "lock_profile_settings", version)
    if not versions.has(version, "settings_constraints"):
        for name, settings in spec.profiles.items():
            if CONSTRAINTS_KEY in settings:
                problems.append(
                    Problem(
                        f"profiles.{name}.{CONSTRAINTS_KEY}",
                        versions.needs_message("settings_constraints", version),
                        f"remove them and use readonly: 1 for a user who must not change settings, or {newer}",
                    )
                )
    problems += refusals(spec.system_logs, "retention_days", version, "system_logs")
    problems += refusals(spec.system_logs, "session_log", version, "system_logs")
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
