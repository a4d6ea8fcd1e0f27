"""A host's proof asked for as soon as its audit after going live passed, not when pyinfra
reaches the provisioning and verification steps.

pyinfra runs a step on every host before the next step starts, and the audit is CPU work in
pyinfra's one process: without this, the helper child (hardhouse.deploy.service), which logs in
and checks from the deploy machine, waited for the last host's audit before proving the first
host, and pyinfra then waited for it. Now each host that passes its audit sends one request
(hardhouse.helper_requests.ProofRequest: its log databases planned, then, when the plan changes
nothing, its full verification), and the helper proves it while pyinfra audits the others.
A host proven in full on every run (a trust period of 0, a cluster's replica) is judged even
earlier, on the tree its state read carried, as that read returns
(hardhouse.deploy.recheck.JudgeAhead), and asks then, before the steps that find nothing to do
on an unchanged host. The steps then take the
answers only while no step since the audit ran a command on the host (for a cluster's replica,
on any host of the run: its proof also reaches its peers and ZooKeeper); otherwise they ask
again:

- the provisioning step takes the plan (hardhouse.deploy.provision_ops); a plan that would
  change the server is applied by that step as before, and the verification then runs after
  it, in order;
- the verification step takes the checks (hardhouse.deploy.operations.verify_from_here).

Asked only when nothing this run changed the host before its audit (a re-run that proves an
unchanged host): the verified-state stamp then blesses the fingerprint read at the start of
the run, before any check, as the verification step does itself. A host whose audit fails
asks for nothing: no password goes to a server whose configuration is not the spec's. The
checks are the same requests the steps send; only their time moves.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra import host

from hardhouse.childproc import Pending
from hardhouse.deploy.child import SERVICE
from hardhouse.deploy.settings import Settings
from hardhouse.deploy.snapshot import Trust, changed_on_any_host_since, changed_since, current
from hardhouse.helper_requests import ProofRequest

TIMEOUT = 600  # seconds for one host's plan and verification together (each step allows 300)


@dataclass(frozen=True)
class ProofCall:
    """What the audit step needs to ask for the proof. Its repr (pyinfra prints arguments at
    -vvv) names only the address."""

    settings: Settings
    ca: Path | None

    def __repr__(self) -> str:
        return f"ProofCall({self.settings.verify_address})"


@dataclass
class _Asked:
    state: weakref.ref[Any]  # the deploy run that asked (a later run's state is another object)
    address: str
    audit_step: str | None  # the audit's step: a command after it makes the checks stale
    fingerprint: str  # what a passing verification stamps (read before any check), or ""
    pending: Pending
    whole_run: bool  # a cluster's replica: a command on any host of the run makes the answer stale
    answer: dict[str, Any] | None = None
    why: str = ""
    waited: bool = False
    taken: set[str] = field(default_factory=set)

    def settle(self) -> None:
        """Wait for the answer, once (it is kept)."""
        if not self.waited:
            self.answer, self.why = self.pending.wait(TIMEOUT)
            self.waited = True


# Host name -> this run's request for its proof.
_ASKED: dict[str, _Asked] = {}


def ask_for_proof(call: ProofCall, trust: Trust | None) -> None:
    """In the audit step, once the host passed: send its proof to the helper child now, when
    nothing this run changed the host (else the steps ask in order, as they always did)."""
    settings = call.settings
    plan, verify = bool(settings.spec.log_databases), settings.verify
    _ASKED.pop(host.name, None)
    if not (plan or verify):
        return
    snapshot = current()
    if snapshot is None:
        return  # a step of this run ran a command on the host
    request = ProofRequest(
        settings.spec_data,
        settings.verify_address,
        str(call.ca) if call.ca else None,
        plan=plan,
        verify=verify,
        rewrite_stored=settings.rewrite_stored_secrets,
    )
    fingerprint = snapshot.fingerprint if trust is not None and trust.stamps else ""
    _ASKED[host.name] = _Asked(
        weakref.ref(host.state),
        settings.verify_address,
        host.current_op_hash,
        fingerprint,
        SERVICE.submit(request.KIND, request.body()),
        whole_run=settings.spec.cluster is not None,
    )


def _answered(part: str) -> _Asked | None:
    """This run's request for the host, answered, the first time `part` of it is taken; None
    when there was none, or a step since the audit ran a command on the host (on a cluster, on
    any host of the run): the answer may describe what that step changed, so the step asks
    again, without waiting for it."""
    asked = _this_run()
    if asked is None or part in asked.taken:
        return None
    asked.taken.add(part)
    if changed_since(asked.audit_step) or (asked.whole_run and changed_on_any_host_since(asked.audit_step)):
        return None
    asked.settle()
    return asked


def _this_run() -> _Asked | None:
    """This run's request for the host's proof, if it made one (a later run's state is another object)."""
    asked = _ASKED.get(host.name)
    return asked if asked is not None and asked.state() is host.state else None


def settle() -> None:
    """Before a step changes the server's tables: wait for this run's proof of the host to end,
    if one was asked for, even one no step takes any more (a later step changed the host). Its
    verification runs beside its plan and writes and deletes marked rows, which must not race
    the provisioning step's DDL."""
    asked = _this_run()
    if asked is not None:
        asked.settle()


def early_plan() -> dict[str, Any] | None:
    """The provision plan asked for after the audit (its failure as one), while no step since
    ran a command on the host; else None (the step plans now)."""
    asked = _answered("plan")
    if asked is None:
        return None
    if asked.answer is None:
        return {"ok": False, "changed": False, "outcomes": [], "errors": [asked.why]}
    plan = asked.answer.get("plan")
    return plan if isinstance(plan, dict) else None


def early_verification() -> tuple[dict[str, Any], str] | None:
    """(the verification's answer, the fingerprint a pass stamps) asked for after the audit,
    while no step since ran a command on the host; else None (the step verifies now)."""
    asked = _answered("verify")
    if asked is None:
        return None
    if asked.answer is None:
        failed = {"endpoint": asked.address, "check": "verification ran", "ok": False, "detail": asked.why}
        return {"ok": False, "checks": [failed]}, asked.fingerprint
    verified = asked.answer.get("verify")
    return (verified, asked.fingerprint) if isinstance(verified, dict) else None
