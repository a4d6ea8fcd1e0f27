"""Bring a live server's log databases to the spec, as an owner, from the deploy machine.

    python -m hardhouse.provision < request.json     # {"spec", "address", "ca", "mode": "plan"|"apply",
                                                     #  "rewrite_stored": false}

For each log database the first owner whose networks include the deploy machine's address
(and whose password the deploy machine can read) logs in over native TLS; the state is read
from system tables, planned against the spec (hardhouse.provision.plan) and, in apply mode,
the plan runs and the state is read again to prove it now matches. The answer is JSON on
stdout: one outcome per database, table and column (created, altered, matched, refused,
left alone, would create, would alter, failed) and the errors that stopped it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hardhouse import polling
from hardhouse.childproc import Refused
from hardhouse.clickhouse.native import ServerError, Session, Unreachable
from hardhouse.helper_requests import ProvisionRequest
from hardhouse.provision.desired import DesiredDatabase, desired_state
from hardhouse.provision.plan import Plan, plan
from hardhouse.provision.state import ExistingState, existing_state, server_version, state_queries
from hardhouse.reach import owners_among, readable_passwords, source_address
from hardhouse.spec import HardeningSpec, SpecError, load_spec


@dataclass(frozen=True)
class Outcome:
    target: str
    # created | altered | dropped | matched | refused | left alone | note | would create | would alter | would drop
    # | held back | failed
    outcome: str
    detail: str


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not any(o.outcome in ("refused", "failed") for o in self.outcomes)

    @property
    def changed(self) -> bool:
        return any(o.outcome in ("created", "altered", "dropped") for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "outcomes": [asdict(o) for o in self.outcomes],
            "errors": self.errors,
        }


def owners_from_here(spec: HardeningSpec, address: str, environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(log database -> the owner the deploy machine logs in as, problems). Pure: reads the
    passwords' sources and the local route to `address`, sends nothing."""
    passwords, unreadable = readable_passwords(spec, environ)
    return owners_among(spec, source_address(address), passwords, unreadable)


def provision_problems(spec: HardeningSpec, address: str, ca: Path | None, environ: Mapping[str, str]) -> list[str]:
    """Why the log databases cannot be provisioned from here, before anything is touched."""
    if not spec.log_databases:
        return []
    problems = []
    if ca is None:
        problems.append(
            "the log databases are created as an owner, with the owner's password, and no CA to verify the "
            "server's certificate is named, so the deploy machine cannot prove it sends that password to this "
            "server. Fix: set hardhouse_tls_files.verify_ca to the CA that signed the server certificate"
        )
    if spec.ports.native_tls is None:
        problems.append(
            "the log databases are created over native TLS and ports.native_tls is closed. "
            "Fix: open ports.native_tls (e.g. 9440)"
        )
    return problems + owners_from_here(spec, address, environ)[1]


def read_state(session: Session, databases: list[DesiredDatabase], count_unredacted: bool = False) -> ExistingState:
    """The server's log databases; with count_unredacted, also how many rows each redacted
    table that exists holds unredacted (a read of the whole table, so only when asked)."""
    version = server_version(str(session.rows("SELECT version() AS version")[0]["version"]))
    queries = state_queries([d.name for d in databases], version)
    state = existing_state({name: session.rows(query) for name, query in queries.items()})
    if not count_unredacted:
        return state
    counts = {
        table.qualified: int(session.rows(f"SELECT count() AS n FROM {table.qualified} WHERE {condition}")[0]["n"])
        for database in databases
        for table in database.tables
        if (condition := table.unredacted_rows()) is not None and (table.database, table.name) in state.tables
    }
    return replace(state, unredacted=counts)


MUTATION_WAIT = 600.0  # seconds a rewrite of stored rows may take before the run reports it unfinished


def _wait_for_rewrites(session: Session, databases: list[DesiredDatabase]) -> None:
    """Until the rewrites' mutations are done (18.16 cannot wait for them itself)."""
    names = ", ".join(f"'{d.name}'" for d in databases)
    query = f"SELECT count() AS n FROM system.mutations WHERE database IN ({names}) AND is_done = 0"
    polling.until(lambda: not session.rows(query)[0]["n"], MUTATION_WAIT, ceiling=0.5)


WOULD = {"created": "would create", "altered": "would alter", "dropped": "would drop"}


def outcomes_of(found: Plan, steps_as: str) -> list[Outcome]:
    """The plan as outcomes. steps_as: "ran" (created/altered), "planned" (would create/alter)
    or "held back" (a refusal stopped them)."""
    outcomes = []
    for step in found.steps:
        kind = {"ran": step.outcome, "planned": WOULD[step.outcome]}.get(steps_as, steps_as)
        outcomes.append(Outcome(step.target, kind, f"{step.why}: {step.statement.splitlines()[0]}"))
    outcomes += [Outcome(target, "matched", detail) for target, detail in found.matched]
    outcomes += [Outcome(r.target, "refused", f"{r.reason}. Fix: {r.fix}") for r in found.refusals]
    outcomes += [Outcome(target, "left alone", detail) for target, detail in found.left_alone]
    outcomes += [Outcome(target, "note", detail) for target, detail in found.notes]
    return outcomes


def _run(
    session: Session, databases: list[DesiredDatabase], found: Plan, spec: HardeningSpec, report: Report, rewrite: bool
) -> None:
    """Run one owner's plan, then read the state again: it must match the spec now."""
    for step in found.runnable:
        try:
            session.execute(step.statement)
        except ServerError as error:
            report.outcomes.append(Outcome(step.target, "failed", f"{step.statement.splitlines()[0]}: {error}"))
            return
    report.outcomes += outcomes_of(found, "ran")
    if any(step.kind == "rewrite_rows" for step in found.runnable):
        _wait_for_rewrites(session, databases)
    after = plan(databases, read_state(session, databases, rewrite), spec.version)
    if after.steps or after.refusals:
        left = [s.target for s in after.steps] + [r.target for r in after.refusals]
        report.errors.append(f"after the changes the server still differs from the spec at {', '.join(left)}")


def provision(
    address: str,
    spec: HardeningSpec,
    *,
    ca: Path | None,
    apply: bool,
    environ: Mapping[str, str] | None = None,
    rewrite_stored: bool = False,
) -> Report:
    """Plan (apply=False) or bring about (apply=True) the spec's log databases on the server.

    Every owner's plan is made before anything runs: one refusal, or one owner who cannot log
    in or read the state, and nothing changes anywhere. rewrite_stored: rows a redacted table
    stored before its redaction are counted and rewritten in place (a mutation)."""
    environ = os.environ if environ is None else environ
    report = Report()
    desired = desired_state(spec)
    if not desired:
        return report
    problems = provision_problems(spec, address, ca, environ)
    if problems:
        report.errors += problems
        return report
    assert ca is not None and spec.ports.native_tls is not None
    owners, _ = owners_from_here(spec, address, environ)
    passwords, _ = readable_passwords(spec, environ)
    with ExitStack() as sessions:
        plans: list[tuple[Session, list[DesiredDatabase], Plan]] = []
        for owner in dict.fromkeys(owners.values()):
            databases = [d for d in desired if owners[d.name] == owner]
            try:
                session = sessions.enter_context(Session(address, spec.ports.native_tls, owner, passwords[owner], ca))
                found = plan(databases, read_state(session, databases, rewrite_stored), spec.version)
            except (ServerError, Unreachable) as error:
                names = ", ".join(d.name for d in databases)
                report.errors.append(f"as owner {owner} (log database {names}): {error}")
                continue
            plans.append((session, databases, found))
        held = bool(report.errors) or any(found.refusals for _, _, found in plans)
        for session, databases, found in plans:
            if held:
                report.outcomes += outcomes_of(found, "held back")
            elif not apply:
                report.outcomes += outcomes_of(found, "planned")
            else:
                try:
                    _run(session, databases, found, spec, report, rewrite_stored)
                except (ServerError, Unreachable) as error:
                    report.errors.append(f"as owner {session.user}: {error}")
        if held and any(found.steps for _, _, found in plans):
            report.errors.append("nothing was changed: a refusal or an error holds back the whole plan")
    return report


def report_text(report: Report) -> str:
    lines = [f"  {o.outcome:<12} {o.target}: {o.detail}" for o in report.outcomes]
    lines += [f"  ERROR {error}" for error in report.errors]
    return "\n".join(lines)


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """Kind "provision" (hardhouse.helper_requests.ProvisionRequest) -> the report as a mapping."""
    request = ProvisionRequest.from_body(body)
    spec = load_spec(request.spec)
    apply = request.mode == "apply"
    return provision(
        request.address, spec, ca=request.ca_path, apply=apply, rewrite_stored=request.rewrite_stored
    ).as_dict()


def main() -> int:
    """stdin: the body of a ProvisionRequest; stdout: the report as JSON (or text with --text)."""
    try:
        request = ProvisionRequest.from_json(sys.stdin)
        spec = load_spec(request.spec)
    except (Refused, SpecError) as error:
        print(f"hardhouse.provision: {error}", file=sys.stderr)
        return 2
    apply = request.mode == "apply"
    report = provision(request.address, spec, ca=request.ca_path, apply=apply, rewrite_stored=request.rewrite_stored)
    if "--text" in sys.argv:
        print(report_text(report))
    else:
        json.dump(report.as_dict(), sys.stdout)
    return 0 if report.ok else 1
