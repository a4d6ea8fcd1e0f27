"""Fixtures shared by every test package: valid spec data, passwords, and the ClickHouse image
the container tests run against (built locally from Debian packages unless
HARDHOUSE_CLICKHOUSE_IMAGE names one)."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from tests.helpers import PASSWORDS, VALID_SPEC, require


@pytest.fixture
def spec_dict() -> dict[str, Any]:
    return copy.deepcopy(VALID_SPEC)


@pytest.fixture
def environ() -> dict[str, str]:
    return dict(PASSWORDS)


@pytest.fixture(scope="session")
def clickhouse_image_name() -> str:
    """Overrides the plugin's fixture: the local Debian 18.16 image, built on first use."""
    from hardhouse.testing.containers import IMAGE_VARIABLE

    configured = os.environ.get(IMAGE_VARIABLE)
    if configured:
        return configured
    from hardhouse_dev.images import ImageError, ensure_docker_engine, ensure_image

    try:
        ensure_docker_engine()
        return ensure_image("clickhouse")
    except (ImageError, OSError) as error:
        require(False, f"no Docker engine or image: {error}")
        raise


# Modules that run ZooKeeper's JVM (and zkCli.sh, a JVM per call): kept on one worker when the
# suite runs in parallel (scripts/test: -n 3 --dist loadfile), as two of them at once starve each
# other of the 2 cores this project runs on (a zkCli.sh answer took over 60 s in one such run).
ZOOKEEPER_MODULES = frozenset(
    {
        "tests/probe/test_zookeeper_live.py",
        "tests/testing/test_zookeeper.py",
        "tests/cluster/test_live_18_16_cluster.py",
        "tests/deploy/test_cluster_deploy.py",
        "tests/deploy/test_zookeeper_deploy.py",
        "tests/deploy/test_deploy_systemd_sandbox.py",
    }
)


# The scopes that took longest in a full run on two cores (seconds, 2026-12-06), started
# first so that no long one is left for the end while the other workers idle. Only the order
# depends on these figures: a stale or missing one costs time, never a test. The rest follow
# by their number of tests, as pytest-xdist orders them.
LONGEST_SCOPES = {
    "zookeeper": 273,
    "tests/deploy/test_deploy_sandbox.py": 135,
    "tests/audit/test_oracle.py": 64,
    "tests/probe/test_hostile.py": 43,
    "tests/probe/test_weigh_hostile.py": 39,
    "tests/embedded/test_embedded_modern.py": 28,
    "tests/deploy/test_undeclared_users_sandbox.py": 22,
    "tests/deploy/test_deploy_rollback_sandbox.py": 22,
    "tests/deploy/test_hostscript.py": 21,
    "tests/audit/test_xmltree_hostile.py": 21,
    "tests/probe/test_zookeeper_hostile.py": 20,
    "tests/deploy/test_audit_fetch.py": 20,
    "tests/testing/test_containers.py": 18,
}


def scope_of(nodeid: str) -> str:
    """What one worker runs together: a test module (its module-scoped servers and sandboxes are
    made once, and its tests keep their order), or all the ZooKeeper modules."""
    module = nodeid.split("::", 1)[0]
    return "zookeeper" if module in ZOOKEEPER_MODULES else module


def next_scope(pending: dict[str, dict[str, bool]]) -> str:
    """The scope a free worker takes next: the longest known, then the one with most tests."""
    return max(pending, key=lambda scope: (LONGEST_SCOPES.get(scope, 0), len(pending[scope])))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadfile with the ZooKeeper modules as one scope, the longest scopes first.
    (pytest-xdist's loadgroup would say the first with markers, but with pytest 9 it no longer
    keeps a group on one worker.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            self.workqueue.move_to_end(next_scope(self.workqueue), last=False)
            super()._assign_work_unit(node)

    return ModuleScheduling(config, log)
