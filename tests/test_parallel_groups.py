"""The parallel run's grouping and order (tests/conftest.py) name modules that exist: a renamed
module would silently leave its ZooKeeper JVM to compete with another, or a long module to the
end of the run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LONGEST_SCOPES, ZOOKEEPER_MODULES, next_scope, scope_of

ROOT = Path(__file__).resolve().parents[1]


def test_every_zookeeper_module_exists() -> None:
    assert all((ROOT / module).is_file() for module in ZOOKEEPER_MODULES), sorted(ZOOKEEPER_MODULES)


def test_a_module_is_its_own_scope_and_the_zookeeper_modules_share_one() -> None:
    assert scope_of("tests/spec/test_model.py::test_x[a::b]") == "tests/spec/test_model.py"
    assert {scope_of(f"{module}::test_x") for module in ZOOKEEPER_MODULES} == {"zookeeper"}


def test_every_long_scope_named_exists() -> None:
    named = set(LONGEST_SCOPES) - {"zookeeper"}
    assert all((ROOT / module).is_file() for module in named), sorted(named)
    assert not named & ZOOKEEPER_MODULES  # they run as the one "zookeeper" scope


def test_the_longest_known_scope_goes_first_then_the_one_with_most_tests() -> None:
    pending = {
        "tests/spec/test_model.py": dict.fromkeys("abcdefgh", False),
        "tests/spec/test_load.py": dict.fromkeys("abc", False),
        "tests/audit/test_oracle.py": dict.fromkeys("a", False),
        "zookeeper": dict.fromkeys("ab", False),
    }
    order = []
    while pending:
        scope = next_scope(pending)
        order.append(scope)
        del pending[scope]
    assert order == ["zookeeper", "tests/audit/test_oracle.py", "tests/spec/test_model.py", "tests/spec/test_load.py"]
