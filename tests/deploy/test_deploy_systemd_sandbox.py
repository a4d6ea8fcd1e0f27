"""The deploy's systemd path, live: sandbox hosts that boot systemd as PID 1 (the
`systemd-host` image), where Debian's own units run clickhouse-server
(/lib/systemd/system/clickhouse-server.service, Type=simple, User=clickhouse) and zookeeperd
(its init script, made a unit by systemd-sysv-generator).

One sandbox for the module (CI time): a ClickHouse host and a ZooKeeper-only host on one Docker
network, each deployed alone (`--limit`) with the real pyinfra deploy over SSH. The ClickHouse
host goes through a life in order: hardened and verified, its unit's main process the server;
a re-run trusted and changing nothing -> an operator's drop-in makes the next run prove the host
again -> a changed spec restarts the unit after a daemon-reload (the pending drop-in is in the
new server's environment) -> log database keys through the EnvironmentFile= drop-in -> a change
the server cannot serve rolled back, the unit active on the previous configuration. The
ZooKeeper host is hardened and restarted through systemctl. Every container and network is
removed by the fixture; values read from the hosts leave them only as digests or counts.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import ipaddress
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hardhouse.deploy import contract
from hardhouse.deploy import keys as hh_keys
from hardhouse.probe.zookeeper import four_letter_words
from hardhouse.testing.clients import native_query
from hardhouse.testing.zookeeper import NO_AUTH, ZooKeeperClient, ZooKeeperError
from tests.deploy.test_deploy_sandbox import (  # noqa: F401 - tooling is a fixture used by name
    deploy,
    docker_exec,
    grand_total,
    tooling,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

SERVICE = contract.SERVICE
STATE = "/var/lib/hardhouse"
APPLY = f"{STATE}/bin/hardhouse-apply"
LISTEN_FILE = "/etc/clickhouse-server/config.d/zz-hardhouse-listen.xml"
OPERATOR_DROPIN = f"{hh_keys.SYSTEMD_DROPIN_DIR}/50-operator.conf"
SKIPPED = "logins and log rights not re-proven: unchanged since verified at"
REPROVEN = "verified from the deploy machine at"
KEY_VARIABLE = "CH_LOGS_KEY"
ZK_PIDFILE = "/var/run/zookeeper/zookeeper.pid"
ZK_JVM = "[o]rg.apache.zookeeper.server"  # the bracket: pgrep's own shell does not match


@dataclass
class SystemdHosts:
    sandbox: Any
    zookeeper: Any  # SandboxHost
    clickhouse: Any
    data: dict[str, dict[str, Any]]
    operator_mark: str = ""  # not a secret: set in one test's drop-in, looked for in the next

    def deploy(self, host: Any, data: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        """The real deploy (deploy/harden.py) for one host; `data` replaces its inventory data."""
        if data is not None:
            self.data[host.name] = data
        self.sandbox.write_inventory([self.zookeeper, self.clickhouse], self.data)
        return deploy(self.sandbox, "--limit", host.name)


@pytest.fixture(scope="module")
def hosts(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdHosts]:
    request.getfixturevalue("tooling")
    from hardhouse_dev.sandbox import Sandbox, free_subnet, zookeeper_data

    tag = secrets.token_hex(3)
    sandbox = Sandbox(
        state=tmp_path_factory.mktemp("sandbox-systemd"),
        network=f"hh-test-systemd-{tag}",
        subnet=free_subnet(),
        prefix=f"hh-test-systemd-{tag}",
        systemd=True,
    )
    try:
        # The cluster layout's two containers (a ZooKeeper host and one more), each given its
        # own standalone data below: no replication, one deploy per host.
        zookeeper, clickhouse = sandbox.up(1, cluster=True)
        data = {
            zookeeper.name: {
                **sandbox.ssh_data(zookeeper),
                "hardhouse_spec": None,
                "hardhouse_zookeeper": zookeeper_data(zookeeper.address, sandbox.secrets_dir),
            },
            clickhouse.name: sandbox.host_data(clickhouse),
        }
        yield SystemdHosts(sandbox, zookeeper, clickhouse, data)
    finally:
        sandbox.down()


def unit(container: str, name: str = SERVICE) -> dict[str, str]:
    props = ("ActiveState", "MainPID", "InvocationID", "NeedDaemonReload")
    out = docker_exec(container, f"systemctl show {' '.join(f'-p {p}' for p in props)} {name}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def server_pid(container: str) -> str:
    pids = docker_exec(container, "pidof clickhouse-server || true").split()
    assert len(pids) == 1, f"{len(pids)} clickhouse-server processes"
    return pids[0]


def environ_digest(container: str, pid: str, variable: str) -> str:
    """SHA-256 of VARIABLE's value in process PID's environment (of b"" when it is not set),
    read as the process's own user (the container's root may not read another user's
    environment); only the digest leaves the container."""
    script = (
        f'user=$(stat -c %U /proc/{pid}) && setpriv --reuid="$user" --regid="$user" --init-groups '
        f"head -c 1048576 /proc/{pid}/environ | tr '\\0' '\\n' | sed -n 's/^{variable}=//p' | tr -d '\\n' "
        "| sha256sum | cut -c1-64"
    )
    return docker_exec(container, script).strip()


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def ingest(hosts: SystemdHosts, query: str) -> list[tuple[Any, ...]]:
    sandbox, host = hosts.sandbox, hosts.clickhouse
    password = (sandbox.secrets_dir / "ingest").read_text().strip()
    return native_query(
        host.address, 9440, query, user="ingest", password=password, tls=True, ca=sandbox.ca_dir / "ca.crt"
    )


def test_the_deploy_verifies_a_systemd_host_whose_unit_runs_the_server(hosts: SystemdHosts) -> None:
    container = hosts.clickhouse.container
    assert docker_exec(container, "cat /proc/1/comm").strip() == "systemd"
    result = hosts.deploy(hosts.clickhouse)
    assert result.returncode == 0, result.output[-4000:]
    assert "verified from the deploy machine" in result.output
    assert re.search(r"going live \((restart|start):", result.output), result.output[-4000:]
    state = unit(container)
    assert state["ActiveState"] == "active" and state["NeedDaemonReload"] == "no", state
    # systemd's main process is the server (not one an init script started beside the unit).
    pid = server_pid(container)
    assert state["MainPID"] == pid
    assert docker_exec(container, f"stat -c %U /proc/{pid}").strip() == "clickhouse"
    assert ingest(hosts, "SELECT 1") == [(1,)]

    again = hosts.deploy(hosts.clickhouse)
    assert again.returncode == 0, again.output[-4000:]
    assert grand_total(again.output)["success"] == "-" and SKIPPED in again.output, again.output[-3000:]
    assert not re.search(r"going live \((restart|reload|start):", again.output)
    assert unit(container)["InvocationID"] == state["InvocationID"]  # not restarted


def test_an_operators_drop_in_makes_the_next_run_prove_the_host_again(hosts: SystemdHosts) -> None:
    """A drop-in changes what the unit runs (here its environment; as easily User= or
    ExecStart=) without a file in the configuration directory changing: the fingerprint covers
    the unit's drop-in directories, so the trusted host is proven again."""
    container = hosts.clickhouse.container
    running = unit(container)
    hosts.operator_mark = secrets.token_hex(8)  # not a secret: the next test looks for it
    docker_exec(
        container,
        f"mkdir -p {hh_keys.SYSTEMD_DROPIN_DIR} && "
        f"printf '[Service]\\nEnvironment=HH_OPERATOR_MARK=%s\\n' {hosts.operator_mark} > {OPERATOR_DROPIN}",
    )
    result = hosts.deploy(hosts.clickhouse)
    assert result.returncode == 0, result.output[-4000:]
    assert REPROVEN in result.output and SKIPPED not in result.output, result.output[-3000:]
    assert "audited /etc/clickhouse-server" in result.output
    # Nothing of the spec changed, so nothing restarted: the running server lacks the drop-in's variable.
    assert unit(container)["InvocationID"] == running["InvocationID"]
    assert environ_digest(container, server_pid(container), "HH_OPERATOR_MARK") == digest("")


def test_a_changed_spec_restarts_the_unit_after_a_daemon_reload(hosts: SystemdHosts) -> None:
    """A config.d change goes live with `systemctl restart` after `systemctl daemon-reload`: the
    operator's pending drop-in is in the new server's environment. Without the reload systemd
    would restart the unit as it last read it, without the drop-in."""
    container = hosts.clickhouse.container
    before = unit(container)  # the previous test's drop-in waits for a reload and a restart
    changed = copy.deepcopy(hosts.data[hosts.clickhouse.name])
    changed["hardhouse_spec"]["server_limits"] = {"max_connections": 512}
    result = hosts.deploy(hosts.clickhouse, changed)
    assert result.returncode == 0, result.output[-4000:]
    assert "going live (restart:" in result.output, result.output[-4000:]
    after = unit(container)
    assert after["ActiveState"] == "active" and after["NeedDaemonReload"] == "no", after
    assert after["InvocationID"] != before["InvocationID"] and after["MainPID"] != before["MainPID"]
    pid = server_pid(container)
    assert after["MainPID"] == pid
    assert environ_digest(container, pid, "HH_OPERATOR_MARK") == digest(hosts.operator_mark)
    assert "<max_connections>512</max_connections>" in docker_exec(
        container, "cat /etc/clickhouse-server/config.d/zz-hardhouse-limits.xml"
    )


def _activate_keys(container: str, key: str, hook_text: bytes, apply: str = APPLY) -> subprocess.CompletedProcess:
    """Stage the key file and hook as the deploy does (hardhouse.deploy.payloads.key_files:
    STATE/staged/keys/, root-owned, the MANIFEST naming their live paths), then run the
    hardhouse-apply transaction the deploy's go-live runs (validate, then activate restart with
    the host's TLS health target)."""
    address = container_address(container)
    manifest_lines = contract.manifest_line(
        contract.KIND_KEYS, "keys/keys.env", hh_keys.KEYS_FILE
    ) + contract.manifest_line(contract.KIND_KEYS_HOOK, "keys/hook", hh_keys.SYSTEMD_DROPIN)
    staged = f"{STATE}/{contract.STAGED_DIR}"
    docker_exec(container, f"install -d -o root -g root -m 700 {staged}/keys {hh_keys.KEYS_DIR}")
    for path, data, mode in (
        (f"{staged}/keys/keys.env", hh_keys.keys_file_content({KEY_VARIABLE: key}), "600"),
        (f"{staged}/keys/hook", hook_text, "644"),
    ):
        put = subprocess.run(
            ["docker", "exec", "-i", container, "sh", "-c", f"cat > {path} && chmod {mode} {path}"],
            input=data,
            capture_output=True,
            timeout=30,
        )
        assert put.returncode == 0, put.stderr.decode()
    # The MANIFEST keeps its owner and mode; earlier key lines (this test's) are replaced.
    manifest = f"{staged}/{contract.MANIFEST}"
    docker_exec(
        container,
        f"cp -p {manifest} {manifest}.new && {{ grep -v '^keys' {manifest}; printf '%s' '{manifest_lines}'; }} "
        f"> {manifest}.new && mv {manifest}.new {manifest}",
    )
    return subprocess.run(
        [
            "docker",
            "exec",
            container,
            "sh",
            "-c",
            f"{apply} validate && {apply} activate restart 120 tls:{address}:9440",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def container_address(container: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()[0]


def _key_state(container: str, key: str) -> tuple[str, bool, str]:
    """(digest of the key in the server's environment, whether `systemctl show` prints the
    key, NeedDaemonReload): what a local user and the server each see."""
    shown = docker_exec(container, f"systemctl show {SERVICE}")
    return (
        environ_digest(container, server_pid(container), KEY_VARIABLE),
        key in shown,
        unit(container)["NeedDaemonReload"],
    )


def test_log_database_keys_reach_the_server_through_an_environmentfile_drop_in(hosts: SystemdHosts) -> None:
    """18.16 has no encrypted disk, so the spec refuses `encryption` for it and the deploy never
    stages keys on these hosts. This drives the same transaction the deploy's go-live runs
    (STATE/bin/hardhouse-apply, as the deploy shipped it) with the key file and the systemd
    drop-in hardhouse.deploy.keys makes, staged as the deploy stages them. Two weakened
    variants run first and must be caught: hardhouse-apply without its daemon-reload (the new
    drop-in is not read; the server starts without the key) and a drop-in with Environment=
    (the key is in `systemctl show` for any local user)."""
    container = hosts.clickhouse.container
    path, hook_text = hh_keys.hook(hh_keys.ServiceManager(hh_keys.SYSTEMD, "absent"))
    assert path == hh_keys.SYSTEMD_DROPIN
    docker_exec(container, f"rm -f {hh_keys.SYSTEMD_DROPIN} && systemctl daemon-reload")

    # Weakened: hardhouse-apply that never reloads systemd (a copy beside it, same state dir).
    no_reload = f"{STATE}/bin/hardhouse-apply-no-reload"
    docker_exec(
        container,
        f"sed 's/^reload_units() {{ .*/reload_units() {{ :; }}/' {APPLY} > {no_reload} && chmod 700 {no_reload} "
        f"&& ! cmp -s {APPLY} {no_reload}",
    )
    key = secrets.token_hex(32)
    ran = _activate_keys(container, key, hook_text, apply=no_reload)
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen, shown, _ = _key_state(container, key)
    assert seen == digest("") and not shown  # the control: without the reload the server has no key
    docker_exec(container, f"rm -f {no_reload}")

    # Weakened: Environment= instead of EnvironmentFile= (reloaded): the key reaches the server,
    # and every local user reads it with systemctl show.
    key = secrets.token_hex(32)
    leaky = f"[Service]\nEnvironment={KEY_VARIABLE}={key}\n".encode()
    ran = _activate_keys(container, key, leaky)
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen, shown, pending = _key_state(container, key)
    assert seen == digest(key) and shown and pending == "no"  # the control: the leak is seen

    # hardhouse's drop-in through hardhouse's transaction.
    key = secrets.token_hex(32)
    ran = _activate_keys(container, key, hook_text)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "ClickHouse restarted with the new configuration" in ran.stdout
    seen, shown, pending = _key_state(container, key)
    assert seen == digest(key), "the server does not have the key in its environment"
    assert not shown, "systemctl show prints the key"
    assert pending == "no"
    lines = docker_exec(container, f"cat {hh_keys.SYSTEMD_DROPIN}").splitlines()
    assert f"EnvironmentFile={hh_keys.KEYS_FILE}" in lines
    assert not [line for line in lines if line.startswith("Environment=")]
    assert docker_exec(container, f"stat -c '%U %a' {hh_keys.KEYS_FILE} {hh_keys.KEYS_DIR}").split() == [
        "root",
        "600",
        "root",
        "700",
    ]
    assert unit(container)["ActiveState"] == "active" and ingest(hosts, "SELECT 1") == [(1,)]


def test_a_change_the_server_cannot_serve_is_rolled_back_and_the_unit_serves_the_previous_config(
    hosts: SystemdHosts,
) -> None:
    """A listen address the host does not have: the parser accepts it, the restarted server
    cannot bind it and exits (the unit fails); hardhouse-apply puts the previous files back and
    restarts the unit, which is active again with the previous configuration."""
    container = hosts.clickhouse.container
    good_listen = docker_exec(container, f"cat {LISTEN_FILE}")
    before = unit(container)
    broken = copy.deepcopy(hosts.data[hosts.clickhouse.name])
    missing = str(ipaddress.ip_network(str(hosts.sandbox.subnet)).broadcast_address - 5)
    broken["hardhouse_spec"]["listen_hosts"].append(missing)
    failed = deploy_without_keeping(hosts, broken)
    assert failed.returncode != 0
    assert "Cannot assign requested address" in failed.output, failed.output[-4000:]
    assert "rolled back: the previous configuration is serving again" in failed.output, failed.output[-4000:]
    after = unit(container)
    assert after["ActiveState"] == "active" and after["NeedDaemonReload"] == "no", after
    assert after["InvocationID"] != before["InvocationID"]  # restarted through systemd, twice
    assert after["MainPID"] == server_pid(container)
    assert docker_exec(container, f"cat {LISTEN_FILE}") == good_listen
    assert ingest(hosts, "SELECT 1") == [(1,)]


def deploy_without_keeping(hosts: SystemdHosts, data: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Deploy `data` once; the inventory keeps the data that serves."""
    kept = hosts.data[hosts.clickhouse.name]
    try:
        return hosts.deploy(hosts.clickhouse, data)
    finally:
        hosts.data[hosts.clickhouse.name] = kept
        hosts.sandbox.write_inventory([hosts.zookeeper, hosts.clickhouse], hosts.data)


def zk_jvms(container: str) -> list[str]:
    return docker_exec(container, f"pgrep -f {ZK_JVM} || true").split()


def test_zookeeper_is_hardened_under_systemd_and_restarted_through_its_unit(hosts: SystemdHosts) -> None:
    """zookeeperd's init script, run by the unit systemd-sysv-generator makes of it: hardened
    by hardhouse.deploy.zookeeper, its refusals proven from this machine, and a change restarted
    through systemctl: one JVM afterwards, in the unit's cgroup, serving the new configuration.
    (That unit stops nothing itself: a plain `systemctl restart` left the old JVM serving.)"""
    zk, container = hosts.zookeeper, hosts.zookeeper.container
    result = hosts.deploy(zk)
    assert result.returncode == 0, result.output[-4000:]
    before = unit(container, "zookeeper")
    assert before["ActiveState"] == "active", before
    (jvm,) = zk_jvms(container)
    assert "/system.slice/zookeeper.service" in docker_exec(container, f"cat /proc/{jvm}/cgroup")

    with ZooKeeperClient(zk.address, 2181, timeout=5, deadline=30) as anonymous:
        with pytest.raises(ZooKeeperError) as refused:
            anonymous.get_children("/clickhouse")
        assert refused.value.code == NO_AUTH
    answers = asyncio.run(four_letter_words(zk.address, 2181, tls=False, timeout=3.0))
    assert answers["ruok"] is not None and answers["stat"] is None and answers["isro"] is None

    changed = copy.deepcopy(hosts.data[zk.name])
    changed["hardhouse_zookeeper"]["four_letter_words"] = ["ruok", "isro"]
    result = hosts.deploy(zk, changed)
    assert result.returncode == 0, result.output[-4000:]
    after = unit(container, "zookeeper")
    assert after["ActiveState"] == "active" and after["InvocationID"] != before["InvocationID"], after
    (new_jvm,) = zk_jvms(container)  # the old JVM is gone, not left serving beside a new one
    assert new_jvm != jvm
    assert "/system.slice/zookeeper.service" in docker_exec(container, f"cat /proc/{new_jvm}/cgroup")
    answers = asyncio.run(four_letter_words(zk.address, 2181, tls=False, timeout=3.0))
    assert answers["isro"] is not None and answers["stat"] is None
