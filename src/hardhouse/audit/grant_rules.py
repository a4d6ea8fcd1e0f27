"""Audit rule for table functions (HH-EGRESS-2): a user who holds every one of them, by default
or by a blanket grant, turns a stolen password into url()/remote() requests anywhere and file()
reads of the server's disk.

How ClickHouse decides (each checked, see tests/audit/test_grant_rules.py and the live tests):
* a session with readonly=1 is refused every table function (164), 18.16 and 26.9 alike, so a
  user whose profile sets readonly to 1 holds none;
* 18.16 has no grants: any other user holds them all;
* a modern users.xml user without <grants> gets ALL: with allow_databases only on those
  databases, but the source privileges are global, and releases before the READ/WRITE source
  grants (26.9 has them) keep every table function for such a user;
* with <grants>, the queries apply in order: ALL or SOURCES granted on everything and not
  revoked later holds them all. A source granted by name (`GRANT URL ON *.*`, what
  users[].table_functions renders) is a decision and passes here.
A grant query this reading does not know is undecided for its user, never a pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hardhouse.audit.files import Dialect
from hardhouse.audit.merge import ServerTree
from hardhouse.audit.model import Finding
from hardhouse.audit.users import profiles as users_profiles
from hardhouse.audit.values import Undecidable, Unknown, Values, known
from hardhouse.clickhouse.grants import SOURCE_PRIVILEGES
from hardhouse.clickhouse.xmltree import Element, Origin
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, judges

RULE = "source-table-functions"
# A grant query as users.d takes it: GRANT|REVOKE privileges ON target [WITH GRANT OPTION].
GRANT_QUERY = re.compile(
    r"(?P<verb>GRANT|REVOKE)\s+(?P<privileges>[A-Z][A-Z0-9_ ,()`]*?)\s+ON\s+(?P<target>\S+)"
    r"(?:\s+WITH\s+GRANT\s+OPTION)?",
    re.IGNORECASE,
)
# Privileges that carry every source: granted on everything they hold every table function.
BLANKET = frozenset({"ALL", "ALL PRIVILEGES", "SOURCES"})
EVERYTHING = frozenset({"*.*", "*"})
# The source grants of recent releases (READ ON URL ...): not read here, so undecided.
UNREAD = frozenset({"READ", "WRITE"})
KNOWN_SOURCES = frozenset(SOURCE_PRIVILEGES.values())
PROFILE_DEPTH = 10  # profiles inherit through <profile>; ClickHouse refuses cycles, so do we
FIX = "give the user explicit <grants> without a blanket ALL or SOURCES on *.*, or a profile with readonly 1"


@dataclass(frozen=True)
class Grant:
    revoke: bool
    privileges: tuple[str, ...]
    target: str


def parse_grant(text: str) -> Grant | None:
    """The query as a Grant, None when this reading does not know its form."""
    match = GRANT_QUERY.fullmatch(" ".join(text.split()))
    if match is None:
        return None
    privileges = tuple(" ".join(p.split()).upper() for p in _split_privileges(match["privileges"]))
    if not privileges or any(not p or p in UNREAD for p in privileges):
        return None
    return Grant(match["verb"].upper() == "REVOKE", privileges, match["target"].strip("`"))


def _split_privileges(text: str) -> list[str]:
    """Split at commas outside column lists: SELECT(a, b), INSERT -> [SELECT(a, b), INSERT]."""
    parts, depth, current = [], 0, ""
    for character in text:
        depth += character == "("
        depth -= character == ")"
        if character == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += character
    return [*parts, current] if depth == 0 else [""]


def read_only(values: Values, user: Element, subject: str) -> bool:
    """Whether the user's profile (or one it inherits) sets readonly to exactly 1."""
    profiles = dict(known(users_profiles(values), "profiles"))
    name = known(values.text("profile", user), subject)
    seen: set[str] = set()
    while name is not None and name.strip() not in seen and len(seen) < PROFILE_DEPTH:
        name = name.strip()
        seen.add(name)
        profile = profiles.get(name)
        if profile is None:
            return False
        readonly = known(values.text("readonly", profile), f"profile {name}")
        if readonly is not None:
            return readonly.strip() == "1"
        name = known(values.text("profile", profile), f"profile {name}")
    return False


def blanket_grant(values: Values, grants: Element, subject: str) -> Origin | None | Unknown:
    """Where a blanket grant that no later query revokes is made; None when there is none."""
    held: Origin | None = None
    for key, query in known(values.keys(grants), subject):
        if not key.startswith("query"):
            continue
        text = known(values.get(query), subject)
        grant = parse_grant(text)
        if grant is None:
            return Unknown(
                f"the grant query {text.strip()[:120]!r} is not one the audit reads "
                "(GRANT|REVOKE privileges ON target)",
                "write grants as GRANT or REVOKE with named privileges, e.g. GRANT SELECT ON logs.*",
                query.value_origin,
            )
        if grant.target not in EVERYTHING or not BLANKET.intersection(grant.privileges):
            continue
        held = None if grant.revoke else query.value_origin
    return held


@judges(Tool.AUDIT, RULE, ControlId.EGRESS_2)
def source_table_functions(tree: ServerTree) -> Iterator[Finding]:
    values = tree.users_values
    for user in known(tree.accounts, "users"):
        subject = f"user {user.name}"
        try:
            finding = _judge_user(tree, values, user.element, subject)
        except Undecidable as undecidable:
            finding = Finding.undecided_by(RULE, undecidable.subject, undecidable.unknown)
        if finding is not None:
            yield finding


def _judge_user(tree: ServerTree, values: Values, user: Element, subject: str) -> Finding | None:
    if read_only(values, user, subject):
        return None
    if tree.dialect is Dialect.V18:
        return Finding(
            RULE,
            subject,
            None,
            user.origin,
            "holds every table function (url, file, remote, mysql): 18.16 has no grants, "
            "and only a profile with readonly 1 refuses them",
        )
    grants = known(values.find("grants", user), subject)
    if grants is None:
        how = "allow_databases keeps the global source privileges" if values.find("allow_databases", user) else ""
        return Finding(
            RULE,
            subject,
            None,
            user.origin,
            f"holds every table function: no <grants>, so ClickHouse gives ALL{f' ({how})' if how else ''}; {FIX}",
        )
    origin = known(blanket_grant(values, grants, subject), subject)
    if origin is None:
        return None
    return Finding(
        RULE, subject, None, origin, f"holds every table function: ALL or SOURCES on *.* is not revoked; {FIX}"
    )
