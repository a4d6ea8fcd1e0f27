"""The deploy's re-check (operation audit_live), after go_live: the live tree is fetched
(hardhouse.deploy.audit) and judged whole. Every control that fails, or that the audit cannot
decide, fails the host unless a waiver (host data hardhouse_waivers) covers it, each line
naming the control and the file:line that decides it (drift among them: a value that wins
over hardhouse's); so does a user the spec does not declare unless undeclared_users is keep
(hardhouse.deploy.users). Values are never shown for anything named like a credential."""

from __future__ import annotations

import dataclasses
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyinfra import host
from pyinfra.api import FunctionCommand, operation

from hardhouse.deploy.audit import AuditFetchError, FetchedTree, audit_archive, host_facts
from hardhouse.deploy.early_proof import ProofCall, ask_for_proof
from hardhouse.deploy.live_tree import live_tree
from hardhouse.deploy.messages import fail_with_lines
from hardhouse.deploy.snapshot import Trust, current, skip_if_trusted
from hardhouse.spec import HardeningSpec
from hardhouse.spec.errors import bounded_text

if TYPE_CHECKING:  # the audit itself is imported when a tree is audited: a trusted re-run never loads it
    from hardhouse.audit.model import AuditReport, ControlResult, Finding
    from hardhouse.controls.waivers import Waiver


# Statuses that let a host pass; any other (fail, and whatever the audit adds, such as a
# verdict it could not decide) fails it.
PASSING = frozenset({"pass", "waived", "not-applicable"})


def drift_findings(report: AuditReport) -> list[Finding]:
    return [finding for result in report.controls if result.id == "HH-DRIFT-1" for finding in result.findings]


def _shown(finding: Finding) -> Finding:
    """Belt and braces: findings already never show a credential's value; deploy logs travel."""
    from hardhouse.audit.drift import is_secret  # only when there are findings (see TYPE_CHECKING above)

    return dataclasses.replace(finding, value=None) if is_secret(finding.subject) else finding


def _about_user(finding: Finding, names: frozenset[str] | set[str]) -> bool:
    """A drift finding about one of these users: the user itself or any value under it."""
    subject = finding.subject
    return any(subject == f"user {name}" or subject.startswith(f"users.{name}.") for name in names)


@dataclass
class HostVerdict:
    """The live tree judged whole: every control's status, kept users taken into account."""

    failed: list[ControlResult]
    waived: list[ControlResult]
    counts: dict[str, int]


def judge_host(report: AuditReport, kept: frozenset[str] | set[str] = frozenset()) -> HostVerdict:
    """Every control that neither passes, is waived nor does not apply fails the host. `kept`:
    the host's own users that the spec leaves to undeclared_users (kept or removed), which
    the spec's render does not describe, so drift about them is no failure (the kept are
    judged by every other control like any user)."""
    failed: list[ControlResult] = []
    waived: list[ControlResult] = []
    counts: dict[str, int] = {}
    for result in report.controls:
        status = str(result.status)
        if result.id == "HH-DRIFT-1" and kept and status == "fail":
            left = [finding for finding in result.findings if not _about_user(finding, kept)]
            if not left:
                status = "pass"
            result = dataclasses.replace(result, findings=left)
        counts[status] = counts.get(status, 0) + 1
        if status == "waived":
            waived.append(result)
        elif status not in PASSING:
            failed.append(result)
    return HostVerdict(failed, waived, counts)


def _result_lines(result: ControlResult, label: str) -> list[str]:
    lines = [f"  {label} {bounded_text(_shown(finding).line(), 600)}" for finding in result.findings]
    if not lines:  # a control that fails without a finding (e.g. one the audit could not decide)
        note = f": {bounded_text(result.note, 300)}" if result.note else ""
        lines.append(f"  {label} {result.id}{note}")
    waiver = result.verdict.waiver if result.verdict is not None else None
    if waiver is not None:
        state = "expired" if not result.verdict.waived else "expires"  # type: ignore[union-attr]
        lines.append(f"    waiver ({state} {waiver.expires.isoformat()}): {bounded_text(waiver.reason, 300)}")
    return lines


def recheck_lines(report: AuditReport, config_dir: str, verdict: HostVerdict | None = None) -> list[str]:
    """What a failed re-check prints: each failing control's findings (control, value, file:line),
    never the value of anything named like a credential, a host's text escaped."""
    verdict = verdict or judge_host(report)
    count = len(verdict.failed)
    lines = [
        f"the live configuration in {config_dir} fails {count} control{'s' if count != 1 else ''} "
        "(each fails the host unless a waiver in hardhouse_waivers accepts it):"
    ]
    for result in verdict.failed:
        lines += _result_lines(result, str(result.status).upper())
    return lines


def waived_lines(verdict: HostVerdict) -> list[str]:
    lines = []
    for result in verdict.waived:
        lines += _result_lines(result, "WAIVED")
    return lines


@dataclass(frozen=True)
class UndeclaredUsers:
    """The live tree's users that the spec does not declare, as the deploy's re-check sees them."""

    host: list[str]  # the host's own (its tree without hardhouse's files): kept, or to be removed
    lines: list[str]  # failures: under refuse or remove, those still live


def undeclared_users(archive: bytes, config_dir: str, spec: HardeningSpec, report: AuditReport) -> UndeclaredUsers:
    """Raises AuditFetchError."""
    from hardhouse.deploy.users import tree_users, undeclared  # it reads trees: only when one was fetched

    host_users = [user.name for user in undeclared(tree_users(archive, config_dir, spec, own={}), spec)]
    if spec.undeclared_users == "keep":
        return UndeclaredUsers(host_users, [])
    named = {finding.subject for finding in drift_findings(report)}
    lines = [
        f"  FAIL HH-DRIFT-1 user {bounded_text(user.name, 100)} from {bounded_text(user.origin, 300)}: "
        f"not declared by the spec (undeclared_users: {spec.undeclared_users})"
        for user in undeclared(tree_users(archive, config_dir, spec), spec)
        if f"user {user.name}" not in named
    ]
    return UndeclaredUsers(host_users if spec.undeclared_users == "remove" else [], lines)


@dataclass
class _Judged:
    """A live tree judged whole for this run, kept while that read still describes the host."""

    state: weakref.ref[Any]  # the deploy run that judged it (a later run's state is another object)
    fetched: FetchedTree  # the read it judged (the same object while nothing changed the host)
    report: AuditReport
    verdict: HostVerdict
    others: UndeclaredUsers
    asked: bool = False  # the host's proof was asked for on this judgment

    @property
    def passed(self) -> bool:
        return not self.verdict.failed and not self.others.lines


# Host name -> this run's judgment of its live tree (JudgeAhead's, for audit_live to take).
_JUDGED: dict[str, _Judged] = {}


def _judge(fetched: FetchedTree, config_dir: str, spec: HardeningSpec, waivers: tuple[Waiver, ...]) -> _Judged:
    """The tree judged whole: every control, the users the spec does not declare. Raises
    AuditFetchError."""
    kept = _JUDGED.get(host.name)
    if kept is not None and kept.state() is host.state and kept.fetched is fetched:
        return kept
    if fetched.archive is None:
        raise AuditFetchError(f"could not read {config_dir}: {fetched.error}")
    report = audit_archive(
        fetched.archive,
        target=host.name,
        config_dir=config_dir,
        spec=spec,
        spec_name="hardhouse_spec",
        environ=os.environ,
        waivers=list(waivers),
        **host_facts(fetched),
    )
    others = undeclared_users(fetched.archive, config_dir, spec, report)
    # Kept users are not the spec's, and removed ones are meant to be missing: drift about
    # either is no failure (the kept are judged by every other control; a removed one still
    # live is named by audit_live).
    judged = _Judged(weakref.ref(host.state), fetched, report, judge_host(report, set(others.host)), others)
    _JUDGED[host.name] = judged
    return judged


@dataclass(frozen=True)
class JudgeAhead:
    """A host proven in full on every run (a trust period of 0, a cluster's replica): the live
    tree its state read carried, judged by that same step (hardhouse.deploy.snapshot
    .read_host_state), as soon as the host's read returns and before any step that may change
    the host. Passing, its proof is asked for at once (hardhouse.deploy.early_proof), while
    pyinfra reads the other hosts and runs the steps that find nothing to do. A read, and never
    a failure: audit_live judges the host after going live and takes this judgment while no
    step since ran a command on the host; a command in between (an install, a staged file, an
    activation), and the tree is read and judged again there and the proof asked again. The
    steps never take an answer a later command may have outdated (on a cluster, a command on
    any host of the run). Its repr (pyinfra prints arguments at -vvv) names only the directory."""

    config_dir: str
    spec: HardeningSpec = dataclasses.field(repr=False)
    waivers: tuple[Waiver, ...] = dataclasses.field(default=(), repr=False)
    proof: ProofCall | None = None

    def __call__(self) -> str:
        """Judge the tree the state read just carried; what was decided, for the step's line."""
        snapshot = current()
        if snapshot is None or snapshot.tree is None or snapshot.tree_dir != self.config_dir:
            return "the live configuration is judged after going live"
        try:
            judged = _judge(snapshot.tree, self.config_dir, self.spec, self.waivers)
        except AuditFetchError:
            return "the live configuration is judged after going live"
        if not judged.passed:
            return "the live configuration does not pass the audit yet: it is judged again after going live"
        if self.proof is not None:
            ask_for_proof(self.proof, None)
            judged.asked = True
        return "the live configuration passes the audit already: its proof starts now"


@operation()
def audit_live(
    config_dir: str,
    spec: HardeningSpec,
    trust: Trust | None = None,
    waivers: tuple[Waiver, ...] = (),
    proof: ProofCall | None = None,
) -> Iterator[Any]:
    """Read the live tree back (one remote command, or the users check's read while no step
    since ran a command on the host: hardhouse.deploy.live_tree) and judge it whole: every
    control the audit knows, drift from the spec among them, and the users the spec does not
    declare. A control that fails (or that the audit cannot decide) fails the host unless a
    waiver covers it. A read: nothing on the host is touched. Passwords come from this process's environment (read
    here, not passed in, so no operation argument holds them) or the files the spec names, as
    for the rendering, so their hashes are compared too. With `proof`, a host that passes asks
    the helper child for its proof at once (hardhouse.deploy.early_proof)."""
    if not host.state.is_executing:
        return  # the live tree exists only after go_live; the plan reads nothing
    if skip_if_trusted(trust, "the live tree's audit"):
        return
    try:
        judged = _judge(live_tree(config_dir), config_dir, spec, waivers)
    except AuditFetchError as error:
        yield FunctionCommand(fail_with_lines, ([f"audit after going live failed: {error}"],), {})
        return
    report, verdict, others = judged.report, judged.verdict, judged.others
    if others.host and spec.undeclared_users == "keep":
        kept = others.host
        host.log(
            f"undeclared_users: keep: {len(kept)} user{'s' if len(kept) != 1 else ''} the spec does not declare "
            f"stay, judged by every control: {', '.join(bounded_text(name, 100) for name in kept)}"
        )
    if not judged.passed:
        lines = recheck_lines(report, config_dir, verdict) if verdict.failed else []
        if others.lines:
            lines += [f"users in {config_dir} that the spec does not declare:", *others.lines]
        yield FunctionCommand(fail_with_lines, (lines,), {})
        return
    counts = ", ".join(f"{n} {status}" for status, n in sorted(verdict.counts.items()))
    # Shown at every verbosity (a noop message needs -v), like the verification's summary.
    host.log(
        f"audited {config_dir}: {len(report.files)} files merged, no drift, every control passes"
        f"{' or is waived' if verdict.waived else ''} ({counts})"
    )
    for line in waived_lines(verdict):
        host.log(line)
    if proof is not None and not judged.asked:
        # Passed: the helper child may prove the host now, while pyinfra audits the others.
        ask_for_proof(proof, trust)
        judged.asked = True
