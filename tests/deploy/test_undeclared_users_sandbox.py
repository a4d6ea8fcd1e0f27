"""Adopting hardhouse on a server that already has an application's user, proven live: one
fresh sandbox host (plain Debian, sshd) with Debian's ClickHouse, exposed on every interface,
and in its stock users.xml the issue's `grafana`: a plaintext `<password>` (made per run, never
printed or written in the repository) and `<ip>::/0</ip>`. The deploy runs exactly as an
operator runs it (`pyinfra inventories/sandbox.py deploy/harden.py -y`), and each claim is
checked as a user sees it: the deploy's exit status and lines, and grafana's native-protocol
logins from this machine over a real socket.

In order, on the same host: refuse (the default) fails before anything is touched, and grafana
still logs in as before; keep without a waiver goes live but fails the host naming the controls
grafana fails; keep with waivers passes, visibly waived, and grafana logs in over TLS; remove
passes with every control passing and grafana's login is refused (code 192, unknown user).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from hardhouse.testing.clients import native_query, port_open
from hardhouse_dev.sandbox import sandbox_waivers
from tests.deploy.test_deploy_sandbox import (
    _appears,
    deploy,
    docker_exec,
    host_data,
    make_sandbox,
    start_exposed,
    tooling,  # noqa: F401 - a fixture this module's host needs
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

USERS_XML = "/etc/clickhouse-server/users.xml"
REFUSED_UNKNOWN_USER = 192  # 18.16: no such user (modern servers answer 516)
# An application's user as an operator finds it in the stock users.xml.
GRAFANA = """    <grafana>
            <password>{password}</password>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </grafana>
"""


@pytest.fixture(scope="module")
def grafana_password() -> str:
    return secrets.token_urlsafe(18)


@pytest.fixture(scope="module")
def adopted(tooling: None, tmp_path_factory: pytest.TempPathFactory, grafana_password: str) -> Iterator[Any]:  # noqa: F811
    """Debian's stock ClickHouse, open on every interface, with grafana planted in users.xml
    before hardhouse ever ran; grafana logs in anonymously-reachable over plaintext native."""
    sandbox = make_sandbox(tmp_path_factory, "adopt")
    try:
        sandbox.up(1)
        (host,) = sandbox.hosts()
        docker_exec(
            host.container,
            "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
            "clickhouse-server clickhouse-client >/dev/null 2>&1 "
            "|| (apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "
            "--no-install-recommends clickhouse-server clickhouse-client >/dev/null)",
        )
        # The password goes into the container on stdin, never on a command line.
        stock = docker_exec(host.container, f"cat {USERS_XML}")
        planted = stock.replace("</users>", GRAFANA.format(password=grafana_password) + "    </users>", 1)
        assert planted != stock
        plant = subprocess.run(
            ["docker", "exec", "-i", host.container, "sh", "-c", f"cat > {USERS_XML}"],
            input=planted,
            capture_output=True,
            text=True,
        )
        assert plant.returncode == 0, plant.stderr
        start_exposed(host)
        yield sandbox
    finally:
        sandbox.down()


def grafana_login(sandbox: Any, password: str, port: int = 9440) -> int | None:
    """grafana's native-protocol login from this machine: None when accepted, else the server's
    error code. Over TLS (certificate checked against the sandbox CA) on 9440, plaintext on 9000."""
    from hardhouse.clickhouse.driver import ServerException

    (host,) = sandbox.hosts()
    tls = {"tls": True, "ca": sandbox.ca_dir / "ca.crt"} if port == 9440 else {}
    try:
        assert native_query(host.address, port, "SELECT 1", user="grafana", password=password, **tls) == [(1,)]
    except ServerException as error:
        return int(error.code)
    return None


def grafana_line(sandbox: Any) -> int:
    (host,) = sandbox.hosts()
    listing = docker_exec(host.container, f"grep -n '<grafana>' {USERS_XML}")
    return int(listing.split(":", 1)[0])


def with_data(sandbox: Any, **changes: Any) -> None:
    """Set the host's undeclared_users and waivers (None: the sandbox's own) in the sandbox inventory."""
    host, data = host_data(sandbox)
    mode = changes.get("undeclared_users")
    if mode is None:
        data["hardhouse_spec"].pop("undeclared_users", None)
    else:
        data["hardhouse_spec"]["undeclared_users"] = mode
    # The sandbox's own waivers (an 18.16 writer keeps every table function) stay beside the test's.
    data["hardhouse_waivers"] = sandbox_waivers() + (changes.get("waivers") or [])
    sandbox.write_inventory([host], {host.name: json.loads(json.dumps(data))})


def no_secret_in(output: str, password: str) -> None:
    assert not _appears(password, output), "grafana's password appears in the deploy's output"


def test_refuse_fails_before_anything_is_touched_and_names_the_user(adopted: Any, grafana_password: str) -> None:
    (host,) = adopted.hosts()
    assert grafana_login(adopted, grafana_password, 9000) is None  # the application logs in, as before hardhouse
    with_data(adopted)  # the default: refuse
    result = deploy(adopted)
    assert result.returncode != 0, result.output[-3000:]
    line = grafana_line(adopted)
    assert "the host has 1 user the spec does not declare (undeclared_users: refuse); nothing was changed:" in (
        result.output
    ), result.output[-3000:]
    assert f"  grafana ({USERS_XML}:{line})" in result.output
    assert "Fix: declare each in hardhouse_spec.users" in result.output
    assert "going live (" not in result.output and "verified from the deploy machine" not in result.output
    no_secret_in(result.output, grafana_password)
    # Untouched: nothing staged, no hardhouse file live, the stock server still serves grafana.
    state = docker_exec(
        host.container,
        "test -e /var/lib/hardhouse && echo staged || echo nothing-staged; "
        "ls /etc/clickhouse-server/config.d /etc/clickhouse-server/users.d 2>/dev/null; true",
    )
    assert "nothing-staged" in state and "zz-hardhouse" not in state, state
    assert grafana_login(adopted, grafana_password, 9000) is None


def test_refuse_judges_the_tree_the_first_command_read_when_the_host_is_proven_in_full(
    adopted: Any, grafana_password: str
) -> None:
    """With no stamp trusted (a trust period of 0, as a cluster always runs), the deploy's first
    command reads the tree with the host's state (hardhouse.deploy.live_tree): the users check
    judges that read, so the refusal comes after one remote command, and at -vvv (every
    command and fact output printed) grafana's password still shows nowhere."""
    with_data(adopted)
    result = deploy(adopted, "-vvv", "--data", "hardhouse_trust_verified_for=0")
    assert result.returncode != 0, result.output[-3000:]
    assert f"  grafana ({USERS_XML}:{grafana_line(adopted)})" in result.output, result.output[-3000:]
    assert "going live (" not in result.output
    commands = re.findall(r"^\s*\[sandbox-1\]\s+>>> ", result.output, re.MULTILINE)
    assert len(commands) == 1, result.output[-3000:]
    no_secret_in(result.output, grafana_password)


def test_keep_without_a_waiver_fails_the_host_naming_the_controls(adopted: Any, grafana_password: str) -> None:
    with_data(adopted, undeclared_users="keep")
    result = deploy(adopted)
    assert result.returncode != 0, result.output[-3000:]
    line = grafana_line(adopted)
    assert "undeclared_users: keep: 1 user the spec does not declare stay, judged by every control: grafana" in (
        result.output
    ), result.output[-3000:]
    assert "fails 2 controls (each fails the host unless a waiver in hardhouse_waivers accepts it):" in result.output
    assert f"FAIL HH-AUTH-2 user grafana from users.xml:{line + 1}: has a plaintext <password>" in result.output
    assert f"FAIL HH-NET-1 user grafana ::/0 from users.xml:{line + 2}: <ip> admits every IPv6 address" in result.output
    assert "verified from the deploy machine" not in result.output  # failed before any password was sent
    no_secret_in(result.output, grafana_password)
    # What keep means, seen from outside: the plaintext port is closed, grafana logs in over TLS.
    (host,) = adopted.hosts()
    assert not port_open(host.address, 9000)
    assert grafana_login(adopted, grafana_password) is None


def test_keep_with_waivers_passes_visibly_waived(adopted: Any, grafana_password: str) -> None:
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waivers = [
        {"control": control, "reason": f"grafana until TICKET-7 ({control})", "expires": expires}
        for control in ("HH-AUTH-2", "HH-NET-1")
    ]
    with_data(adopted, undeclared_users="keep", waivers=waivers)
    result = deploy(adopted)
    assert result.returncode == 0, result.output[-4000:]
    line = grafana_line(adopted)
    assert re.search(
        r"audited /etc/clickhouse-server: \d+ files merged, no drift, every control passes or is waived \(",
        result.output,
    ), result.output[-3000:]
    assert (
        f"WAIVED HH-NET-1 user grafana ::/0 from users.xml:{line + 2}: <ip> admits every IPv6 address" in result.output
    )
    assert f"waiver (expires {expires}): grafana until TICKET-7 (HH-NET-1)" in result.output
    assert f"WAIVED HH-AUTH-2 user grafana from users.xml:{line + 1}" in result.output
    assert "verified from the deploy machine" in result.output
    no_secret_in(result.output, grafana_password)
    assert grafana_login(adopted, grafana_password) is None


def test_remove_takes_grafanas_login_away_and_every_control_passes(adopted: Any, grafana_password: str) -> None:
    (host,) = adopted.hosts()
    with_data(adopted, undeclared_users="remove")
    result = deploy(adopted, "--data", "hardhouse_trust_verified_for=0")
    assert result.returncode == 0, result.output[-4000:]
    line = grafana_line(adopted)
    assert (
        f"undeclared_users: remove: removing 1 user the spec does not declare: grafana ({USERS_XML}:{line})"
        in result.output
    ), result.output[-3000:]
    # The hardened host passes every control but the one the sandbox waives for every host.
    assert re.search(
        r"audited /etc/clickhouse-server: \d+ files merged, no drift, "
        r"every control passes or is waived \(.*, 1 waived\)",
        result.output,
    ), result.output[-3000:]
    assert "verified from the deploy machine" in result.output
    no_secret_in(result.output, grafana_password)
    assert grafana_login(adopted, grafana_password) == REFUSED_UNKNOWN_USER
    # In ClickHouse's own terms, from the name the deploy read on the host; users.xml is not edited.
    stock = docker_exec(host.container, "cat /etc/clickhouse-server/users.d/zz-hardhouse-stock-users.xml")
    assert '<grafana remove="1"/>' in stock and "<grafana>" in docker_exec(host.container, f"cat {USERS_XML}")
