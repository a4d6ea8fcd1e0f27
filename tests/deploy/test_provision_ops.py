"""The deploy's log database operation with the child's answer given: nothing to do is no
change, a plan with changes yields the apply as the operation's command (a change), a refusal
fails the host with each refusal listed; and it runs only when executing."""

from __future__ import annotations

from typing import Any

import pytest
from pyinfra.api import FunctionCommand
from pyinfra.context import ctx_host

from hardhouse.deploy import provision_ops
from hardhouse.deploy.settings import DATA_DEFAULTS, read_settings
from tests.deploy.test_operations import FakeHost
from tests.provision.scenarios import modern_spec

MATCHED = {
    "ok": True,
    "changed": False,
    "errors": [],
    "outcomes": [
        {"target": "logs", "outcome": "matched", "detail": "the database exists"},
        {"target": "logs.log_stream", "outcome": "matched", "detail": "2 columns, ..."},
    ],
}
PLANNED = {
    "ok": True,
    "changed": False,
    "errors": [],
    "outcomes": [
        {"target": "logs", "outcome": "would create", "detail": "missing: CREATE DATABASE IF NOT EXISTS logs"},
        {"target": "logs.log_stream", "outcome": "would create", "detail": "missing: CREATE TABLE ..."},
    ],
}
APPLIED = {
    "ok": True,
    "changed": True,
    "errors": [],
    "outcomes": [
        {"target": "logs", "outcome": "created", "detail": "missing: CREATE DATABASE IF NOT EXISTS logs"},
        {"target": "logs.log_stream", "outcome": "created", "detail": "missing: CREATE TABLE ..."},
    ],
}
REFUSED = {
    "ok": False,
    "changed": False,
    "errors": ["nothing was changed: a refusal or an error holds back the whole plan"],
    "outcomes": [
        {"target": "logs", "outcome": "matched", "detail": "the database exists"},
        {"target": "logs.log_stream.message", "outcome": "refused", "detail": "the column is String, ..."},
        {"target": "logs.log_stream.level", "outcome": "held back", "detail": "ALTER TABLE ..."},
    ],
}


class Recorder(FakeHost):
    def __init__(self, executing: bool = True):
        super().__init__({}, {})
        self.state.is_executing = executing
        self.styled: list[str] = []

    def log_styled(self, message: str, **kwargs: Any) -> None:
        self.styled.append(message)


@pytest.fixture
def settings() -> Any:
    return read_settings({**DATA_DEFAULTS, "hardhouse_spec": modern_spec("24.8")})


def run(settings: Any, answers: dict[str, dict[str, Any]], host: Recorder, monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list[str] = []

    def fake(call: Any, mode: str) -> dict[str, Any]:
        calls.append(mode)
        return answers[mode]

    monkeypatch.setattr(provision_ops, "run_provision", fake)
    with ctx_host.use(host):
        commands = list(provision_ops.provision_log_databases._inner(settings=settings, ca=None))
    host.calls = calls  # type: ignore[attr-defined]
    return commands


def test_nothing_to_do_is_no_change(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Recorder()
    assert run(settings, {"plan": MATCHED}, host, monkeypatch) == []
    assert host.noops == ["log databases match the spec: logs, logs.log_stream"]
    assert host.calls == ["plan"]  # type: ignore[attr-defined]


def test_a_plan_with_changes_yields_the_apply(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Recorder()
    (command,) = run(settings, {"plan": PLANNED, "apply": APPLIED}, host, monkeypatch)
    assert isinstance(command, FunctionCommand) and host.calls == ["plan"]  # type: ignore[attr-defined]
    assert "ProvisionCall(10.0.0.5)" in repr(command)  # -vvv shows the address, never the spec
    assert command.function(None, host, *command.args) is True
    assert host.logs == [
        "log databases: created logs (missing: CREATE DATABASE IF NOT EXISTS logs)",
        "log databases: created logs.log_stream (missing: CREATE TABLE ...)",
    ]


def test_a_refusal_fails_the_host_with_each_refusal_listed(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Recorder()
    (command,) = run(settings, {"plan": REFUSED}, host, monkeypatch)
    assert command.function(None, host, *command.args) is False
    assert host.styled == [
        "log databases not provisioned (1 refused or failed; nothing else was changed):",
        "  REFUSED HH-DATA-1 logs.log_stream.message: the column is String, ...",
        "  ERROR nothing was changed: a refusal or an error holds back the whole plan",
    ]


def test_a_failed_apply_fails_the_host(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Recorder()
    failed = {"ok": False, "changed": False, "outcomes": [], "errors": ["as owner admin: Code: 497. ..."]}
    (command,) = run(settings, {"plan": PLANNED, "apply": failed}, host, monkeypatch)
    assert command.function(None, host, *command.args) is False
    assert host.styled[-1] == "  ERROR as owner admin: Code: 497. ..."


def test_only_when_executing(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Recorder(executing=False)
    assert run(settings, {}, host, monkeypatch) == []
    assert host.calls == []  # type: ignore[attr-defined]


def test_no_answer_from_the_child_is_a_failure(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    class Silent:
        def call(self, *args: Any, **kwargs: Any) -> tuple[None, str]:
            return None, "RuntimeError: boom"

    monkeypatch.setattr(provision_ops, "SERVICE", Silent())
    answer = provision_ops.run_provision(provision_ops.ProvisionCall(settings, None), "plan")
    assert answer["ok"] is False and answer["errors"] == ["RuntimeError: boom"]
