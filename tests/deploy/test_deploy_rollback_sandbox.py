"""hardhouse_on_verify_failure: rollback, end to end over SSH on a fresh sandbox host.

A good spec is deployed and verified. Then a change that goes live healthy but fails the
deploy's verification (no user may log in from the deploy machine any more) is rolled back
by the host: the previous users file is live again and the previous user logs in again over
verified TLS. A re-run of the good spec then changes nothing. Claims are checked from this
machine with a real native client.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Iterator
from typing import Any

import pytest

# The sandbox helpers and the tooling fixture (Docker engine started, ssh-keygen, pyinfra).
from tests.deploy.test_deploy_sandbox import (  # noqa: F401 - tooling is a fixture used by name
    deploy,
    docker_exec,
    grand_total,
    host_data,
    ingest,
    make_sandbox,
    tooling,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

USERS_FILE = "/etc/clickhouse-server/users.d/zz-hardhouse-users.xml"


@pytest.fixture(scope="module")
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    request.getfixturevalue("tooling")
    made = make_sandbox(tmp_path_factory, "rollback")
    try:
        made.up(1)
        yield made
    finally:
        made.down()


def test_a_change_verification_refuses_is_rolled_back_and_the_previous_config_serves(sandbox: Any) -> None:
    host, data = host_data(sandbox)
    data["hardhouse_on_verify_failure"] = "rollback"
    sandbox.write_inventory([host], {host.name: data})
    first = deploy(sandbox)
    assert first.returncode == 0, first.output[-4000:]
    good_users = docker_exec(host.container, f"cat {USERS_FILE}")
    assert ingest(sandbox, "SELECT 1") == [(1,)]

    # Healthy on the host, refused by the verification: nobody may log in from here any more.
    broken = copy.deepcopy(data)
    elsewhere = str(list(ipaddress.ip_network(str(sandbox.subnet)).subnets(prefixlen_diff=2))[3])
    for user in broken["hardhouse_spec"]["users"]:
        user["networks"] = [elsewhere]
    # Without an owner in reach the log database could not be created from here, and the deploy
    # would refuse before going live: this change must go live, so it has no log database.
    del broken["hardhouse_spec"]["log_databases"]
    sandbox.write_inventory([host], {host.name: broken})
    failed = deploy(sandbox)
    assert failed.returncode != 0
    assert "verification from the deploy machine failed" in failed.output
    assert "rolling back (on_verify_failure: rollback)" in failed.output
    assert "rolled back: the previous configuration serves again; the deploy failed" in failed.output
    assert docker_exec(host.container, f"cat {USERS_FILE}") == good_users
    assert ingest(sandbox, "SELECT 1") == [(1,)]  # the previous user logs in again from here

    # Back to the good spec: it is what runs, so nothing changes and nothing is undone.
    sandbox.write_inventory([host], {host.name: data})
    again = deploy(sandbox)
    assert again.returncode == 0, again.output[-4000:]
    assert grand_total(again.output)["error"] in ("0", "-")
    assert not re.search(r"going live \((restart|reload|start):", again.output)
    assert "held" not in docker_exec(host.container, "ls /var/lib/hardhouse").split()
