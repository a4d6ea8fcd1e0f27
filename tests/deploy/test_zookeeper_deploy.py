"""The ZooKeeper deploy over SSH against a fresh host container (plain Debian, sshd, no
ZooKeeper), driven as an operator drives it: `pyinfra inventories/sandbox.py
deploy/zookeeper.py -y` in a subprocess, with an inventory whose one host has only
`hardhouse_zookeeper` data.

One host (module fixture) goes through a life in order: bad input refused with nothing
installed -> hardened at -vvv (no password or digest in the output) -> proven from this
machine with the probe's own ZooKeeper client over the sandbox network -> a re-run with no
change -> a squatted root reported and left alone. Every container and network is removed
by the fixture.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import re
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardhouse.deploy.zookeeper import CREATE_SCRIPT
from hardhouse.deploy.zookeeper_settings import digest
from hardhouse.probe.zookeeper import four_letter_words
from hardhouse.testing.clients import port_open
from hardhouse.testing.zookeeper import NO_AUTH, PERM_ALL, ZooKeeperClient, ZooKeeperError
from tests.deploy.test_deploy_sandbox import _appears, docker_exec, grand_total, make_sandbox, tooling

pytestmark = [pytest.mark.integration, pytest.mark.docker]

__all__ = ["tooling"]  # the Docker/ssh-keygen/pyinfra check, a module fixture used below

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_FILE = ROOT / "deploy" / "zookeeper.py"
USER = "clickhouse"
PORT = 2181
DEPLOY_TIMEOUT = 900  # the first run installs a JRE from the Debian mirror
OUTPUT_CAP = 4 * 1024 * 1024  # pyinfra's output at -vvv is read at most this far


class ZooKeeperHost:
    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        (self.host,) = sandbox.hosts()
        self.password_file = sandbox.state / "zk-password"
        self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self.password_file.chmod(0o600)

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def address(self) -> str:
        return str(self.host.address)

    def data(self, **zookeeper: Any) -> dict[str, Any]:
        """SSH settings and only hardhouse_zookeeper (no spec: this host runs no ClickHouse)."""
        settings = {
            "listen": self.address,
            "clickhouse_identity": {"user": USER, "password_file": str(self.password_file)},
            **zookeeper,
        }
        return {**self.sandbox.ssh_data(self.host), "hardhouse_zookeeper": settings}

    def deploy(self, data: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
        self.sandbox.write_inventory([self.host], {self.host.name: data})
        command = self.sandbox.pyinfra_command(*args)
        command[2] = str(DEPLOY_FILE)
        # Output to a file, read back at most OUTPUT_CAP: memory stays bounded, the timeout holds.
        with tempfile.TemporaryFile() as log:
            code = subprocess.run(
                command,
                cwd=ROOT,
                env=self.sandbox.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=DEPLOY_TIMEOUT,
            ).returncode
            log.seek(0)
            output = log.read(OUTPUT_CAP).decode(errors="replace")
        return subprocess.CompletedProcess(command, code, output, "")

    def container(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "exec", self.host.container, "bash", "-c", script], capture_output=True, text=True, timeout=60
        )


@pytest.fixture(scope="module")
def zk_host(tooling: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperHost]:
    sandbox = make_sandbox(tmp_path_factory, "zk")
    try:
        sandbox.up(1)
        yield ZooKeeperHost(sandbox)
    finally:
        sandbox.down()


def listeners(zk: ZooKeeperHost) -> set[tuple[str, int]]:
    """Every TCP socket listening in the container, from /proc/net (no ss on a minimal host),
    without sshd (22) and Docker's embedded DNS (127.0.0.11)."""
    found = set()
    for line in docker_exec(zk.host.container, "cat /proc/net/tcp /proc/net/tcp6").splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A":  # 0A: LISTEN
            continue
        address_hex, port_hex = fields[1].split(":")
        port = int(port_hex, 16)
        raw = bytes.fromhex(address_hex)
        # /proc/net prints each 32-bit word in host (little-endian) order.
        ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        address = ipaddress.ip_address(ordered)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if port == 22 or str(address) == "127.0.0.11":
            continue
        found.add((str(address), port))
    return found


def zookeeper_installed(zk: ZooKeeperHost) -> bool:
    return (
        zk.container("dpkg-query -W -f '${Status}' zookeeper 2>/dev/null | grep -q 'install ok installed'").returncode
        == 0
    )


def test_bad_input_names_the_field_and_touches_nothing(zk_host: ZooKeeperHost) -> None:
    for bad, field, says in (
        ({"listen": "0.0.0.0"}, "hardhouse_zookeeper.listen", "listens on every interface"),
        ({"four_letter_words": ["ruok", "crst"]}, "hardhouse_zookeeper.four_letter_words", "crst"),
    ):
        result = zk_host.deploy(zk_host.data(**bad))
        assert result.returncode != 0, result.stdout[-3000:]
        assert field in result.stdout and says in result.stdout, result.stdout[-3000:]
    assert not zookeeper_installed(zk_host)
    assert zk_host.container("test -e /etc/zookeeper || test -e /etc/default/zookeeper").returncode != 0


def test_one_run_hardens_zookeeper_without_the_password_in_the_output(zk_host: ZooKeeperHost) -> None:
    result = zk_host.deploy(zk_host.data(), "-vvv")
    output = result.stdout
    assert result.returncode == 0, output[-5000:]
    assert ">>> bash -c" in output or ">>> sh -c" in output  # -vvv really printed the commands
    identity = digest(USER, zk_host.password)
    for secret in (zk_host.password, identity.split(":", 1)[1]):
        assert not _appears(secret, output), "the identity's password or digest appears in the -vvv output"
    # Nor on the host: no file under /etc, /var/lib or /var/log holds the password.
    found = zk_host.container(f"grep -r -l -F -e {zk_host.password!r} /etc /var/lib /var/log")
    assert found.returncode == 1 and not found.stdout, found.stdout


def test_anonymous_clients_are_refused_under_the_root_and_the_identity_is_not(zk_host: ZooKeeperHost) -> None:
    with ZooKeeperClient(zk_host.address, PORT, timeout=5, deadline=30) as anonymous:
        for attempt in (
            lambda: anonymous.get_children("/clickhouse"),
            lambda: anonymous.get_data("/clickhouse"),
            lambda: anonymous.create("/clickhouse/squat"),
        ):
            with pytest.raises(ZooKeeperError) as refused:
                attempt()
            assert refused.value.code == NO_AUTH
    with ZooKeeperClient(zk_host.address, PORT, timeout=5, deadline=30) as clickhouse:
        clickhouse.add_auth("digest", f"{USER}:{zk_host.password}")
        assert clickhouse.get_acl("/clickhouse") == [(PERM_ALL, "digest", digest(USER, zk_host.password))]
        clickhouse.create("/clickhouse/tables", acl=[(PERM_ALL, "digest", digest(USER, zk_host.password))])
        assert clickhouse.get_children("/clickhouse") == ["tables"]


def test_zookeepers_own_surface_is_closed(zk_host: ZooKeeperHost) -> None:
    answers = asyncio.run(four_letter_words(zk_host.address, PORT, tls=False, timeout=3.0))
    # ruok is listed; ZooKeeper 3.8 answers srvr whatever the list says.
    assert {word for word, answer in answers.items() if answer is not None} <= {"ruok", "srvr"}, answers
    assert answers["ruok"] is not None and answers["stat"] is None and answers["envi"] is None
    # No admin server, no JMX agent: the client port on the one address is all that listens.
    assert not port_open(zk_host.address, 8080)
    assert listeners(zk_host) == {(zk_host.address, PORT)}
    inside = zk_host.container(f"timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{PORT}'")
    assert inside.returncode != 0  # loopback inside the host is not served either
    config = docker_exec(zk_host.host.container, "cat /etc/zookeeper/conf/zoo.cfg /etc/default/zookeeper")
    assert "admin.enableServer=false" in config and "-XX:-ManagementServer" in config


def test_a_rerun_changes_nothing_and_restarts_nothing(zk_host: ZooKeeperHost) -> None:
    pid = docker_exec(zk_host.host.container, "cat /var/run/zookeeper/zookeeper.pid").strip()
    result = zk_host.deploy(zk_host.data())
    assert result.returncode == 0, result.stdout[-3000:]
    totals = grand_total(result.stdout)
    assert totals["success"] == "-" and totals["error"] == "-", totals
    assert docker_exec(zk_host.host.container, "cat /var/run/zookeeper/zookeeper.pid").strip() == pid


def test_a_root_taken_with_a_world_acl_is_reported_and_left_alone(zk_host: ZooKeeperHost) -> None:
    with ZooKeeperClient(zk_host.address, PORT, timeout=5, deadline=30) as squatter:
        squatter.create("/squatted")  # world:anyone cdrwa, before the deploy knew the root
    result = zk_host.deploy(zk_host.data(roots=["/clickhouse", "/squatted"]))
    assert result.returncode != 0, result.stdout[-3000:]
    assert re.search(r"/squatted: exists and anonymous clients may read its ACL \(world:anyone cdrwa\)", result.stdout)
    assert "deleteall /squatted" in result.stdout
    with ZooKeeperClient(zk_host.address, PORT, timeout=5, deadline=30) as anonymous:
        assert anonymous.get_acl("/squatted") == [(PERM_ALL, "world", "anyone")]


def test_a_root_that_appears_between_the_read_and_the_create_is_not_a_failure(zk_host: ZooKeeperHost) -> None:
    """The race a cluster deploy meets: a replica goes live and creates /clickhouse after the
    roots were read and before the create. Debian's zkCli.sh says so; the create step accepts
    it (the deploy then reads the root's ACL again) and changes nothing."""
    result = subprocess.run(
        ["docker", "exec", zk_host.host.container, "bash", "-c", CREATE_SCRIPT.text, "hardhouse-zk-create"]
        + [f"{zk_host.address}:{PORT}", "/clickhouse", "world:anyone:cdrwa"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/clickhouse exists already (created meanwhile)" in result.stdout
    with ZooKeeperClient(zk_host.address, PORT, timeout=5, deadline=30) as clickhouse:
        clickhouse.add_auth("digest", f"{USER}:{zk_host.password}")
        assert clickhouse.get_acl("/clickhouse") == [(PERM_ALL, "digest", digest(USER, zk_host.password))]


def test_a_changed_word_list_restarts_once(zk_host: ZooKeeperHost) -> None:
    before = docker_exec(zk_host.host.container, "cat /var/run/zookeeper/zookeeper.pid").strip()
    data = zk_host.data(four_letter_words=["ruok", "isro"])
    changed = zk_host.deploy(copy.deepcopy(data))
    assert changed.returncode == 0, changed.stdout[-3000:]
    after = docker_exec(zk_host.host.container, "cat /var/run/zookeeper/zookeeper.pid").strip()
    assert after != before
    answers = asyncio.run(four_letter_words(zk_host.address, PORT, tls=False, timeout=3.0))
    assert answers["isro"] is not None and answers["stat"] is None
    again = zk_host.deploy(data)
    assert again.returncode == 0 and grand_total(again.stdout)["success"] == "-", again.stdout[-3000:]
