"""The ZooKeeper host's scripts (hostscripts/hardhouse-zk-*.sh), run for real: the text the
deploy sends, its contract block pointed at a temporary directory, with stand-ins first on
PATH for systemctl, Debian's init script and zkCli.sh (tests/deploy/hoststubs/), and a
ZooKeeper that answers `ruok` played by a socket in this process."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.deploy import hostscripts
from hardhouse.deploy.zookeeper import SCRIPT_VALUES, ZooKeeperLiveFact, ZooKeeperRootsFact

STUBS = Path(__file__).parent / "hoststubs"
ROOT = os.geteuid() == 0


class Ruok(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        if self.request.recv(4) == b"ruok":
            self.request.sendall(b"imok")


@pytest.fixture
def zookeeper() -> Iterator[int]:
    """A port that answers ruok with imok, as a healthy ZooKeeper does."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Ruok)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ZkHost:
    """ZooKeeper's files, the deploy's state and the stubs in a temporary directory."""

    def __init__(self, base: Path, systemd: bool = True) -> None:
        self.base = base
        self.stubs, self.stub_state, self.init_dir = base / "stubs", base / "stub-state", base / "init.d"
        for directory in (self.stubs, self.stub_state / "znodes", self.init_dir, base / "conf"):
            directory.mkdir(parents=True)
        for stub in STUBS.iterdir():
            shutil.copy(stub, self.stubs / stub.name)
        shutil.copy(STUBS / "zookeeper-init", self.init_dir / "zookeeper")
        self.systemd_dir = base / "run-systemd"
        if systemd:
            self.systemd_dir.mkdir()
        self.config = base / "conf" / "zoo.cfg"
        self.defaults = base / "default-zookeeper"
        self.myid = base / "conf" / "myid"
        self.config.write_text("clientPort=2181\n")
        self.defaults.write_text("JAVA_OPTS=-Xmx256m\n")
        self.myid.write_text("1\n")
        self.live_stamp = base / "state" / "zookeeper-live"
        self.pidfile = base / "zookeeper.pid"
        self.log = base / "zookeeper.log"
        self.values = {
            **SCRIPT_VALUES,
            "HH_ZK_CONFIG": str(self.config),
            "HH_ZK_JVM_DEFAULTS": str(self.defaults),
            "HH_ZK_MYID": str(self.myid),
            "HH_ZK_LIVE_STAMP": str(self.live_stamp),
            "HH_ZK_PIDFILE": str(self.pidfile),
            "HH_ZK_CLI": str(self.stubs / "zkCli.sh"),
        }
        self.env = {
            "PATH": f"{self.stubs}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LC_ALL": "C",
            "HH_STUB_DIR": str(self.stub_state),
            "HARDHOUSE_SYSTEMD_DIR": str(self.systemd_dir),
            "HARDHOUSE_INIT_DIR": str(self.init_dir),
            "HARDHOUSE_ZK_LOG": str(self.log),
        }

    def run(self, name: str, *args: str, **values: str) -> subprocess.CompletedProcess[str]:
        script = hostscripts.load(name, {**self.values, **values}, origin="hardhouse.deploy.zookeeper")
        return subprocess.run(
            [script.shell, "-c", script.text, script.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def digest(self) -> str:
        return hashlib.sha256(b"".join(p.read_bytes() for p in (self.config, self.defaults, self.myid))).hexdigest()

    def calls(self) -> list[str]:
        path = self.stub_state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def stop_everything(self) -> None:
        """The systemctl stub starts the hostscript tests' fake server (a sleep): end it."""
        try:
            os.kill(int((self.stub_state / "server.pid").read_text()), 9)
        except (OSError, ValueError):
            pass


@pytest.fixture
def zk_host(tmp_path: Path) -> Iterator[ZkHost]:
    made = ZkHost(tmp_path)
    yield made
    made.stop_everything()


def live(zk_host: ZkHost, port: int) -> object:
    result = zk_host.run("hardhouse-zk-live", "127.0.0.1", str(port))
    assert result.returncode == 0, result.stderr
    return ZooKeeperLiveFact().process(result.stdout.splitlines())


# ---------------------------------------------------------------------------------------------
# hardhouse-zk-live


def test_live_reports_the_answer_and_the_digest_of_the_three_files(zk_host: ZkHost, zookeeper: int) -> None:
    found = live(zk_host, zookeeper)
    assert found.answers and found.config == zk_host.digest() and found.live == "" and not found.current
    zk_host.live_stamp.parent.mkdir()
    zk_host.live_stamp.write_text(zk_host.digest() + "\n")
    assert live(zk_host, zookeeper).current
    zk_host.myid.write_text("2\n")  # any of the three files changed: not the configuration that answered
    assert not live(zk_host, zookeeper).current


def test_live_reports_no_answer_from_a_closed_port_and_no_foreign_text_from_the_stamp(zk_host: ZkHost) -> None:
    zk_host.live_stamp.parent.mkdir()
    zk_host.live_stamp.write_text("$(reboot) not-hex" + "a" * 80)
    found = live(zk_host, closed_port())
    # Only hex digits of the first 64 bytes: "eb" of "reboot", "e" of "not-hex", then the a's.
    assert not found.answers and found.live == "ebe" + "a" * 47


# ---------------------------------------------------------------------------------------------
# hardhouse-zk-restart


def test_restart_with_systemd_waits_for_ruok_and_records_the_configuration(zk_host: ZkHost, zookeeper: int) -> None:
    result = zk_host.run("hardhouse-zk-restart", "127.0.0.1", str(zookeeper), "5")
    assert result.returncode == 0, result.stderr
    # Not `systemctl restart`: the unit systemd makes of Debian's init script stops nothing
    # itself (KillMode=process, no main pid), so the JVM is stopped by pid between stop and start.
    assert zk_host.calls() == ["systemctl stop zookeeper", "systemctl daemon-reload", "systemctl start zookeeper"]
    assert zk_host.live_stamp.read_text().strip() == zk_host.digest()
    assert live(zk_host, zookeeper).current


def test_restart_without_systemd_uses_the_init_script(tmp_path: Path, zookeeper: int) -> None:
    zk_host = ZkHost(tmp_path, systemd=False)
    zk_host.pidfile.write_text("999999999\n")  # a stale pidfile: no such process
    result = zk_host.run("hardhouse-zk-restart", "127.0.0.1", str(zookeeper), "5")
    assert result.returncode == 0, result.stderr
    assert zk_host.calls() == ["zookeeper-init stop", "zookeeper-init start"]
    assert not zk_host.pidfile.exists() and zk_host.live_stamp.read_text().strip() == zk_host.digest()


@pytest.mark.skipif(not ROOT, reason="needs root: a process of the zookeeper user")
@pytest.mark.parametrize("systemd", [False, True], ids=["sysv", "systemd"])
def test_restart_stops_the_jvm_the_service_manager_cannot_find(tmp_path: Path, zookeeper: int, systemd: bool) -> None:
    """Debian's init script cannot stop the JVM in a container, and the unit systemd makes of
    it (KillMode=process, no main pid) runs that same stop: the old JVM would keep serving the
    old configuration (seen live: tests/deploy/test_deploy_systemd_sandbox.py). The script
    stops it by pid, only when the pidfile names a process of the zookeeper user."""
    try:
        pwd.getpwnam("zookeeper")
    except KeyError:
        pytest.skip("no zookeeper user on this machine")
    zk_host = ZkHost(tmp_path, systemd=systemd)
    jvm = subprocess.Popen(["setpriv", "--reuid=zookeeper", "--regid=zookeeper", "--clear-groups", "sleep", "600"])
    mine = subprocess.Popen(["sleep", "600"])  # root's: never killed on a pidfile's word
    try:
        time.sleep(0.2)
        zk_host.pidfile.write_text(f"{mine.pid}\n")
        assert zk_host.run("hardhouse-zk-restart", "127.0.0.1", str(zookeeper), "5").returncode == 0
        assert mine.poll() is None
        zk_host.pidfile.write_text(f"{jvm.pid}\n")
        assert zk_host.run("hardhouse-zk-restart", "127.0.0.1", str(zookeeper), "5").returncode == 0
        assert jvm.wait(timeout=10) is not None
    finally:
        for process in (jvm, mine):
            process.kill()
            process.wait()


def test_restart_fails_when_the_init_script_cannot_start(tmp_path: Path, zookeeper: int) -> None:
    zk_host = ZkHost(tmp_path, systemd=False)
    (zk_host.stub_state / "zk-start-fails").touch()
    result = zk_host.run("hardhouse-zk-restart", "127.0.0.1", str(zookeeper), "5")
    assert result.returncode == 1 and f"{zk_host.init_dir}/zookeeper start failed" in result.stderr
    assert not zk_host.live_stamp.exists()


def test_restart_fails_with_the_logs_tail_when_zookeeper_does_not_answer(zk_host: ZkHost) -> None:
    zk_host.log.write_text("java.net.BindException: Address already in use\n")
    port = closed_port()
    started = time.monotonic()
    result = zk_host.run("hardhouse-zk-restart", "127.0.0.1", str(port), "1")
    assert result.returncode == 1 and time.monotonic() - started < 15
    assert f"ZooKeeper did not answer ruok on 127.0.0.1:{port} within 1s" in result.stderr
    assert "Address already in use" in result.stderr
    assert not zk_host.live_stamp.exists()  # the next run restarts again


# ---------------------------------------------------------------------------------------------
# hardhouse-zk-roots and hardhouse-zk-create


def test_roots_are_read_as_missing_closed_or_open_with_digests_cut_to_their_user(zk_host: ZkHost) -> None:
    znodes = zk_host.stub_state / "znodes"
    (znodes / "closed").write_text("closed\n")
    (znodes / "open").write_text("'world,'anyone\n: cdrwa\n'digest,'clickhouse:SECRETDIGEST=\n: cdrwa\n")
    result = zk_host.run("hardhouse-zk-roots", "127.0.0.1", "2181", "/missing", "/closed", "/open")
    assert result.returncode == 0, result.stderr
    assert "SECRETDIGEST" not in result.stdout
    found = ZooKeeperRootsFact().process(result.stdout.splitlines())
    assert {root: state.state for root, state in found.items()} == {
        "/missing": "missing",
        "/closed": "closed",
        "/open": "open",
    }
    assert found["/open"].acl == ["world:anyone cdrwa", "digest:clickhouse:* cdrwa"]
    # zkCli.sh runs with its heap bounded, against the address and port given.
    assert all(call.endswith(f"[{SCRIPT_VALUES['HH_ZK_CLI_HEAP']}]") for call in zk_host.calls())
    assert zk_host.calls()[0].startswith("zkCli.sh -server 127.0.0.1:2181 getAcl /missing")


def test_roots_without_zkcli_say_so(zk_host: ZkHost) -> None:
    result = zk_host.run("hardhouse-zk-roots", "127.0.0.1", "2181", "/clickhouse", HH_ZK_CLI="/nonexistent/zkCli.sh")
    assert result.stdout.splitlines() == ["NO-CLIENT"]
    assert ZooKeeperRootsFact().process(result.stdout.splitlines()) == {}


def test_a_root_is_created_and_one_created_meanwhile_is_not_a_failure(zk_host: ZkHost) -> None:
    acl = "digest:clickhouse:c2VjcmV0:cdrwa"
    result = zk_host.run("hardhouse-zk-create", "127.0.0.1:2181", "/clickhouse", acl)
    assert result.returncode == 0 and "Created /clickhouse" in result.stdout, result.stderr
    assert zk_host.calls()[-1].startswith(f"zkCli.sh -server 127.0.0.1:2181 create /clickhouse  {acl}")
    again = zk_host.run("hardhouse-zk-create", "127.0.0.1:2181", "/clickhouse", acl)
    assert again.returncode == 0 and "/clickhouse exists already (created meanwhile)" in again.stdout


def test_a_zkcli_that_hangs_is_cut_off_and_fails_the_create(zk_host: ZkHost) -> None:
    (zk_host.stub_state / "zk-hangs").touch()
    started = time.monotonic()
    result = zk_host.run(
        "hardhouse-zk-create", "127.0.0.1:2181", "/clickhouse", "digest:x:y:cdrwa", HH_ZK_CLI_TIMEOUT="1"
    )
    assert result.returncode == 124 and time.monotonic() - started < 15  # timeout(1)'s status
