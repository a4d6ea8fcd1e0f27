"""The ZooKeeper host's scripts (hostscripts/hardhouse-zk-*.sh, and hardhouse-apply with
ZooKeeper's profile), run for real: the text the deploy sends, its contract block pointed at a
temporary directory, with stand-ins first on PATH for systemctl, Debian's init script and
zkCli.sh (tests/deploy/hoststubs/), and a ZooKeeper that answers `ruok` played by a socket in
this process or, for an activation, by the stubs' fake ZooKeeper (hoststubs/fake-zookeeper),
which serves the client address and port of the live zoo.cfg and exits when it cannot bind."""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.deploy import contract, hostscripts
from hardhouse.deploy.facts import keyed_digest
from hardhouse.deploy.zookeeper import (
    ROOTS_ANSWER_LIMIT,
    ROOTS_READ_TIMEOUT,
    SCRIPT_VALUES,
    ZooKeeperLiveFact,
    ZooKeeperRootsFact,
)

STUBS = Path(__file__).parent / "hoststubs"
ROOT = os.geteuid() == 0
RUNNER = pwd.getpwuid(os.geteuid()).pw_name


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
        self.port = closed_port()
        self.config.write_text(self.zoo_cfg())
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
            "HH_ZK_CLI": str(self.stubs / "zkCli.sh"),
        }
        self.state = base / "apply-state"
        self.staged = self.state / contract.STAGED_DIR
        self.apply = self.state / contract.BIN_DIR / contract.APPLY_SCRIPT
        self.apply.parent.mkdir(parents=True)
        self.staged.mkdir()
        # hardhouse-apply with ZooKeeper's profile, its places in this directory.
        zk_places = {
            "HH_ZK_CONFIG": str(self.config),
            "HH_ZK_JVM_DEFAULTS": str(self.defaults),
            "HH_ZK_MYID": str(self.myid),
            "HH_ZK_LIVE_STAMP": str(self.live_stamp),
            "HH_ZK_PIDFILE": str(self.pidfile),
            "HH_ZK_LOG": str(self.log),
        }
        values = {**contract.shell_values(contract.ZOOKEEPER), **zk_places}
        self.apply.write_text(hostscripts.shipped("hardhouse-apply", values, "tests"))
        self.apply.chmod(0o700)
        self.env = {
            "PATH": f"{self.stubs}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LC_ALL": "C",
            "HH_STUB_DIR": str(self.stub_state),
            "HH_STUB_ZK_CONFIG": str(self.config),
            "HH_STUB_ZK_PIDFILE": str(self.pidfile),
            "HH_STUB_ZK_LOG": str(self.log),
            "HARDHOUSE_SYSTEMD_DIR": str(self.systemd_dir),
            "HARDHOUSE_INIT_DIR": str(self.init_dir),
            # The fake ZooKeeper runs as this runner (root's tests may make it another user).
            "HARDHOUSE_SERVER_USER": RUNNER,
        }

    def zoo_cfg(self, *extra: str) -> str:
        return "\n".join([f"clientPort={self.port}", f"dataDir={self.base}/data", *extra]) + "\n"

    def stage(self, config: str, myid: str = "1\n") -> None:
        """The three files staged (0644, as the deploy stages them) with their MANIFEST."""
        lines = []
        for kind, name, live, text in (
            (contract.KIND_ZK_CONFIG, "zoo.cfg", self.config, config),
            (contract.KIND_ZK_DEFAULTS, "defaults", self.defaults, self.defaults.read_text()),
            (contract.KIND_ZK_MYID, "myid", self.myid, myid),
        ):
            (self.staged / name).write_text(text)
            (self.staged / name).chmod(0o644)
            lines.append(contract.manifest_line(kind, name, str(live), contract.ZOOKEEPER))
        (self.staged / contract.MANIFEST).write_text("".join(lines))

    def activate(self, *args: str, timeout: str = "10") -> subprocess.CompletedProcess[str]:
        target = f"{contract.HEALTH_RUOK}:127.0.0.1:{self.port}"
        return subprocess.run(
            [str(self.apply), *(args or ("activate", contract.MODE_RESTART, timeout, target))],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> None:
        """ZooKeeper running its live configuration, as the deploy found it healthy before."""
        subprocess.run(["fake-zookeeper", "start"], env=self.env, check=True, timeout=30)
        deadline = time.monotonic() + 10
        while not answers(self.port):
            assert time.monotonic() < deadline, self.log.read_text() if self.log.exists() else "no log"
            time.sleep(0.05)
        (self.state / contract.LIVE_TARGETS).write_text(f"{contract.HEALTH_RUOK}:127.0.0.1:{self.port}\n")
        self.live_stamp.parent.mkdir(exist_ok=True)
        self.live_stamp.write_text(self.digest() + "\n")

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
        """End the fake ZooKeeper (and the fake ClickHouse a stub may have started)."""
        for pidfile in (self.stub_state / "server.pid", self.pidfile):
            try:
                os.kill(int(pidfile.read_text()), 9)
            except (OSError, ValueError):
                pass


def answers(port: int) -> bool:
    """The port answers ruok with imok."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(b"ruok")
            return connection.recv(4) == b"imok"
    except OSError:
        return False


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


def test_live_reports_the_three_files_owner_mode_and_keyed_digest_when_given_a_key(
    zk_host: ZkHost, zookeeper: int
) -> None:
    key = secrets.token_hex(16)
    result = zk_host.run("hardhouse-zk-live", "127.0.0.1", str(zookeeper), key)
    assert result.returncode == 0, result.stderr
    found = ZooKeeperLiveFact().process(result.stdout.splitlines())
    assert found.answers
    for path in (zk_host.config, zk_host.myid):
        state = found.files.paths[str(path)]
        assert state.kind == "F" and state.digest == keyed_digest(path.read_bytes(), key)
    assert key not in result.stdout


def test_live_reports_no_answer_from_a_closed_port_and_no_foreign_text_from_the_stamp(zk_host: ZkHost) -> None:
    zk_host.live_stamp.parent.mkdir()
    zk_host.live_stamp.write_text("$(reboot) not-hex" + "a" * 80)
    found = live(zk_host, closed_port())
    # Only hex digits of the first 64 bytes: "eb" of "reboot", "e" of "not-hex", then the a's.
    assert not found.answers and found.live == "ebe" + "a" * 47


# ---------------------------------------------------------------------------------------------
# hardhouse-apply with ZooKeeper's profile: validate, activate, roll back


def test_activation_with_systemd_restarts_waits_for_ruok_and_records_the_configuration(zk_host: ZkHost) -> None:
    zk_host.start()
    before = zk_host.pidfile.read_text()
    wanted = zk_host.zoo_cfg("4lw.commands.whitelist=ruok,isro")
    zk_host.stage(wanted)
    assert zk_host.activate("validate").returncode == 0
    result = zk_host.activate()
    assert result.returncode == 0, result.stderr
    assert "ZooKeeper restarted with the new configuration; healthy on ruok:127.0.0.1:" in result.stdout
    assert zk_host.config.read_text() == wanted and answers(zk_host.port)
    # Not `systemctl restart`: the unit systemd makes of Debian's init script stops nothing
    # itself (KillMode=process, no main pid), so the JVM is stopped by pid between stop and start.
    assert zk_host.calls() == ["systemctl stop zookeeper", "systemctl daemon-reload", "systemctl start zookeeper"]
    assert zk_host.pidfile.read_text() != before
    assert zk_host.live_stamp.read_text().strip() == zk_host.digest()
    assert live(zk_host, zk_host.port).current


def test_activation_without_systemd_uses_the_init_script(tmp_path: Path) -> None:
    zk_host = ZkHost(tmp_path, systemd=False)
    try:
        zk_host.pidfile.write_text("999999999\n")  # a stale pidfile: no such process
        zk_host.stage(zk_host.zoo_cfg("maxClientCnxns=30"))
        result = zk_host.activate()
        assert result.returncode == 0, result.stderr
        assert zk_host.calls() == ["zookeeper-init stop", "zookeeper-init start"]
        assert zk_host.live_stamp.read_text().strip() == zk_host.digest() and answers(zk_host.port)
    finally:
        zk_host.stop_everything()


@pytest.mark.skipif(not ROOT, reason="needs root: a process of the zookeeper user")
@pytest.mark.parametrize("systemd", [False, True], ids=["sysv", "systemd"])
def test_activation_stops_the_jvm_the_service_manager_cannot_find(tmp_path: Path, systemd: bool) -> None:
    """Debian's init script cannot stop the JVM in a container, and the unit systemd makes of
    it (KillMode=process, no main pid) runs that same stop: the old JVM would keep serving the
    old configuration (seen live: tests/deploy/test_deploy_systemd_sandbox.py). The script
    stops it by pid, only when the pidfile names a process of the zookeeper user."""
    try:
        pwd.getpwnam("zookeeper")
    except KeyError:
        pytest.skip("no zookeeper user on this machine")
    python = shutil.which("python3", path="/usr/bin:/bin")  # not root's own (the zookeeper user runs it)
    if python is None:
        pytest.skip("no system python3 for the fake ZooKeeper of the zookeeper user")
    zk_host = ZkHost(tmp_path, systemd=systemd)
    zk_host.env.update(HARDHOUSE_SERVER_USER="zookeeper", HH_STUB_ZK_USER="zookeeper", HH_STUB_PYTHON=python)
    (zk_host.stub_state / "stop-does-nothing").touch()  # as Debian's stop in a container
    jvm = subprocess.Popen(["setpriv", "--reuid=zookeeper", "--regid=zookeeper", "--clear-groups", "sleep", "600"])
    mine = subprocess.Popen(["sleep", "600"])  # root's: never killed on a pidfile's word
    try:
        time.sleep(0.2)
        zk_host.stage(zk_host.zoo_cfg())
        zk_host.pidfile.write_text(f"{mine.pid}\n")
        first = zk_host.activate()
        assert first.returncode == 0, first.stderr
        assert mine.poll() is None
        zk_host.stop_everything()
        zk_host.pidfile.write_text(f"{jvm.pid}\n")
        second = zk_host.activate()
        assert second.returncode == 0, second.stderr
        assert jvm.wait(timeout=10) is not None
    finally:
        for process in (jvm, mine):
            process.kill()
            process.wait()
        zk_host.stop_everything()


def test_a_configuration_zookeeper_cannot_serve_is_rolled_back(zk_host: ZkHost) -> None:
    """A client address not on the host: the JVM logs the BindException and exits; the
    previous files go back, ZooKeeper is restarted with them and answers again."""
    zk_host.start()
    old_config, old_digest = zk_host.config.read_text(), zk_host.digest()
    zk_host.stage(zk_host.zoo_cfg("clientPortAddress=192.0.2.1"))  # TEST-NET-1: on no host
    assert zk_host.activate("validate").returncode == 0  # validation cannot know
    started = time.monotonic()
    result = zk_host.activate()
    assert result.returncode == 1 and time.monotonic() - started < 30
    assert "hardhouse: rolled back: the previous configuration is serving again." in result.stderr, result.stderr
    assert "BindException" in result.stderr  # the log's reason, shown
    assert zk_host.config.read_text() == old_config and answers(zk_host.port)
    assert zk_host.live_stamp.read_text().strip() == old_digest == zk_host.digest()
    assert live(zk_host, zk_host.port).current


def test_a_rollback_that_does_not_answer_either_says_rollback_failed(zk_host: ZkHost) -> None:
    zk_host.start()
    old_config = zk_host.config.read_text()
    (zk_host.stub_state / "zk-always-fails").touch()  # from now on nothing starts
    zk_host.stage(zk_host.zoo_cfg("maxClientCnxns=30"))
    result = zk_host.activate()
    assert result.returncode == 1
    assert "hardhouse: ROLLBACK FAILED: the previous configuration is not healthy" in result.stderr, result.stderr
    assert zk_host.config.read_text() == old_config  # the previous files are back all the same


def test_validation_refuses_a_manifest_and_files_zookeeper_cannot_use(zk_host: ZkHost) -> None:
    zk_host.stage("tickTime=2000\n", myid="ABC\n")
    (zk_host.staged / "myid").chmod(0o600)
    manifest = zk_host.staged / contract.MANIFEST
    manifest.write_text(manifest.read_text().replace(str(zk_host.defaults), "/etc/passwd"))
    result = zk_host.activate("validate")
    assert result.returncode == 1 and "nothing changed" in result.stderr
    assert f"a {contract.KIND_ZK_DEFAULTS} file goes live as {zk_host.defaults}, not /etc/passwd" in result.stderr
    manifest.write_text(manifest.read_text().replace("/etc/passwd", str(zk_host.defaults)))
    result = zk_host.activate("validate")
    assert result.returncode == 1 and "validation failed; nothing went live" in result.stderr
    for problem in ("names no clientPort=PORT", "names no dataDir=", "is not a server id"):
        assert problem in result.stderr, result.stderr
    if ROOT:  # as root, the runner is root, who reads anything
        assert "not readable by" not in result.stderr
    refused = zk_host.activate("activate", contract.MODE_RELOAD, "5", f"tcp:127.0.0.1:{zk_host.port}")
    assert refused.returncode == 2 and "the mode reload is not one of restart" in refused.stderr


# ---------------------------------------------------------------------------------------------
# hardhouse-zk-roots and hardhouse-zk-create


def roots(
    address: str, port: int, *names: str, limit: int = 65536, timeout: int = 10
) -> subprocess.CompletedProcess[str]:
    """hardhouse-zk-roots as the fact runs it (its own command line, with the request it builds)."""
    command = ZooKeeperRootsFact().command(address, port, list(names))
    raw = command.get_raw_value().replace(f" {ROOTS_ANSWER_LIMIT} {ROOTS_READ_TIMEOUT} ", f" {limit} {timeout} ")
    return subprocess.run(["bash", "-c", raw], capture_output=True, text=True, timeout=60)


def test_roots_relay_only_bytes_and_nothing_that_answers_leaves_every_root_unknown() -> None:
    started = time.monotonic()
    result = roots("127.0.0.1", closed_port(), "/clickhouse", "/other", timeout=2)
    assert result.returncode == 0, result.stderr
    assert 1 <= time.monotonic() - started < 10  # asked again until the timeout (whole seconds), not for ever
    assert result.stdout.splitlines() == ["ROOT /clickhouse", "ROOT /other", "ANSWER "]
    found = ZooKeeperRootsFact().process(result.stdout.splitlines())
    assert {root: state.state for root, state in found.items()} == {"/clickhouse": "unknown", "/other": "unknown"}


def test_roots_refuse_a_request_that_is_not_escaped_bytes_and_send_nothing() -> None:
    script = hostscripts.load("hardhouse-zk-roots")
    for request, limit in (("$(touch /tmp/x)", "10"), ("\\x00", "0"), ("\\x0", "10"), ("\\x00", "1e3")):
        result = subprocess.run(
            ["bash", "-c", script.text, "hardhouse-zk-roots", "127.0.0.1", "1", request, limit, "5", "/a"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2 and result.stdout == "" and "not of its form" in result.stderr, request


@pytest.mark.parametrize("how", ["endless", "silent"])
def test_an_answer_that_never_ends_is_cut_at_the_limit_or_the_timeout(how: str) -> None:
    """A hostile or hung server: at most LIMIT bytes are read, within TIMEOUT seconds."""

    class Endless(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                while how == "endless":
                    self.request.sendall(b"\x7f" * 65536)
                time.sleep(30)
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Endless)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        result = roots("127.0.0.1", server.server_address[1], "/clickhouse", limit=4096, timeout=2)
        assert time.monotonic() - started < 15
    finally:
        server.shutdown()
        server.server_close()
    answer = result.stdout.splitlines()[-1]
    assert answer.startswith("ANSWER ") and len(answer) <= len("ANSWER ") + 2 * 4096
    assert ZooKeeperRootsFact().process(result.stdout.splitlines())["/clickhouse"].state == "unknown"


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
