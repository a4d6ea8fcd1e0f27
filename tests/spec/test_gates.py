"""Version gates declared on the field (hardhouse.spec.gates): every gate names a feature the
version table knows, null means "where the target has it", and asking for the feature on a
target without it is refused at the field, with the declaration's fix."""

from __future__ import annotations

import copy
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.hostnames import host_name_problem
from hardhouse.spec import load_spec
from hardhouse.spec.errors import SpecError
from hardhouse.spec.gates import Gate, gate, refusals, wanted
from hardhouse.spec.model import HardeningSpec
from tests.helpers import VALID_SPEC


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for field in model.model_fields.values():
        stack: list[Any] = [field.annotation]
        while stack:
            candidate = stack.pop()
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate not in seen:
                _models(candidate, seen)
            stack.extend(typing.get_args(candidate))
    return seen


def test_every_gate_names_a_feature_of_the_version_table() -> None:
    gates = [
        (model.__name__, name, item)
        for model in _models(HardeningSpec, set())
        for name, field in model.model_fields.items()
        for item in field.metadata
        if isinstance(item, Gate)
    ]
    assert len(gates) >= 15
    assert [where for *where, item in gates if item.feature not in versions.FEATURES] == []


def spec_at(version: str, **changes: Any) -> HardeningSpec:
    data = copy.deepcopy(VALID_SPEC)
    data["clickhouse_version"] = version
    data.update(changes)
    return load_spec(data)


@pytest.mark.parametrize(("version", "expected"), [("18.16", False), ("22.8", True)])
def test_null_means_where_the_target_has_it(version: str, expected: bool) -> None:
    spec = spec_at(version)
    assert spec.refuse_insecure_auth is None
    assert wanted(spec, "refuse_insecure_auth", spec.version) is expected
    assert wanted(spec_at(version, refuse_insecure_auth=False), "refuse_insecure_auth", spec.version) is False


def test_asking_on_a_target_without_it_is_refused_with_the_declared_fix() -> None:
    spec = spec_at("22.8", refuse_insecure_auth=True)
    assert refusals(spec, "refuse_insecure_auth", spec.version) == []
    with pytest.raises(SpecError) as refused:
        spec_at("18.16", refuse_insecure_auth=True)
    problem = next(p for p in refused.value.problems if p.path == "refuse_insecure_auth")
    assert problem.problem == versions.needs_message("refuse_insecure_auth", versions.LEGACY)
    assert problem.fix == gate(spec, "refuse_insecure_auth").fix


def test_a_field_without_a_gate_says_so() -> None:
    with pytest.raises(LookupError):
        gate(spec_at("24.8"), "listen_hosts")


@pytest.mark.parametrize(
    ("name", "in_spec", "as_target"),
    [
        ("ch1.logs.example", True, True),
        ("clickhouse_1", False, True),  # container names: a target may hold '_', a peer's name may not
        ("-ch1.example", False, False),
        ("ch1..example", False, False),
        ("x" * 64 + ".example", False, False),
        ("x" * 254, False, False),
    ],
)
def test_one_host_name_grammar_for_the_spec_and_the_probe(name: str, in_spec: bool, as_target: bool) -> None:
    assert (host_name_problem(name) is None) is in_spec
    assert (host_name_problem(name, underscore=True) is None) is as_target
