"""A log reader's limits, proven as that reader from the deploy machine (run by
hardhouse.verify.privileges inside the reader's session, so the deploy runs them):

* tables (log_databases.*.reader_limits.*.tables, HH-DATA-2): SELECT on a table of the log
  database outside the reader's list is refused (497);
* rows (reader_limits.*.rows, HH-DATA-2): the rows outside the filter, which an owner the deploy
  machine can log in as counts (`WHERE NOT (condition)`), are invisible to the reader (it
  counts 0). Where the owner counts none, nothing was there to hide: the line says the filter
  was not exercised and is not counted as passed; without such an owner it is not checked;
* locked settings (HH-SET-1): a setting the reader's profile constrains cannot be SET away: sent
  with a query as the value that lifts it (0, "unlimited", for a capped number; the other value
  of a locked 0/1 flag), it is refused with 452 SETTING_CONSTRAINT_VIOLATION, or 164 READONLY
  where the profile is read-only. Only where the target has settings constraints.

No probe changes data: the row counts and the settings probe are SELECTs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from hardhouse.clickhouse import codes, versions
from hardhouse.clickhouse.native import ServerError, Session, Unreachable
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, register
from hardhouse.spec import HardeningSpec
from hardhouse.spec.log_databases import LogDatabase
from hardhouse.spec.settings import profile_locks, rendered_profiles

READER_TABLES = register(Tool.VERIFY, "a limited reader reads only its tables", ControlId.DATA_2)
READER_ROWS = register(Tool.VERIFY, "a limited reader sees only the rows its filter allows", ControlId.DATA_2)
SETTINGS_LOCKED = register(Tool.VERIFY, "a reader cannot SET a locked limit away", ControlId.SET_1)
SET_REFUSALS = {codes.SETTING_CONSTRAINT_VIOLATION: "SETTING_CONSTRAINT_VIOLATION", codes.READONLY: "READONLY"}
LIFTED_PROBE = "SELECT 1 AS one"

# (name, ok, detail, proves, checked) -> a Check of the caller's endpoint
Line = Callable[..., Any]


def lifting_values(spec: HardeningSpec, profile: str) -> dict[str, int]:
    """setting -> the value that would lift the profile's lock on it: 0 (unlimited) for a capped
    number, the other value of a locked 0/1 flag. Empty where the target has no constraints."""
    if not versions.has(spec.version, "settings_constraints"):
        return {}
    locks = profile_locks(spec).get(profile)
    if locks is None:
        return {}
    values = {**rendered_profiles(spec).get(profile, {}), **locks.settings}
    lifted: dict[str, int] = {}
    for setting, constraint in locks.constraints.items():
        value = values.get(setting)
        if "max" in constraint:
            lifted[setting] = 0
        elif constraint.get("readonly") and str(int(value) if isinstance(value, bool) else value) in {"0", "1"}:
            lifted[setting] = 1 - int(value)  # type: ignore[arg-type]
    return lifted


def reader_limit_checks(
    line: Line, user: str, db_name: str, db: LogDatabase, session: Session, owner: Session | None
) -> Iterator[Any]:
    """The lines for one reader's limits on one log database, in the reader's session."""
    limit = db.reader_limits.get(user)
    if limit is not None and limit.tables is not None:
        for t_name in db.tables:
            if t_name in limit.tables:
                continue
            qualified = f"{db_name}.{t_name}"
            name = f"reader {user} cannot read {qualified}"
            try:
                session.rows(f"SELECT count() AS n FROM {qualified}")
                yield line(name, False, "SELECT answered: the reader is not limited to its tables", READER_TABLES)
            except ServerError as error:
                ok = error.code == codes.ACCESS_DENIED
                how = f"refused with {error.code} ACCESS_DENIED" if ok else f"refused, but not by the grants: {error}"
                yield line(name, ok, how, READER_TABLES)
    for t_name, condition in (limit.rows if limit is not None else {}).items():
        yield _row_filter(line, user, f"{db_name}.{t_name}", condition, session, owner)


def _row_filter(line: Line, user: str, qualified: str, condition: str, session: Session, owner: Session | None) -> Any:
    name = f"reader {user} sees only the rows of {qualified} its filter allows"
    hidden = f"SELECT count() AS n FROM {qualified} WHERE NOT ({condition})"
    if owner is None:
        return line(name, True, "not checked from here: no owner the deploy machine can log in as", READER_ROWS, False)
    try:
        outside = int(owner.rows(hidden)[0]["n"])
    except (ServerError, Unreachable) as error:
        return line(name, False, f"the owner could not count the rows outside the filter: {error}", READER_ROWS)
    try:
        seen = int(session.rows(hidden)[0]["n"])
    except ServerError as error:
        return line(name, False, f"the reader's count was refused: {error}", READER_ROWS)
    if outside == 0:
        detail = "not exercised: the owner counts no row outside the filter, so there was nothing to hide"
        return line(name, seen == 0, detail, READER_ROWS, False)
    detail = f"the reader sees {seen} of the {outside} rows outside the filter the owner sees"
    return line(name, seen == 0, detail, READER_ROWS)


def settings_checks(line: Line, spec: HardeningSpec, user: str, profile: str, session: Session) -> Iterator[Any]:
    """One line per locked setting of the reader's profile: SET to the lifting value is refused."""
    for setting, value in lifting_values(spec, profile).items():
        name = f"reader {user} cannot SET {setting} = {value}"
        try:
            session.rows(LIFTED_PROBE, settings={setting: value})
        except ServerError as error:
            label = SET_REFUSALS.get(error.code)
            detail = f"refused with {error.code} {label}" if label else f"refused, but not by a constraint: {error}"
            yield line(name, label is not None, detail, SETTINGS_LOCKED)
            continue
        yield line(name, False, f"accepted: profile {profile} does not lock {setting}", SETTINGS_LOCKED)
