"""The deploy's log database step: the spec's databases and tables created or brought up to
date on the live server, as an owner, from the deploy machine (hardhouse.provision says why
from there).

Runs only when executing, once the new configuration is live and audited, in the deploy's
service child (hardhouse.deploy.service, one for every host) outside pyinfra's gevent-patched
process.
First a plan (read-only): nothing to do is no change; a refusal fails the host with every
refusal listed and nothing touched. Otherwise the apply runs as the operation's command, which
is the change pyinfra reports. No password is in the request, the answer or any log line:
the child reads them where the spec names them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pyinfra import host
from pyinfra.api import FunctionCommand, operation

from hardhouse.deploy.child import SERVICE
from hardhouse.deploy.early_proof import early_plan, settle
from hardhouse.deploy.settings import Settings
from hardhouse.deploy.snapshot import Trust, skip_if_trusted
from hardhouse.helper_requests import ProvisionRequest, plan_changes

TIMEOUT = 300  # seconds for one plan or apply (ALTERs change metadata only)


@dataclass(frozen=True)
class ProvisionCall:
    """What the child needs. Its repr (printed by pyinfra at -vvv) names only the address."""

    settings: Settings
    ca: Path | None

    def __repr__(self) -> str:
        return f"ProvisionCall({self.settings.verify_address})"


def run_provision(call: ProvisionCall, mode: Literal["plan", "apply"]) -> dict[str, Any]:
    """hardhouse.provision in the service child; its answer (or the failure, as one)."""
    request = ProvisionRequest(
        call.settings.spec_data,
        call.settings.verify_address,
        str(call.ca) if call.ca else None,
        mode,  # type: ignore[arg-type]
        call.settings.rewrite_stored_secrets,
    )
    answer, why = SERVICE.call(request.KIND, request.body(), TIMEOUT)
    return answer if answer is not None else {"ok": False, "changed": False, "outcomes": [], "errors": [why]}


def failure_lines(answer: dict[str, Any]) -> list[str]:
    outcomes = answer.get("outcomes", [])
    bad = [o for o in outcomes if o["outcome"] in ("refused", "failed")]
    lines = [f"log databases not provisioned ({len(bad)} refused or failed; nothing else was changed):"]
    lines += [f"  {o['outcome'].upper()} HH-DATA-1 {o['target']}: {o['detail']}" for o in bad]
    lines += [f"  ERROR {error}" for error in answer.get("errors", [])]
    return lines


def _fail_host(state: Any, host: Any, lines: list[str]) -> bool:
    for line in lines:
        host.log_styled(line, fg="red")
    return False


def _apply(state: Any, host: Any, call: ProvisionCall) -> bool:
    answer = run_provision(call, "apply")
    if not answer.get("ok"):
        return _fail_host(state, host, failure_lines(answer))
    for outcome in answer["outcomes"]:
        if outcome["outcome"] in ("created", "altered", "dropped"):
            host.log(f"log databases: {outcome['outcome']} {outcome['target']} ({outcome['detail']})")
    return True


@operation()
def provision_log_databases(settings: Settings, ca: Path | None, trust: Trust | None = None) -> Iterator[Any]:
    """Create what is missing, add columns and change retention in place, refuse the rest."""
    if not settings.spec.log_databases:
        host.noop("the spec has no log databases")
        return
    if not host.state.is_executing:
        return  # the plan is made against the live server, after it went live
    # The tables' definitions are part of the fingerprint: unchanged, they still match.
    if skip_if_trusted(trust, "log databases"):
        return
    call = ProvisionCall(settings, ca)
    # Asked for when the host's audit passed (hardhouse.deploy.early_proof), else now.
    planned = early_plan() or run_provision(call, "plan")
    if not planned.get("ok"):
        yield FunctionCommand(_fail_host, (failure_lines(planned),), {})
        return
    outcomes = planned["outcomes"]
    for outcome in outcomes:
        if outcome["outcome"] in ("left alone", "note"):
            host.log(f"log databases: {outcome['target']} {outcome['detail']}")
    if not plan_changes(planned):
        matched = [o["target"] for o in outcomes if o["outcome"] == "matched"]
        host.noop(f"log databases match the spec: {', '.join(matched)}")
        return
    settle()  # a proof asked earlier in this run has ended before the tables change
    yield FunctionCommand(_apply, (call,), {})
