"""The parallel run's grouping (tests/conftest.py) names modules that exist: a renamed module
would silently leave its ZooKeeper JVM to compete with another."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ZOOKEEPER_MODULES, scope_of

ROOT = Path(__file__).resolve().parents[1]


def test_every_zookeeper_module_exists() -> None:
    assert all((ROOT / module).is_file() for module in ZOOKEEPER_MODULES), sorted(ZOOKEEPER_MODULES)


def test_a_module_is_its_own_scope_and_the_zookeeper_modules_share_one() -> None:
    assert scope_of("tests/spec/test_model.py::test_x[a::b]") == "tests/spec/test_model.py"
    assert {scope_of(f"{module}::test_x") for module in ZOOKEEPER_MODULES} == {"zookeeper"}
