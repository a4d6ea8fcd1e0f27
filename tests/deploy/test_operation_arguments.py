"""hardhouse.deploy.operation_arguments: pyinfra checks arguments against the same global
arguments and types, evaluated once."""

from __future__ import annotations

import pyinfra.api.arguments as arguments
import pyinfra.api.facts as facts
import pytest

from hardhouse.deploy import operation_arguments


@pytest.fixture
def pyinfra_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    # install() changes pyinfra's modules; the originals come back after the test.
    monkeypatch.setattr(arguments, "all_global_arguments", arguments.all_global_arguments)
    monkeypatch.setattr(facts, "all_global_arguments", facts.all_global_arguments)


@pytest.mark.usefixtures("pyinfra_arguments")
def test_the_same_arguments_and_types_once_evaluated() -> None:
    before = arguments.all_global_arguments()
    operation_arguments.install()
    operation_arguments.install()  # idempotent: the one list is kept
    after = arguments.all_global_arguments()
    assert after == before and len(after) > 10
    assert facts.all_global_arguments is arguments.all_global_arguments
    after.clear()  # a caller's own list: the next call still has them all
    assert arguments.all_global_arguments() == before
