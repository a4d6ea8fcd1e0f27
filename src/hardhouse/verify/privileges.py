"""Least privilege on the log databases, proven as each user from the deploy machine (HH-DATA-1).

As each reader whose networks include this machine: SELECT on every log table it may read is
answered and an INSERT is refused; its limits (tables and rows of reader_limits, settings its
profile locks) are proven in the same session (hardhouse.verify.reader_limits). As each writer
(modern targets only; the spec refuses writers for targets without users.d grants): an INSERT
is accepted, and SELECT, ALTER and DROP are refused. How the server enforces it is named for
what it is: GRANT queries in users.d from 23.6, else an allow-list of databases
(allow_databases) plus a read-only profile, which is all ClickHouse 18.16 has (no GRANT at
all): there a reader is confined to its databases by the allow-list and kept from writing by
`readonly`, refused with 164 READONLY; modern servers refuse a missing grant with 497
ACCESS_DENIED.

The probes touch no data a reader sees:
  * a refused INSERT is a zero-row INSERT ... SELECT ... WHERE 0: had it been accepted,
    nothing would have been written;
  * the writer's INSERT writes one row marked `hardhouse-verify-<random>` in its first
    String column, counted and then deleted (ALTER TABLE ... DELETE, waited for) by an
    owner the deploy machine can log in as; without such an owner or a String column it is
    a zero-row INSERT, and the detail says so;
  * ALTER is tried as `ALTER TABLE ... DELETE WHERE 0` (deletes nothing if accepted);
  * DROP is tried on a scratch table an owner creates for it and drops afterwards, never on
    a log table; without a reachable owner it is not checked from here.
Users whose networks exclude this machine, or whose password cannot be read here, are
reported as not checked from here, never as passed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hardhouse.clickhouse import codes, versions
from hardhouse.clickhouse.column_types import canonical_type
from hardhouse.clickhouse.native import ServerError, Session, Unreachable
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Judge, Tool, register
from hardhouse.reach import first_reachable, why_not
from hardhouse.spec import HardeningSpec
from hardhouse.spec.log_databases import LogDatabase, LogTable
from hardhouse.verify.checks import Check
from hardhouse.verify.reader_limits import reader_limit_checks, settings_checks
from hardhouse.verify.redaction import (
    MARK_PREFIX,
    MARKABLE,
    NO_WAY_AROUND,
    STORED_REDACTED,
    Planted,
    owner_checks,
    plant,
    planted_column,
    remove_marked,
    stored_check,
)
from hardhouse.verify.replicas import Replicas

# Every line here is part of one registered check: each log user holds its rights and no more.
LOG_RIGHTS = register(Tool.VERIFY, "log readers and writers hold only their rights", ControlId.DATA_1)
CODE_NAMES = {codes.READONLY: "READONLY", codes.ACCESS_DENIED: "ACCESS_DENIED"}


def mechanism(spec: HardeningSpec, role: str) -> str:
    """How the target enforces a role, in words."""
    if versions.has(spec.version, "users_xml_grants"):
        right = "INSERT" if role == "writer" else "SELECT"
        return f"GRANT {right} ON the database, from users.d"
    if spec.version == versions.LEGACY:
        return "allow_databases + readonly profile: 18.16 has no GRANT"
    return f"allow_databases + readonly profile: ClickHouse {spec.version} reads no grants from users.d"


def refusal_codes(spec: HardeningSpec, role: str) -> set[int]:
    """The codes that prove a refusal by the access rules for this role on this target."""
    if role == "writer":
        return {codes.ACCESS_DENIED}
    if versions.has(spec.version, "users_xml_grants"):
        # ACCESS_DENIED for the missing grant, or READONLY where the server checks a read-only profile first.
        return {codes.ACCESS_DENIED, codes.READONLY}
    return {codes.READONLY}


# The probes, as text (the embedded tests run the same ones in modern ClickHouse).
def select_probe(qualified: str) -> str:
    return f"SELECT count() FROM {qualified}"


def insert_nothing(qualified: str, time_column: str) -> str:
    """An INSERT that writes no row even when it is accepted."""
    return f"INSERT INTO {qualified} ({time_column}) SELECT now() FROM system.one WHERE 0"


def insert_marked(qualified: str, time_column: str, column: str, mark: str) -> str:
    return f"INSERT INTO {qualified} ({time_column}, {column}) SELECT now(), '{mark}'"


def alter_probe(qualified: str) -> str:
    """An ALTER that deletes nothing even when it is accepted."""
    return f"ALTER TABLE {qualified} DELETE WHERE 0"


def marker_column(spec: HardeningSpec, db_name: str, t_name: str) -> str | None:
    """The first String-like column that is not the time column: where a check's row is marked."""
    table = spec.log_databases[db_name].tables[t_name]
    return next((c for c, t in table.columns.items() if c != table.time_column and canonical_type(t) in MARKABLE), None)


class _Prover:
    """The checks for one server, with what they need: where, as whom, and the passwords."""

    def __init__(
        self,
        address: str,
        port: int,
        spec: HardeningSpec,
        ca: Path,
        passwords: Mapping[str, str],
        unreadable: Mapping[str, str],
        here: str | None,
        replicas: Replicas | None = None,
    ):
        self.address, self.port, self.spec, self.ca = address, port, spec, ca
        self.passwords, self.unreadable, self.here = passwords, unreadable, here
        self.replicas = replicas  # a cluster: the first marked row is followed to the peers
        self.endpoint = f"{address}:{port} (native_tls)"
        self.users = {user.name: user for user in spec.users}

    def check(self, name: str, ok: bool, detail: str, checked: bool = True) -> Check:
        return Check(self.endpoint, name, ok, detail, LOG_RIGHTS, checked)

    def line(self, name: str, ok: bool, detail: str, proves: Judge, checked: bool = True) -> Check:
        """A line of another registered check (hardhouse.verify.reader_limits)."""
        return Check(self.endpoint, name, ok, detail, proves, checked)

    def session(self, user: str) -> Session:
        return Session(self.address, self.port, user, self.passwords[user], self.ca)

    @contextmanager
    def owner_of(self, db_name: str, needed: bool) -> Iterator[Session | None]:
        """A logged-in session of the first owner this machine can act as (None: not needed,
        none, or its login failed; the writers' checks report a failed owner login)."""
        name, _ = first_reachable(
            self.spec, self.spec.log_databases[db_name].owners, self.here, self.passwords, self.unreadable
        )
        if not needed or name is None:
            yield None
            return
        with self.session(name) as owner:
            try:
                owner.rows("SELECT 1")
            except (ServerError, Unreachable):
                yield None
                return
            yield owner

    def unreachable(self, role: str, user: str, db_name: str) -> Check | None:
        reason = why_not(self.users[user], self.here, self.passwords, self.unreadable)
        if reason is None:
            return None
        return self.check(f"{role} {user} on {db_name}", True, f"not checked from here: {reason}", checked=False)

    def refused(self, name: str, session: Session, query: str, expected: set[int], how: str) -> Check:
        """A probe that must be refused with one of `expected`."""
        try:
            session.execute(query)
        except ServerError as error:
            if error.code in expected:
                label = CODE_NAMES.get(error.code, "")
                return self.check(name, True, f"refused with {error.code} {label} ({how})")
            return self.check(name, False, f"refused, but not by the access rules: {error}")
        return self.check(name, False, f"accepted: {query}")

    def as_user(
        self, role: str, user: str, db_name: str, probes: Callable[[Session, list[Check]], None]
    ) -> list[Check]:
        """Log in as `user` (skipped when this machine cannot act as it) and run its probes,
        which append their checks; a lost session keeps those and adds one failed check."""
        skipped = self.unreachable(role, user, db_name)
        if skipped:
            return [skipped]
        checks: list[Check] = []
        try:
            with self.session(user) as session:
                session.rows("SELECT 1")  # the login, told apart from the probes
                probes(session, checks)
        except (ServerError, Unreachable) as error:
            checks.append(self.check(f"{role} {user} on {db_name}", False, f"could not log in: {error}"))
        return checks

    # ------------------------------------------------------------------------------ readers
    def reader(self, user: str, db_name: str, db: LogDatabase) -> list[Check]:
        how = mechanism(self.spec, "reader")
        expected = refusal_codes(self.spec, "reader")
        limit = db.reader_limits.get(user)
        readable = {
            t: table for t, table in db.tables.items() if limit is None or limit.tables is None or t in limit.tables
        }

        def probes(session: Session, checks: list[Check]) -> None:
            for t_name, table in readable.items():
                qualified = f"{db_name}.{t_name}"
                try:
                    session.rows(select_probe(qualified))
                    checks.append(self.check(f"reader {user} reads {qualified}", True, f"SELECT answered ({how})"))
                except ServerError as error:
                    checks.append(self.check(f"reader {user} reads {qualified}", False, f"SELECT refused: {error}"))
                insert = insert_nothing(qualified, table.time_column)
                checks.append(self.refused(f"reader {user} cannot write {qualified}", session, insert, expected, how))
            with self.owner_of(db_name, needed=limit is not None and bool(limit.rows)) as owner:
                checks.extend(reader_limit_checks(self.line, user, db_name, db, session, owner))
            checks.extend(settings_checks(self.line, self.spec, user, self.users[user].profile, session))

        return self.as_user("reader", user, db_name, probes)

    # ------------------------------------------------------------------------------ writers
    def writer(self, user: str, db_name: str, db: LogDatabase, owner: Session | None) -> list[Check]:
        how = mechanism(self.spec, "writer")
        denied = refusal_codes(self.spec, "writer")

        def probes(session: Session, checks: list[Check]) -> None:
            for t_name, table in db.tables.items():
                qualified = f"{db_name}.{t_name}"
                if table.redact is None:
                    checks += self._insert(user, session, owner, db_name, t_name)
                else:
                    checks += self._insert_redacted(user, session, owner, db_name, t_name)
                    around = insert_nothing(qualified, table.time_column)
                    line = self.refused(
                        f"writer {user} cannot write around the redaction into {qualified}",
                        session,
                        around,
                        denied,
                        how,
                    )
                    checks.append(Check(line.endpoint, line.check, line.ok, line.detail, NO_WAY_AROUND))
                for verb, probe in (("read", select_probe(qualified)), ("alter", alter_probe(qualified))):
                    checks.append(self.refused(f"writer {user} cannot {verb} {qualified}", session, probe, denied, how))
            checks.append(self._drop(user, session, owner, db_name, how))

        return self.as_user("writer", user, db_name, probes)

    def _insert(self, user: str, session: Session, owner: Session | None, db_name: str, t_name: str) -> list[Check]:
        table = self.spec.log_databases[db_name].tables[t_name]
        qualified = f"{db_name}.{t_name}"
        name = f"writer {user} inserts into {qualified}"
        column = marker_column(self.spec, db_name, t_name)
        if owner is None or column is None:
            why = "no owner the deploy machine can log in as would remove it" if owner is None else "no String column"
            query = insert_nothing(qualified, table.time_column)
            try:
                session.execute(query)
            except ServerError as error:
                return [self.check(name, False, f"refused: {error}")]
            return [self.check(name, True, f"a zero-row INSERT was accepted (no marked row: {why})")]
        mark = MARK_PREFIX + secrets.token_hex(8)
        where = f"{column} = '{mark}'"
        try:
            session.execute(insert_marked(qualified, table.time_column, column, mark))
        except ServerError as error:
            return [self.check(name, False, f"refused: {error}")]
        try:
            landed = owner.rows(f"SELECT count() AS n FROM {qualified} WHERE {where}")[0]["n"]
            inserted = self.check(name, landed == 1, f"accepted; {landed} row marked {mark} seen by the owner")
        except (ServerError, Unreachable) as error:
            inserted = self.check(name, False, f"accepted, but the owner could not count it: {error}")
        followed = self.replicas if inserted.ok else None
        return [inserted, remove_marked(self.endpoint, owner, qualified, where, mark, LOG_RIGHTS, followed)]

    def _insert_redacted(
        self, user: str, session: Session, owner: Session | None, db_name: str, t_name: str
    ) -> list[Check]:
        """The writer's row goes through the ingest table; the owner finds it stored redacted."""
        table = self.spec.log_databases[db_name].tables[t_name]
        name = f"writer {user} inserts into {db_name}.{t_name} through its ingest table"
        column = planted_column(table)
        if owner is None or column is None:
            why = (
                "no owner the deploy machine can log in as would read it back" if owner is None else "no String column"
            )
            return [self.check(name, True, f"not checked from here: {why}", checked=False)]
        planted = Planted.new(table)
        try:
            plant(session, db_name, t_name, table, column, planted)
        except ServerError as error:
            return [self.check(name, False, f"refused: {error}")]
        return [self.check(name, True, "accepted")] + stored_check(
            self.endpoint, owner, db_name, t_name, column, planted, f"writer {user}", self.replicas
        )

    def _drop(self, user: str, session: Session, owner: Session | None, db_name: str, how: str) -> Check:
        """DROP on an empty scratch table an owner makes for it: a log table is never at stake."""
        name = f"writer {user} cannot drop tables in {db_name}"
        if owner is None:
            return self.check(
                name, True, "not checked from here: no owner the deploy machine can log in as", checked=False
            )
        scratch = f"{db_name}.hardhouse_verify_{secrets.token_hex(6)}"
        try:
            owner.execute(f"CREATE TABLE {scratch} (x UInt8) ENGINE = Memory")
        except (ServerError, Unreachable) as error:
            return self.check(name, False, f"not checked: the owner could not create a scratch table: {error}")
        result = self.refused(name, session, f"DROP TABLE {scratch}", refusal_codes(self.spec, "writer"), how)
        try:
            owner.execute(f"DROP TABLE IF EXISTS {scratch}")
        except (ServerError, Unreachable) as error:
            return self.check(name, False, f"{result.detail}; the scratch table {scratch} is left ({error})")
        return result


def log_rights_checks(
    address: str,
    port: int,
    spec: HardeningSpec,
    ca: Path,
    passwords: Mapping[str, str],
    unreadable: Mapping[str, str],
    here: str | None,
    replicas: Replicas | None = None,
) -> list[Check]:
    """Every reader's and writer's rights on every log database, as far as this machine reaches
    (on a cluster, the first row written is followed to the `replicas`: hardhouse.verify.replicas)."""
    prover = _Prover(address, port, spec, ca, passwords, unreadable, here, replicas)
    checks: list[Check] = []
    for db_name, db in spec.log_databases.items():
        for reader in db.readers:
            checks += prover.reader(reader, db_name, db)
        redacted = {name: table for name, table in db.tables.items() if table.redact is not None}
        if not db.writers and redacted:
            checks += _redaction_as_owner(prover, db_name, redacted)
        if not db.writers:
            continue
        owner_name, _ = first_reachable(spec, db.owners, here, passwords, unreadable)
        if owner_name is None:
            for writer in db.writers:
                checks += prover.writer(writer, db_name, db, None)
            continue
        with prover.session(owner_name) as owner:
            try:
                owner.rows("SELECT 1")  # the owner's login, before any row is written for it to remove
            except (ServerError, Unreachable) as error:
                checks.append(prover.check(f"owner {owner_name} on {db_name}", False, f"could not log in: {error}"))
                continue
            for writer in db.writers:
                checks += prover.writer(writer, db_name, db, owner)
    return checks


def _redaction_as_owner(prover: _Prover, db_name: str, redacted: dict[str, LogTable]) -> list[Check]:
    """A database without writers: its redacted tables' path proven as an owner."""
    spec = prover.spec
    owner_name, reasons = first_reachable(
        spec, spec.log_databases[db_name].owners, prover.here, prover.passwords, prover.unreadable
    )
    if owner_name is None:
        detail = f"not checked from here: no owner the deploy machine can log in as ({'; '.join(reasons)})"
        return [Check.of(STORED_REDACTED, prover.endpoint, True, f"{db_name}: {detail}", checked=False)]
    try:
        with prover.session(owner_name) as owner:
            return owner_checks(prover.endpoint, owner, db_name, redacted, prover.replicas)
    except (ServerError, Unreachable) as error:
        return [prover.check(f"owner {owner_name} on {db_name}", False, f"could not log in: {error}")]
