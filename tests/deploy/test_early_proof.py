"""A host's proof is asked for as soon as its audit passed, and the steps take the answer only
while it still describes the host (hardhouse.deploy.early_proof); the helper child's side
plans first and verifies only when the plan changes nothing (hardhouse.deploy.proof_answer)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from pyinfra.context import ctx_host

from hardhouse.deploy import early_proof, proof_answer
from hardhouse.deploy.snapshot import SNAPSHOTS, HostFiles, Snapshot
from hardhouse.helper_requests import ProofRequest
from hardhouse.provision import apply
from hardhouse.verify import deployment
from tests.deploy.test_snapshot import StandInState, ran_a_command

FINGERPRINT = "f" * 64


class Host:
    name = "early-proof-host"

    def __init__(self) -> None:
        self.op_hash_order = ["read", "users", "go_live", "audit", "provision", "verify"]
        self.current_op_hash = "audit"
        self.state = StandInState()


@dataclass(frozen=True)
class Spec:
    log_databases: tuple[str, ...] = ("app_logs",)
    cluster: str | None = None


class RunState(StandInState):
    """Enough of pyinfra's State for a run of several hosts: its hosts and the steps' order."""

    def __init__(self, hosts: list[Host]) -> None:
        super().__init__()
        self.inventory = hosts

    def get_op_order(self) -> list[str]:
        return ["read", "users", "go_live", "audit", "provision", "verify"]


@dataclass
class Settings:
    verify: bool = True
    spec: Spec = Spec()
    spec_data: dict[str, Any] | None = None
    verify_address: str = "10.0.0.5"
    rewrite_stored_secrets: bool = False


@dataclass
class Trust:
    stamps: bool = True


class Pending:
    def __init__(self, answer: dict[str, Any] | None, why: str = "") -> None:
        self.answer, self.why, self.waits = answer, why, 0

    def wait(self, timeout: float) -> tuple[dict[str, Any] | None, str]:
        self.waits += 1
        return self.answer, self.why


class Service:
    def __init__(self, answer: dict[str, Any] | None, why: str = "") -> None:
        self.pending = Pending(answer, why)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def submit(self, kind: str, body: dict[str, Any]) -> Pending:
        self.sent.append((kind, body))
        return self.pending


PLAN = {"ok": True, "changed": False, "outcomes": [{"outcome": "matched", "target": "app_logs.requests"}]}
VERIFIED = {"ok": True, "checks": [{"endpoint": "10.0.0.5:9440", "check": "anonymous refused", "ok": True}]}


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Any:
    stand_in = Host()
    SNAPSHOTS[stand_in.name] = Snapshot(HostFiles(), fingerprint=FINGERPRINT, op_hash="read")
    try:
        with ctx_host.use(stand_in):
            yield stand_in
    finally:
        SNAPSHOTS.pop(stand_in.name, None)


def ask(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any] | None, settings: Any = None, why: str = "") -> Service:
    service = Service(answer, why)
    monkeypatch.setattr(early_proof, "SERVICE", service)
    early_proof.ask_for_proof(early_proof.ProofCall(settings or Settings(spec_data={}), None), Trust())  # type: ignore[arg-type]
    return service


def test_an_unchanged_host_is_proven_once_and_the_steps_take_the_plan_and_the_checks(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = ask(monkeypatch, {"plan": PLAN, "verify": VERIFIED})
    ((kind, body),) = service.sent
    request = ProofRequest.from_body(body)
    assert kind == "proof" and request.plan and request.verify and request.address == "10.0.0.5"
    host.current_op_hash = "provision"
    assert early_proof.early_plan() == PLAN
    host.current_op_hash = "verify"
    assert early_proof.early_verification() == (VERIFIED, FINGERPRINT)  # the fingerprint read before any check
    assert service.pending.waits == 1
    assert early_proof.early_plan() is None and early_proof.early_verification() is None  # each taken once


def test_a_command_after_the_audit_makes_the_verification_step_check_again(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    ask(monkeypatch, {"plan": PLAN, "verify": VERIFIED})
    ran_a_command(host, "provision")
    host.current_op_hash = "verify"
    assert early_proof.early_verification() is None


def test_asked_ahead_then_changed_by_a_later_step_both_steps_ask_again_without_waiting(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JudgeAhead asks at the state read's step; a step after it changed the host (a staged
    file, an activation), so the answer may describe the host before that change."""
    host.current_op_hash = "read"
    service = ask(monkeypatch, {"plan": PLAN, "verify": VERIFIED})
    assert len(service.sent) == 1
    ran_a_command(host, "go_live")
    host.current_op_hash = "provision"
    assert early_proof.early_plan() is None
    host.current_op_hash = "verify"
    assert early_proof.early_verification() is None
    assert service.pending.waits == 0  # the stale answer is not even waited for


def test_a_change_to_the_tables_waits_for_a_proof_no_step_takes_any_more(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stale proof is not waited for by the steps that ask again, but the provisioning
    step's DDL waits for it to end: its verification writes and deletes marked rows."""
    host.current_op_hash = "read"
    service = ask(monkeypatch, {"plan": PLAN, "verify": VERIFIED})
    ran_a_command(host, "go_live")
    host.current_op_hash = "provision"
    assert early_proof.early_plan() is None and service.pending.waits == 0
    early_proof.settle()
    early_proof.settle()
    assert service.pending.waits == 1  # once, however often the steps settle


@pytest.mark.parametrize("peer_changed", [False, True])
def test_a_cluster_replicas_answer_is_stale_once_any_host_of_the_run_changed(
    host: Host, monkeypatch: pytest.MonkeyPatch, peer_changed: bool
) -> None:
    """A replica's proof reaches its peers and ZooKeeper: a command on another host of the run
    after the ask (a peer going live, ZooKeeper restarted) makes both steps ask again."""
    peer = Host()
    peer.name = "early-proof-peer"
    host.state = peer.state = RunState([host, peer])
    host.current_op_hash = "users"
    ask(monkeypatch, {"plan": PLAN, "verify": VERIFIED}, Settings(spec=Spec(cluster="logs"), spec_data={}))
    if peer_changed:
        ran_a_command(peer, "go_live")
    host.current_op_hash = "provision"
    assert early_proof.early_plan() == (None if peer_changed else PLAN)
    host.current_op_hash = "verify"
    assert early_proof.early_verification() == (None if peer_changed else (VERIFIED, FINGERPRINT))


def test_a_host_changed_before_its_audit_asks_for_nothing_early(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    ran_a_command(host, "go_live")
    service = ask(monkeypatch, {"plan": PLAN, "verify": VERIFIED})
    assert service.sent == []
    assert early_proof.early_plan() is None and early_proof.early_verification() is None


def test_nothing_to_prove_asks_for_nothing(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    service = ask(monkeypatch, None, Settings(verify=False, spec=Spec(()), spec_data={}))
    assert service.sent == []


def test_a_plan_that_changes_the_server_leaves_the_verification_to_its_step(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    would = {"ok": True, "changed": False, "outcomes": [{"outcome": "would create", "target": "app_logs.requests"}]}
    ask(monkeypatch, {"plan": would, "verify": None})
    assert early_proof.early_plan() == would
    assert early_proof.early_verification() is None


def test_a_helper_that_failed_fails_both_steps_naming_why(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    ask(monkeypatch, None, why="the deploy's helper process ended")
    plan = early_proof.early_plan()
    assert plan is not None and not plan["ok"] and plan["errors"] == ["the deploy's helper process ended"]
    verified = early_proof.early_verification()
    assert verified is not None and not verified[0]["ok"]
    assert verified[0]["checks"][0]["detail"] == "the deploy's helper process ended"


def test_another_run_never_takes_this_runs_answer(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    ask(monkeypatch, {"plan": PLAN, "verify": VERIFIED})
    later = Host()
    with ctx_host.use(later):
        assert early_proof.early_plan() is None and early_proof.early_verification() is None


# --- the helper child's side --------------------------------------------------------------


def test_the_child_verifies_beside_the_plan_and_answers_it_only_when_the_plan_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    alters = {"ok": True, "outcomes": [{"outcome": "would alter"}]}
    plans = itertools.chain([PLAN, alters, {"ok": False, "outcomes": []}], itertools.repeat(PLAN))

    def plan(body: dict[str, Any]) -> dict[str, Any]:
        asked.append(f"plan {body['mode']}")
        return next(plans)

    def verify(body: dict[str, Any]) -> dict[str, Any]:
        asked.append("verify")
        return VERIFIED

    monkeypatch.setattr(apply, "answer", plan)
    monkeypatch.setattr(deployment, "answer", verify)
    body = ProofRequest({}, "10.0.0.5").body()
    assert proof_answer.answer(body) == {"plan": PLAN, "verify": VERIFIED}
    # would alter: applied and verified again by the steps; the early verification is not answered
    assert proof_answer.answer(body) == {"plan": alters, "verify": None}
    assert proof_answer.answer(body)["verify"] is None  # a plan refused: the host fails at its step
    assert sorted(asked) == ["plan plan"] * 3 + ["verify"] * 3
    asked.clear()
    assert proof_answer.answer(ProofRequest({}, "10.0.0.5", verify=False).body()) == {"plan": PLAN, "verify": None}
    assert asked == ["plan plan"]  # nothing verified where the request asks for no verification
    assert proof_answer.answer(ProofRequest({}, "10.0.0.5", plan=False).body()) == {"plan": None, "verify": VERIFIED}
