"""hardhouse-apply, the host half of the deploy, run for real: the shipped script (contract
header filled in) in a temporary state directory, with stand-ins first on PATH for the service
manager, pidof and ClickHouse's config parser (tests/deploy/hoststubs/), and the real openssl,
runuser, timeout and certificates from hardhouse.ca. Nothing outside the temporary directory is
touched: the script's paths all come from HARDHOUSE_* variables and its own location."""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hardhouse.ca import issue
from hardhouse.ca.issue import Issued, issue_ca, issue_leaf
from hardhouse.deploy import contract, hostscripts
from hardhouse.deploy.payloads import apply_script
from hardhouse.deploy.settings import DATA_DEFAULTS, read_settings
from tests.helpers import VALID_SPEC, TlsServer, require

SOURCE = Path(contract.__file__).parent / "hostscripts" / "hardhouse-apply.sh"
STUBS = Path(__file__).parent / "hoststubs"
ROOT = os.geteuid() == 0
# As root, files are checked as another user sees them (runuser); otherwise as the runner.
SERVER_USER = "nobody" if ROOT else pwd.getpwuid(os.geteuid()).pw_name
SERVER_UID, SERVER_GID = pwd.getpwnam(SERVER_USER).pw_uid, pwd.getpwnam(SERVER_USER).pw_gid
OWNER = os.geteuid()  # "root" for the script: the user it runs as
TIMEOUT = "5"  # seconds the script waits for health when the test expects health
SHORT = "1"  # ... when the test expects it to give up

needs_root = pytest.mark.skipif(not ROOT, reason="needs root: files owned by another user")


def shipped() -> str:
    settings = read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC})
    return apply_script(settings).data.decode()


@dataclass(frozen=True)
class File:
    """One managed file: its kind, staged path (relative), live path, content, owner, mode."""

    kind: str
    staged: str
    live: Path
    data: bytes
    uid: int
    gid: int
    mode: int


@dataclass(frozen=True)
class Tls:
    ca: Issued
    leaf: Issued


def tls_for(addresses: tuple[str, ...] = ("127.0.0.1",)) -> Tls:
    ca = issue_ca()
    return Tls(ca, issue_leaf(ca, "clickhouse", list(addresses)))


class Host:
    """A host in a temporary directory: the state dir with the shipped script, ClickHouse's
    config dir, a TLS dir outside it, a data dir, an error log, the stubs and their state."""

    def __init__(self, base: Path, systemd: bool = True, parser: str = "modern") -> None:
        self.base = base
        self.state = base / "state"
        self.script = self.state / contract.BIN_DIR / contract.APPLY_SCRIPT
        self.staged = self.state / contract.STAGED_DIR
        self.previous = self.state / contract.PREVIOUS_DIR
        self.conf = base / "etc"
        self.tls = base / "srv" / "tls"
        self.data = base / "data"
        self.errlog = base / "log" / "err.log"
        self.stubs = base / "stubs"
        self.stub_state = base / "stub-state"
        self.init_dir = base / "init.d"
        self.systemd_dir = base / "run-systemd"
        for directory in (
            self.script.parent,
            self.staged,
            self.conf / "config.d",
            self.conf / "users.d",
            self.tls,
            self.data / "preprocessed_configs",
            self.errlog.parent,
            self.stubs,
            self.stub_state,
            self.init_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        for directory in (self.conf / "config.d", self.conf / "users.d", self.tls):
            self.own(directory, OWNER, SERVER_GID, 0o750)
        if systemd:
            self.systemd_dir.mkdir()
        (self.conf / "config.xml").write_text("<yandex><path>/var/lib/clickhouse/</path></yandex>\n")
        (self.conf / "users.xml").write_text("<yandex><users><default/></users></yandex>\n")
        self.errlog.write_text("")
        for stub in STUBS.iterdir():
            shutil.copy(stub, self.stubs / stub.name)
            (self.stubs / stub.name).chmod(0o755)
        shutil.copy(STUBS / "init-script", self.init_dir / contract.SERVICE)
        (self.init_dir / contract.SERVICE).chmod(0o755)
        self.script.write_text(shipped())
        self.script.chmod(0o700)
        self.env = {
            "PATH": f"{self.stubs}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LC_ALL": "C",
            "HARDHOUSE_CONF": str(self.conf),
            "HARDHOUSE_DATA": str(self.data),
            "HARDHOUSE_ERRLOG": str(self.errlog),
            "HARDHOUSE_SERVER_USER": SERVER_USER,
            "HARDHOUSE_SYSTEMD_DIR": str(self.systemd_dir),
            "HARDHOUSE_INIT_DIR": str(self.init_dir),
            "HH_STUB_DIR": str(self.stub_state),
            "HH_STUB_PARSER": parser,
        }

    @staticmethod
    def own(path: Path, uid: int, gid: int, mode: int) -> None:
        if ROOT:
            os.chown(path, uid, gid, follow_symlinks=False)
        path.chmod(mode)

    def run(self, *args: str, script: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script or self.script), *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def activate(self, mode: str, timeout: str, *targets: str) -> subprocess.CompletedProcess[str]:
        return self.run("activate", mode, timeout, *targets)

    # The files of one configuration ("tag" makes each set's content distinct).
    def files(self, tag: str, tls: Tls | None = None, extra: tuple[str, ...] = ()) -> list[File]:
        prefix = contract.FILE_PREFIX
        xml = [("config", f"{prefix}listen.xml"), ("users", f"{prefix}users.xml")] + [
            ("config", f"{prefix}{name}.xml") for name in extra
        ]
        files = [
            File(
                kind,
                f"{kind}.d/{name}",
                self.conf / f"{kind}.d" / name,
                f"<yandex><!-- {tag} {name} --></yandex>\n".encode(),
                OWNER,
                SERVER_GID,
                0o640,
            )
            for kind, name in xml
        ]
        if tls is not None:
            files += [
                File(
                    "certificate",
                    "tls/certificate.pem",
                    self.tls / "server.crt",
                    tls.leaf.cert_pem,
                    OWNER,
                    SERVER_GID,
                    0o644,
                ),
                File(
                    "private_key",
                    "tls/private_key.pem",
                    self.tls / "server.key",
                    tls.leaf.key_pem,
                    SERVER_UID,
                    SERVER_GID,
                    0o600,
                ),
                File(
                    "ca_certificate",
                    "tls/ca_certificate.pem",
                    self.tls / "ca.crt",
                    tls.ca.cert_pem,
                    OWNER,
                    SERVER_GID,
                    0o644,
                ),
            ]
        return files

    def stage(self, files: list[File], manifest: str | None = None) -> None:
        shutil.rmtree(self.staged)
        self.staged.mkdir()
        for file in files:
            path = self.staged / file.staged
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(file.data)
            self.own(path, file.uid, file.gid, file.mode)
        if manifest is None:
            manifest = "".join(contract.manifest_line(f.kind, f.staged, str(f.live)) for f in files)
        (self.staged / contract.MANIFEST).write_text(manifest)

    def make_live(self, files: list[File]) -> None:
        """As an earlier deploy left them."""
        for file in files:
            file.live.write_bytes(file.data)
            self.own(file.live, file.uid, file.gid, file.mode)

    def assert_live(self, files: list[File]) -> None:
        for file in files:
            assert not file.live.is_symlink() and file.live.is_file(), file.live
            info = file.live.stat()
            assert file.live.read_bytes() == file.data, file.live
            assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (file.uid, file.gid, file.mode), file.live

    def snapshot(self) -> dict[str, Any]:
        """Everything under the live directories and the rollback set, to show nothing changed."""
        found: dict[str, Any] = {}
        for top in (self.conf, self.tls, self.previous):
            for path in sorted(top.rglob("*")) if top.exists() else []:
                info = path.lstat()
                content = os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else None
                found[str(path)] = (content, info.st_uid, info.st_gid, info.st_mode)
        return found

    def leftovers(self) -> list[Path]:
        """Temporary files the script may have left in a live directory."""
        return [
            p
            for d in (self.conf / "config.d", self.conf / "users.d", self.tls)
            for p in d.iterdir()
            if p.name.startswith(".")
        ]

    def calls(self) -> list[str]:
        path = self.stub_state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def start_server(self) -> None:
        subprocess.run([str(self.stubs / "fake-server"), "start"], env=self.env, check=True, timeout=10)
        assert self.running()

    def running(self) -> bool:
        return (
            subprocess.run(
                [str(self.stubs / "pidof"), "clickhouse-server"], env=self.env, capture_output=True
            ).returncode
            == 0
        )

    def stop_everything(self) -> None:
        try:
            os.kill(int((self.stub_state / "server.pid").read_text()), 9)
        except (OSError, ValueError):
            pass


@pytest.fixture
def base() -> Iterator[Path]:
    """A temporary directory the server user can traverse (pytest's own is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="hardhouse-apply-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def host(base: Path) -> Iterator[Host]:
    made = Host(base)
    yield made
    made.stop_everything()


@pytest.fixture
def listening() -> Iterator[str]:
    """A tcp health target that accepts connections."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(128)
        yield f"tcp:127.0.0.1:{server.getsockname()[1]}"


def closed_target() -> str:
    """A tcp health target nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"tcp:127.0.0.1:{port}"


def serving(directory: Path, leaf: Issued) -> TlsServer:
    """A TLS server on 127.0.0.1 answering with `leaf` (as the ClickHouse server would)."""
    cert, key = directory / "served.crt", directory / "served.key"
    cert.write_bytes(leaf.cert_pem)
    key.write_bytes(leaf.key_pem)
    return TlsServer(cert, key)


def tls_target(server: TlsServer) -> str:
    return f"tls:127.0.0.1:{server.port}"


def expired_leaf(ca: Issued, monkeypatch: pytest.MonkeyPatch) -> Issued:
    with monkeypatch.context() as patch:
        patch.setattr(issue, "VALIDITY", datetime.timedelta(minutes=-1))
        return issue_leaf(ca, "clickhouse", ["127.0.0.1"])


# ---------------------------------------------------------------------------------------------
# The contract


def test_shipped_script_carries_every_contract_value() -> None:
    text = shipped()
    for name, value in contract.shell_values().items():
        assert hostscripts.assignment(name, value) in text.splitlines(), name
    assert f"HH_FILE_PREFIX='{contract.FILE_PREFIX}'" in text.splitlines()
    assert f"HH_UNSAFE_PATH_CHARS={shlex.quote(contract.UNSAFE_PATH_CHARS)}" in text.splitlines()
    assert hostscripts.CONTRACT_BEGIN + "\n" not in text  # the source's empty block is gone


def test_script_uses_the_contract_variables_not_literals() -> None:
    """Outside its header the source (with its profiles) spells no contract value: it reads the
    HH_* variables."""
    source = hostscripts.with_libraries(SOURCE.read_text())
    block = source[source.index(hostscripts.CONTRACT_BEGIN) : source.index(hostscripts.CONTRACT_END)]
    declared = {line.split("=", 1)[0] for line in block.splitlines()[1:]}
    assert declared == set(contract.shell_values())
    code = "\n".join(line for line in source.replace(block, "").splitlines() if not line.lstrip().startswith("#"))
    literals = [
        contract.FILE_PREFIX,
        contract.SERVICE,
        contract.CONFIG_DIR,
        contract.DATA_DIR,
        contract.ERROR_LOG,
        contract.LIVE_TARGETS,
        contract.ACTIVATED_AT,
        contract.KIND_PRIVATE_KEY,
        contract.KIND_CA_CERTIFICATE,
        *(f"/{name}" for name in (contract.STAGED_DIR, contract.PREVIOUS_DIR, contract.MANIFEST)),
        contract.ZK_CONFIG,
        contract.ZK_PIDFILE,
        contract.ZK_LIVE_STAMP,
    ]
    for literal in literals:
        assert literal not in code, literal
    for name in contract.shell_values():
        assert f"${name}" in code or f"${{{name}" in code, f"{name} is declared but never used"
    words = "|".join(
        contract.MANIFEST_KINDS
        + contract.ZOOKEEPER.kinds
        + contract.HEALTH_KINDS
        + contract.ZOOKEEPER.health_kinds
        + contract.ACTIVATION_MODES
    )
    assert not re.search(rf"^\s*({words})\)|[=!]= ?[\"']?({words})\b", code, re.MULTILINE)


def test_source_without_its_contract_refuses_to_run(host: Host) -> None:
    raw = host.script.with_name("raw")
    shutil.copy(SOURCE, raw)
    raw.chmod(0o700)
    result = host.run("validate", script=raw)
    assert result.returncode == 2 and "without its contract header" in result.stderr


def test_script_follows_a_changed_contract(base: Path, monkeypatch: pytest.MonkeyPatch, listening: str) -> None:
    """Other names in contract.py: the shipped script stages, backs up, cleans and restarts by them."""
    for name, value in [
        ("FILE_PREFIX", "yy-test-"),
        ("STAGED_DIR", "incoming"),
        ("PREVIOUS_DIR", "rollback"),
        ("MANIFEST", "LIST"),
        ("SERVICE", "ch-test"),
        ("LIVE_TARGETS", "healthy-on"),
    ]:
        monkeypatch.setattr(contract, name, value)
    host = Host(base)
    try:
        (host.conf / "config.d" / "yy-test-old.xml").write_text("<yandex/>")
        (host.conf / "config.d" / "zz-hardhouse-listen.xml").write_text("<yandex/>")  # not hardhouse's now
        files = host.files("new")
        host.stage(files)
        assert (host.state / "incoming" / "LIST").exists()
        assert host.run("validate").returncode == 0
        host.start_server()
        result = host.activate("restart", TIMEOUT, listening)
        assert result.returncode == 0, result.stderr
        host.assert_live(files)
        assert not (host.conf / "config.d" / "yy-test-old.xml").exists()
        assert (host.conf / "config.d" / "zz-hardhouse-listen.xml").exists()
        assert (host.state / "rollback" / "INDEX").exists() and (
            host.state / "healthy-on"
        ).read_text() == listening + "\n"
        assert host.calls() == ["systemctl daemon-reload", "systemctl restart ch-test"]
    finally:
        host.stop_everything()


def test_manifest_line_refuses_what_the_script_refuses() -> None:
    assert (
        contract.manifest_line("users", "users.d/a.xml", "/etc/x/users.d/a.xml")
        == "users users.d/a.xml /etc/x/users.d/a.xml\n"
    )
    for kind, staged, live in [
        ("sql", "a", "/a"),
        ("users", "/abs", "/a"),
        ("users", "a", "rel"),
        ("users", "a", "/a b"),
        ("users", "../a", "/a"),
        ("users", "a", "/x/../a"),
        ("users", "a", "/a'b"),
    ]:
        with pytest.raises(ValueError):
            contract.manifest_line(kind, staged, live)


# ---------------------------------------------------------------------------------------------
# The script itself


def test_shipped_script_is_valid_bash(tmp_path: Path) -> None:
    assert SOURCE.read_text().startswith("#!/bin/bash\n")
    (tmp_path / "hardhouse-apply").write_text(shipped())
    result = subprocess.run(["bash", "-n", str(tmp_path / "hardhouse-apply")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_script_is_shellcheck_clean(tmp_path: Path) -> None:
    require(shutil.which("shellcheck") is not None, "shellcheck is not installed (scripts/setup-machine installs it)")
    (tmp_path / "hardhouse-apply").write_text(shipped())
    for path in (SOURCE, tmp_path / "hardhouse-apply", *sorted(STUBS.iterdir())):
        result = subprocess.run(["shellcheck", "-x", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
    # Only targeted exceptions, each with its reason.
    for line in SOURCE.read_text().splitlines():
        if "shellcheck" in line and "disable" in line:
            assert re.fullmatch(r"\s*# shellcheck disable=SC\d{4}(,SC\d{4})*  # \S.*", line), line


# ---------------------------------------------------------------------------------------------
# validate


@pytest.mark.parametrize("parser", ["modern", "18.16"])
def test_validate_accepts_a_good_set(base: Path, parser: str) -> None:
    host = Host(base, parser=parser)
    host.stage(host.files("new", tls_for()))
    before = host.snapshot()
    result = host.run("validate")
    assert result.returncode == 0, result.stderr
    assert "staged configuration is valid (5 files)" in result.stdout
    assert host.snapshot() == before


@needs_root
def test_validate_accepts_log_database_keys_only_root_can_read(host: Host) -> None:
    """The key file (0600 root, in a 0700 root directory) and its hook are read by the service
    manager as root before the server starts, never by the server user: validate must not ask
    the server user to read them (it did, and refused every key_env deploy; found on a systemd
    sandbox host, tests/deploy/test_deploy_systemd_sandbox.py)."""
    files = host.files("new", tls_for()) + _key_files(host, "d" * 64)
    host.stage(files)
    result = host.run("validate")
    assert result.returncode == 0, result.stderr
    assert "staged configuration is valid (7 files)" in result.stdout
    # Every other file still has to be readable by the server user.
    (host.staged / files[1].staged).chmod(0o600)
    result = host.run("validate")
    assert result.returncode == 1 and f"{files[1].live}: not readable by {SERVER_USER}" in result.stderr


def _break(host: Host, files: list[File], case: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Stage `files` with one problem; return the message validate must give."""
    users = files[1]
    if case == "missing staged file":
        host.stage(files)
        (host.staged / users.staged).unlink()
        return f"{users.live}: not staged"
    if case == "unreadable by the server user":
        host.stage(files)
        (host.staged / users.staged).chmod(0o600 if ROOT else 0)
        return f"{users.live}: not readable by {SERVER_USER}"
    if case == "certificate not matching its key":
        other = tls_for()
        files = [
            f if f.kind != "private_key" else File(f.kind, f.staged, f.live, other.leaf.key_pem, f.uid, f.gid, f.mode)
            for f in files
        ]
        host.stage(files)
        return f"the certificate {host.tls / 'server.crt'} does not match the private key {host.tls / 'server.key'}"
    if case == "expired certificate":
        tls = tls_for()
        expired = Tls(tls.ca, expired_leaf(tls.ca, monkeypatch))
        host.stage(host.files("new", expired))
        return f"{host.tls / 'server.crt'}: expired (notAfter="
    if case == "world-writable TLS directory":
        host.stage(files)
        host.tls.chmod(0o777)
        return (
            f"{host.tls} is writable by group or others (mode 777): they could plant a link or file where root writes."
            f" Fix: chmod go-w {host.tls}"
        )
    if case == "link at a live path":
        host.stage(files)
        (host.base / "victim").write_text("not yours")
        files[0].live.unlink()
        files[0].live.symlink_to(host.base / "victim")
        victim = host.base / "victim"
        return f"{files[0].live} is a symbolic link (to {victim}); hardhouse replaces files and never writes through"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "missing staged file",
        "unreadable by the server user",
        "certificate not matching its key",
        "expired certificate",
        "world-writable TLS directory",
        "link at a live path",
    ],
)
def test_validate_refuses_a_bad_set_and_changes_nothing(host: Host, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    host.make_live(host.files("old", tls_for()))
    message = _break(host, host.files("new", tls_for()), case, monkeypatch)
    before = host.snapshot()
    result = host.run("validate")
    assert result.returncode == 1, result.stderr
    assert "validation failed; nothing went live" in result.stderr
    assert message in result.stderr, result.stderr
    assert host.snapshot() == before


@needs_root
def test_validate_fails_closed_when_the_server_users_view_cannot_be_checked(host: Host) -> None:
    """What the server user can read is checked in one runuser process: where that process
    fails (a broken PAM setup), nothing counts as readable and validation fails."""
    host.stage(host.files("new", tls_for()))
    (host.stub_state / "runuser-fails").write_text("")
    result = host.run("validate")
    assert result.returncode == 1, result.stderr
    assert f"could not check as {SERVER_USER} which staged files it can read" in result.stderr


@needs_root
def test_validate_names_each_unreadable_file_and_each_closed_directory_once(host: Host) -> None:
    files = host.files("new", tls_for())
    host.stage(files)
    unreadable = [f for f in files if f.kind in ("config", "users")][:2]
    for file in unreadable:
        (host.staged / file.staged).chmod(0o600)
    closed = files[0].live.parent
    closed.chmod(0o700)
    result = host.run("validate")
    assert result.returncode == 1, result.stderr
    for file in unreadable:
        assert f"{file.live}: not readable by {SERVER_USER} (" in result.stderr, result.stderr
    assert result.stderr.count(f"{closed}: {SERVER_USER} cannot enter it (") == 1, result.stderr


@pytest.mark.parametrize("parser", ["modern", "18.16"])
def test_validate_refuses_what_clickhouses_parser_rejects(base: Path, parser: str) -> None:
    """Modern servers: clickhouse extract-from-config; 18.16: clickhouse-client --config-file."""
    host = Host(base, parser=parser)
    host.make_live(host.files("old"))
    files = host.files("new")
    users = files[1]
    files[1] = File(
        users.kind,
        users.staged,
        users.live,
        b"<yandex><users><x></users> PARSER-REJECTS</yandex>",
        users.uid,
        users.gid,
        users.mode,
    )
    host.stage(files)
    before = host.snapshot()
    result = host.run("validate")
    assert result.returncode == 1 and "validation failed; nothing went live" in result.stderr
    assert "ClickHouse cannot load users.xml with the new files: " in result.stderr
    # The message names the live path, not the scratch copy the parser read.
    assert f"Failed to merge config with '{users.live}': SAXParseException: Tag mismatch" in result.stderr, (
        result.stderr
    )
    assert "Include not found" not in result.stderr
    assert host.snapshot() == before


def test_validate_with_the_real_clickhouse_client_parser(host: Host) -> None:
    """ClickHouse's real parser where this machine has one (scripts/setup-machine installs 18.16's client)."""
    require(bool(shutil.which("clickhouse-client") or shutil.which("clickhouse")), "no ClickHouse client installed")
    for stub in ("clickhouse", "clickhouse-client"):
        (host.stubs / stub).unlink()
    files = host.files("new")
    host.stage(files)
    result = host.run("validate")
    assert result.returncode == 0, result.stderr
    users = files[1]
    files[1] = File(
        users.kind, users.staged, users.live, b"<yandex><users><x></users></yandex>", users.uid, users.gid, 0o640
    )
    host.stage(files)
    result = host.run("validate")
    assert result.returncode == 1
    assert f"Failed to merge config with '{users.live}': SAXParseException: Tag mismatch" in result.stderr, (
        result.stderr
    )


@needs_root
def test_validate_refuses_a_directory_not_owned_by_root(host: Host) -> None:
    host.stage(host.files("new", tls_for()))
    os.chown(host.tls, SERVER_UID, SERVER_GID)
    result = host.run("validate")
    assert result.returncode == 1
    assert (
        f"{host.tls} is owned by {SERVER_USER}, not root" in result.stderr and f"chown root {host.tls}" in result.stderr
    )


def test_validate_reports_every_problem_at_once(host: Host) -> None:
    files = host.files("new", tls_for())
    host.stage(files)
    (host.staged / files[0].staged).unlink()
    host.tls.chmod(0o777)
    result = host.run("validate")
    assert result.returncode == 1
    assert f"{files[0].live}: not staged" in result.stderr and "chmod go-w" in result.stderr


# ---------------------------------------------------------------------------------------------
# Values from outside: MANIFEST lines, arguments, environment


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("config config.d/zz-hardhouse-listen.xml", 'is not "KIND STAGED_PATH LIVE_PATH"', id="two fields"),
        pytest.param("config a b c", 'is not "KIND STAGED_PATH LIVE_PATH"', id="four fields"),
        pytest.param("sql sql/zz-hardhouse-x.sql {conf}/sql/zz-hardhouse-x.sql", "unknown kind sql", id="unknown kind"),
        pytest.param(
            "config /etc/passwd {conf}/config.d/zz-hardhouse-x.xml",
            "the staged path /etc/passwd must be relative",
            id="absolute staged path",
        ),
        pytest.param(
            "config ../../etc/passwd {conf}/config.d/zz-hardhouse-x.xml", "must be relative and plain", id="staged .."
        ),
        pytest.param(
            "certificate tls/certificate.pem tls/server.crt",
            "the live path tls/server.crt must be absolute",
            id="relative live",
        ),
        pytest.param("certificate tls/certificate.pem {conf}/../x.crt", "must be absolute and plain", id="live .."),
        pytest.param(
            "certificate tls/certificate.pem {conf}/x'$(id).crt", "must be absolute and plain", id="live with quote"
        ),
        pytest.param(
            "config config.d/zz-hardhouse-listen.xml /etc/cron.d/zz-hardhouse-listen.xml",
            "a config file goes live as {conf}/config.d/zz-hardhouse-*.xml",
            id="config outside config.d",
        ),
        pytest.param(
            "users users.d/zz-hardhouse-users.xml {conf}/users.d/other.xml",
            "a users file goes live as",
            id="not hardhouse's name",
        ),
        pytest.param(
            "config config.d/zz-hardhouse-x.xml {conf}/config.d/zz-hardhouse-sub/x.xml",
            "a config file goes live in {conf}/config.d itself",
            id="config in a subdirectory",
        ),
        pytest.param("", "MANIFEST line 3: '' is not", id="empty line"),
    ],
)
def test_a_bad_manifest_line_is_refused_before_anything_changes(
    host: Host, listening: str, line: str, message: str
) -> None:
    files = host.files("new")
    host.make_live(host.files("old"))
    good = "".join(contract.manifest_line(f.kind, f.staged, str(f.live)) for f in files)
    host.stage(files, manifest=good + line.format(conf=host.conf) + "\n")
    host.start_server()
    before = host.snapshot()
    for args in (["validate"], ["activate", "restart", TIMEOUT, listening]):
        result = host.run(*args)
        assert result.returncode == 1, result.stderr
        assert "is not usable; nothing changed" in result.stderr
        assert message.format(conf=host.conf) in result.stderr, result.stderr
    assert host.snapshot() == before and host.calls() == []


def test_a_live_path_listed_twice_is_refused(host: Host) -> None:
    files = host.files("new")
    text = "".join(contract.manifest_line(f.kind, f.staged, str(f.live)) for f in files + files[:1])
    host.stage(files, manifest=text)
    result = host.run("validate")
    assert result.returncode == 1 and "is listed twice" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["bounce", TIMEOUT, "tcp:127.0.0.1:9000"], "the mode bounce is not one of restart reload start", id="mode"
        ),
        pytest.param(["restart", "0", "tcp:127.0.0.1:9000"], "TIMEOUT 0 is not a number of seconds", id="zero timeout"),
        pytest.param(["restart", "-5", "tcp:127.0.0.1:9000"], "TIMEOUT -5", id="negative timeout"),
        pytest.param(
            ["restart", "$(reboot)", "tcp:127.0.0.1:9000"], "TIMEOUT '$(reboot)'", id="timeout with a command"
        ),
        pytest.param(
            ["restart", TIMEOUT, "udp:127.0.0.1:9000"],
            "the target udp:127.0.0.1:9000 is not KIND:ADDRESS:PORT",
            id="kind",
        ),
        pytest.param(["restart", TIMEOUT, "tcp:localhost:9000"], "the target tcp:localhost:9000", id="host name"),
        pytest.param(
            ["restart", TIMEOUT, "tcp:127.0.0.1:9000;id"],
            "the target 'tcp:127.0.0.1:9000;id'",
            id="shell metacharacter",
        ),
        pytest.param(
            ["restart", TIMEOUT, "tls:127.0.0.1:99999"], "the target tls:127.0.0.1:99999", id="port out of range"
        ),
        pytest.param(["restart", TIMEOUT, "tls:127.0.0.1"], "the target tls:127.0.0.1 ", id="no port"),
        pytest.param(["restart", TIMEOUT], "activate needs a mode, a timeout and at least one target", id="no target"),
    ],
)
def test_bad_arguments_are_refused_before_anything_changes(host: Host, args: list[str], message: str) -> None:
    host.make_live(host.files("old"))
    host.stage(host.files("new"))
    before = host.snapshot()
    result = host.activate(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "usage: hardhouse-apply" in result.stderr
    assert host.snapshot() == before and host.calls() == []


def test_ipv6_targets_are_accepted(host: Host) -> None:
    with socket.socket(socket.AF_INET6) as server:
        try:
            server.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
        server.listen(16)
        files = host.files("new")
        host.stage(files)
        host.start_server()
        result = host.activate("restart", TIMEOUT, f"tcp:::1:{server.getsockname()[1]}")
    assert result.returncode == 0, result.stderr
    host.assert_live(files)


def test_a_bad_environment_is_refused(host: Host) -> None:
    host.env["HARDHOUSE_CONF"] = "/etc/click house"
    result = host.run("validate")
    assert result.returncode == 2 and "HARDHOUSE_CONF '/etc/click house' is not a plain absolute path" in result.stderr


# ---------------------------------------------------------------------------------------------
# activate: the swap


def test_swap_puts_every_file_in_place_and_removes_stale_ones(host: Host, listening: str) -> None:
    tls = tls_for()
    old = host.files("old", tls_for(), extra=("quotas",))
    host.make_live(old)
    foreign = host.conf / "config.d" / "ops-tuning.xml"
    foreign.write_text("<yandex/>")
    new = host.files("new", tls)
    host.stage(new)
    host.start_server()
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 0, result.stderr
    assert f"ClickHouse restarted with the new configuration; healthy on {listening}" in result.stdout
    host.assert_live(new)
    assert not old[2].live.exists()  # zz-hardhouse-quotas.xml: the manifest no longer lists it
    assert foreign.read_text() == "<yandex/>"
    assert host.leftovers() == []
    assert host.calls() == ["systemctl daemon-reload", "systemctl restart clickhouse-server"]


def test_swap_does_not_follow_a_link_at_the_old_temporary_name(host: Host, listening: str) -> None:
    """The old script copied to a predictable LIVE.hardhouse-new; a link planted there now
    changes nothing: the temporary names are random and created exclusively."""
    victim = host.base / "victim"
    victim.write_text("precious")
    files = host.files("new", tls_for())
    for file in files:
        Path(f"{file.live}.hardhouse-new").symlink_to(victim)
    host.stage(files)
    host.start_server()
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious"
    host.assert_live(files)


def test_activate_refuses_a_link_at_a_live_path(host: Host, listening: str) -> None:
    victim = host.base / "victim"
    victim.write_text("precious")
    files = host.files("new", tls_for())
    files[3].live.symlink_to(victim)  # the private key's path
    host.stage(files)
    host.start_server()
    before = host.snapshot()
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 1
    assert "refusing to activate; nothing changed" in result.stderr and "is a symbolic link" in result.stderr
    assert victim.read_text() == "precious" and host.snapshot() == before and host.calls() == []


def test_activate_refuses_a_world_writable_tls_directory(host: Host, listening: str) -> None:
    host.make_live(host.files("old", tls_for()))
    host.stage(host.files("new", tls_for()))
    host.tls.chmod(0o777)
    before = host.snapshot()
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 1
    assert f"Fix: chmod go-w {host.tls}" in result.stderr and "nothing changed" in result.stderr
    assert host.snapshot() == before and host.calls() == []


def test_a_failed_swap_restores_the_previous_files(host: Host, listening: str) -> None:
    old = host.files("old", tls_for())
    host.make_live(old)
    new = host.files("new", tls_for())
    host.stage(new)
    new[2].live.unlink()
    new[2].live.mkdir()  # the certificate's path is a directory: the swap fails there, midway
    host.start_server()
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 1
    assert "could not put the staged files in place; the previous files were restored" in result.stderr
    host.assert_live([f for f in old if f.kind != "certificate"])
    assert host.calls() == [] and host.leftovers() == []


# ---------------------------------------------------------------------------------------------
# activate: the service manager and health


@pytest.mark.parametrize(
    ("systemd", "mode", "running", "calls"),
    [
        pytest.param(
            True,
            "restart",
            True,
            ["systemctl daemon-reload", "systemctl restart clickhouse-server"],
            id="systemd restart",
        ),
        pytest.param(
            True, "start", False, ["systemctl daemon-reload", "systemctl start clickhouse-server"], id="systemd start"
        ),
        pytest.param(False, "restart", True, ["init.d stop", "init.d start"], id="SysV restart"),
        pytest.param(False, "start", False, ["init.d start"], id="SysV start"),
    ],
)
def test_the_service_manager_is_called_as_the_mode_needs(
    base: Path, listening: str, systemd: bool, mode: str, running: bool, calls: list[str]
) -> None:
    host = Host(base, systemd=systemd)
    try:
        host.stage(host.files("new"))
        if running:
            host.start_server()
        result = host.activate(mode, TIMEOUT, listening)
        assert result.returncode == 0, result.stderr
        assert f"ClickHouse {mode}ed with the new configuration" in result.stdout
        assert host.calls() == calls and host.running()
    finally:
        host.stop_everything()


def _users_reload_after_swap(host: Host, users: File) -> threading.Thread:
    """Play ClickHouse: once the new users file is live, rewrite the preprocessed users.xml."""

    def reload() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if users.live.exists() and users.live.read_bytes() == users.data:
                break
            time.sleep(0.05)
        marker = (host.state / contract.ACTIVATED_AT).stat().st_mtime
        preprocessed = host.data / "preprocessed_configs" / "users.xml"
        preprocessed.write_text("<yandex/>")
        os.utime(preprocessed, (marker + 2, marker + 2))

    thread = threading.Thread(target=reload, daemon=True)
    thread.start()
    return thread


def test_reload_waits_for_the_users_reload_without_a_restart(host: Host, listening: str) -> None:
    host.make_live(host.files("old"))
    new = host.files("new")
    host.stage(new)
    host.start_server()
    thread = _users_reload_after_swap(host, new[1])
    result = host.activate("reload", TIMEOUT, listening)
    thread.join()
    assert result.returncode == 0, result.stderr
    assert "users reloaded without a restart" in result.stdout
    assert host.calls() == []
    host.assert_live(new)


@pytest.mark.slow
def test_reload_without_a_users_reload_rolls_back(host: Host, listening: str) -> None:
    old = host.files("old")
    host.make_live(old)
    host.stage(host.files("new"))
    host.start_server()
    result = host.activate("reload", SHORT, listening)
    assert result.returncode == 1
    assert "not healthy (waiting for: the users reload)" in result.stderr and "rolled back" in result.stderr
    host.assert_live(old)


def test_tls_target_healthy_when_it_serves_the_new_certificate(host: Host) -> None:
    tls = tls_for()
    new = host.files("new", tls)
    host.stage(new)
    host.start_server()
    server = serving(host.base, tls.leaf)
    try:
        result = host.activate("restart", TIMEOUT, tls_target(server))
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    host.assert_live(new)


@pytest.mark.slow
def test_tls_target_serving_another_certificate_is_not_healthy(host: Host) -> None:
    old_tls = tls_for()
    old = host.files("old", old_tls)
    host.make_live(old)
    host.stage(host.files("new", tls_for()))
    host.start_server()
    server = serving(host.base, old_tls.leaf)  # still the old certificate
    try:
        result = host.activate("restart", SHORT, tls_target(server))
    finally:
        server.close()
    assert result.returncode == 1
    assert f"not healthy (waiting for: 127.0.0.1:{server.port})" in result.stderr
    host.assert_live(old)


@pytest.mark.slow
def test_health_wait_times_out_when_a_target_does_not_answer(host: Host) -> None:
    host.stage(host.files("new"))
    host.start_server()
    target = closed_target()
    started = time.monotonic()
    result = host.activate("restart", SHORT, target)
    assert result.returncode == 1
    assert f"not healthy (waiting for: {target.split(':', 1)[1]})" in result.stderr
    assert time.monotonic() - started < 15


# ---------------------------------------------------------------------------------------------
# activate: rollback and the rollback set


def _previous_deploy(host: Host, listening: str, tls: Tls) -> list[File]:
    """A first, healthy activation: the set a later failure rolls back to."""
    old = host.files("old", tls)
    host.stage(old)
    host.start_server()
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 0, result.stderr
    (host.stub_state / "calls").unlink()
    return old


def test_rollback_restores_the_previous_files_and_restarts(host: Host, listening: str) -> None:
    old = _previous_deploy(host, listening, tls_for())
    new = host.files("new", tls_for(), extra=("quotas",))
    new[0] = File(
        new[0].kind,
        new[0].staged,
        new[0].live,
        b"<yandex><listen_host>10.9.9.9</listen_host><!-- BROKEN-LISTEN --></yandex>",
        new[0].uid,
        new[0].gid,
        new[0].mode,
    )
    host.stage(new)
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 1
    assert "rolled back: the previous configuration is serving again" in result.stderr, result.stderr
    assert "Cannot assign requested address" in result.stderr
    host.assert_live(old)
    assert not new[2].live.exists()  # nothing of the new set stays: its extra file is gone
    assert host.leftovers() == []
    assert host.calls() == ["systemctl daemon-reload", "systemctl restart clickhouse-server"] * 2 and host.running()


@pytest.mark.slow
def test_a_rollback_that_does_not_come_back_says_so(host: Host, listening: str) -> None:
    old = _previous_deploy(host, listening, tls_for())
    host.stage(host.files("new", tls_for()))
    (host.stub_state / "always-fails").write_text("")
    result = host.activate("restart", SHORT, listening)
    assert result.returncode == 1
    assert "ROLLBACK FAILED: the previous configuration is not healthy" in result.stderr
    host.assert_live(old)


@pytest.mark.slow
def test_rollback_of_a_stopped_server_leaves_it_stopped(host: Host) -> None:
    old = host.files("old")
    host.make_live(old)
    host.stage(host.files("new"))
    result = host.activate("start", SHORT, closed_target())
    assert result.returncode == 1
    assert "rolled back: the previous files are restored and the server is stopped, as it was" in result.stderr
    host.assert_live(old)
    assert not host.running()


BY_PID = "/proc/PID/exe is hidden here): stopping it by pid"


@pytest.mark.parametrize(
    "exe_hidden",
    [
        pytest.param(True, id="exe hidden: stopped by pid at once"),
        # The script may have signalled the server: it gets the profile's grace (2 s) to exit.
        pytest.param(False, id="exe readable: after the grace", marks=pytest.mark.slow),
    ],
)
def test_sysv_restart_stops_a_server_its_init_script_missed(base: Path, listening: str, exe_hidden: bool) -> None:
    """Debian's init script cannot find the server in some containers: the script kills it by pid.
    Where the server's /proc/PID/exe is hidden from root too, the init script stopped nothing,
    and the server is stopped by pid without waiting for it."""
    host = Host(base, systemd=False)
    try:
        host.stage(host.files("new"))
        host.start_server()
        first = (host.stub_state / "server.pid").read_text()
        (host.stub_state / "stop-does-nothing").write_text("")
        if exe_hidden:
            (host.stub_state / "exe-hidden").write_text("")
        result = host.activate("restart", TIMEOUT, listening)
        assert result.returncode == 0, result.stderr
        assert (host.stub_state / "server.pid").read_text() != first and host.running()
        assert (BY_PID in result.stderr) == exe_hidden, result.stderr
    finally:
        host.stop_everything()


def test_a_server_the_init_script_can_see_is_left_to_it(base: Path, listening: str) -> None:
    """An init script that stops the server itself: no stop by pid is announced, and the restart
    serves the new files."""
    host = Host(base, systemd=False)
    try:
        host.stage(host.files("new"))
        host.start_server()
        first = (host.stub_state / "server.pid").read_text()
        result = host.activate("restart", TIMEOUT, listening)
        assert result.returncode == 0, result.stderr
        assert (host.stub_state / "server.pid").read_text() != first and host.running()
        assert BY_PID not in result.stderr
    finally:
        host.stop_everything()


def test_the_rollback_set_keeps_no_retired_key(host: Host, listening: str) -> None:
    old_tls = tls_for()
    old = _previous_deploy(host, listening, old_tls)
    new = host.files("new", tls_for())
    host.stage(new)
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 0, result.stderr
    assert host.previous.stat().st_mode & 0o777 == 0o700 and host.previous.stat().st_uid == OWNER
    kept = {p.read_bytes() for p in (host.previous / "files").iterdir()}
    for path in host.previous.rglob("*"):
        if path.is_file():
            assert path.stat().st_mode & 0o777 == 0o600, path
    assert old_tls.leaf.key_pem not in kept  # the retired key is gone ...
    assert old_tls.leaf.cert_pem in kept and {f.data for f in old if f.kind == "config"} <= kept  # ... the rest stays
    index = (host.previous / "INDEX").read_text()
    assert f"retired private_key {SERVER_UID} {SERVER_GID} 600 {host.tls / 'server.key'}" in index
    assert new[3].data not in kept  # the live key was never copied there


def test_after_a_rollback_the_previous_key_is_live_and_the_new_one_gone(host: Host, listening: str) -> None:
    old_tls = tls_for()
    old = _previous_deploy(host, listening, old_tls)
    new_tls = tls_for()
    new = host.files("new", new_tls)
    new[0] = File(
        new[0].kind,
        new[0].staged,
        new[0].live,
        b"<yandex><!-- BROKEN-LISTEN --></yandex>",
        new[0].uid,
        new[0].gid,
        new[0].mode,
    )
    host.stage(new)
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 1 and "rolled back" in result.stderr
    host.assert_live(old)
    live = [p.read_bytes() for d in (host.conf / "config.d", host.conf / "users.d", host.tls) for p in d.iterdir()]
    assert new_tls.leaf.key_pem not in live and host.leftovers() == []


# activate --hold and rollback: undoing a healthy activation the deploy's verification refused

TOKEN = "0123456789abcdef" * 2


def test_a_held_activation_keeps_the_previous_key_and_rolls_back_with_its_token(host: Host, listening: str) -> None:
    old_tls = tls_for()
    old = _previous_deploy(host, listening, old_tls)
    new = host.files("new", tls_for(), extra=("quotas",))
    host.stage(new)
    result = host.run("activate", "restart", TIMEOUT, contract.HOLD_FLAG, TOKEN, listening)
    assert result.returncode == 0, result.stderr
    host.assert_live(new)
    assert (host.state / contract.HELD).read_text().strip() == TOKEN
    assert old_tls.leaf.key_pem in {p.read_bytes() for p in (host.previous / "files").iterdir()}
    (host.stub_state / "calls").unlink()
    result = host.run("rollback", TIMEOUT, TOKEN)
    assert result.returncode == 0, result.stderr
    assert "rolled back: the previous configuration is serving again" in result.stdout
    host.assert_live(old)
    assert not new[2].live.exists() and host.leftovers() == []
    assert host.calls() == ["systemctl daemon-reload", "systemctl restart clickhouse-server"] and host.running()
    assert not (host.state / contract.HELD).exists()
    again = host.run("rollback", TIMEOUT, TOKEN)  # undone once: nothing is held any more
    assert again.returncode == 1 and "nothing to roll back" in again.stderr


def test_rollback_with_another_runs_token_changes_nothing(host: Host, listening: str) -> None:
    _previous_deploy(host, listening, tls_for())
    host.stage(host.files("new", tls_for()))
    assert host.run("activate", "restart", TIMEOUT, contract.HOLD_FLAG, TOKEN, listening).returncode == 0
    before = host.snapshot()
    result = host.run("rollback", TIMEOUT, "f" * 32)
    assert result.returncode == 1 and "nothing to roll back" in result.stderr
    assert host.snapshot() == before


def test_an_activation_without_hold_retires_the_key_and_ends_an_older_hold(host: Host, listening: str) -> None:
    _previous_deploy(host, listening, tls_for())
    host.stage(host.files("held", tls_for()))
    assert host.run("activate", "restart", TIMEOUT, contract.HOLD_FLAG, TOKEN, listening).returncode == 0
    host.stage(host.files("next", tls_for()))
    assert host.activate("restart", TIMEOUT, listening).returncode == 0
    assert not (host.state / contract.HELD).exists()
    assert "retired private_key" in (host.previous / "INDEX").read_text()
    assert host.run("rollback", TIMEOUT, TOKEN).returncode == 1


def test_the_stock_configuration_is_never_restored_by_a_rollback(host: Host, listening: str) -> None:
    """The first activation's previous set is whatever was there (the stock, exposed config)."""
    first = host.files("first", tls_for())
    host.stage(first)
    host.start_server()
    assert host.run("activate", "restart", TIMEOUT, contract.HOLD_FLAG, TOKEN, listening).returncode == 0
    result = host.run("rollback", TIMEOUT, TOKEN)
    assert result.returncode == 1 and "the stock configuration is never restored" in result.stderr
    host.assert_live(first)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollback", TIMEOUT], "rollback takes a timeout and the run's token"),
        (["rollback", "0", TOKEN], "is not a number of seconds"),
        (["rollback", TIMEOUT, "NOT-HEX"], "lower-case hex digits"),
        (["activate", "restart", TIMEOUT, contract.HOLD_FLAG, "xyz", "tcp:127.0.0.1:1"], "hold token"),
    ],
)
def test_bad_hold_and_rollback_arguments_are_refused(host: Host, args: list[str], message: str) -> None:
    before = host.snapshot()
    result = host.run(*args)
    assert result.returncode in (1, 2) and message in result.stderr, result.stderr
    assert host.snapshot() == before


def test_a_crashed_runs_half_made_rollback_set_is_removed(host: Host, listening: str) -> None:
    stale = host.state / f".{contract.PREVIOUS_DIR}.crashed"
    stale.mkdir()
    (stale / "1").write_bytes(b"an old key")
    host.stage(host.files("new"))
    host.start_server()
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 0, result.stderr
    assert not stale.exists()
    assert sorted(p.name for p in host.state.iterdir()) == sorted(
        [
            contract.BIN_DIR,
            contract.STAGED_DIR,
            contract.PREVIOUS_DIR,
            contract.LIVE_TARGETS,
            contract.ACTIVATED_AT,
            contract.LOCK,
        ]
    )


def test_one_run_at_a_time(host: Host, listening: str) -> None:
    host.make_live(host.files("old"))
    host.stage(host.files("new"))
    host.start_server()
    before = host.snapshot()
    with open(host.state / contract.LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 1 and "another hardhouse-apply is running" in result.stderr
    assert host.snapshot() == before and host.calls() == []


def test_the_server_gets_the_callers_umask_and_not_the_lock(base: Path, listening: str) -> None:
    """Under SysV the server inherits the script's environment: not its umask 077, not its lock."""
    host = Host(base, systemd=False)
    try:
        host.stage(host.files("new"))
        wrapper = ["sh", "-c", 'umask 027 && exec "$0" "$@"', str(host.script)]
        result = subprocess.run(
            [*wrapper, "activate", "start", TIMEOUT, listening],
            env=host.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert (host.stub_state / "server-umask").read_text().strip() == "0027"
        again = host.run("validate")  # the server still runs: it must not hold the lock
        assert again.returncode == 0, again.stderr
    finally:
        host.stop_everything()


def _broken_listen(files: list[File]) -> list[File]:
    """The set with its listen file made one the fake server cannot start with."""
    return [dataclasses.replace(files[0], data=b"<yandex><!-- BROKEN-LISTEN --></yandex>"), *files[1:]]


def _key_files(host: Host, tag: str) -> list[File]:
    """The log database key file and its service hook, where the test host keeps them."""
    keys_dir = host.base / "etc-hardhouse"
    keys_dir.mkdir(exist_ok=True)
    host.own(keys_dir, OWNER, os.getegid(), 0o700)
    return [
        File(
            "keys", "keys/keys.env", keys_dir / "keys.env", f"CH_LOGS_KEY={tag}\n".encode(), OWNER, os.getegid(), 0o600
        ),
        File("keys_hook", "keys/hook", host.base / "etc-hardhouse" / "hook", b"hook\n", OWNER, os.getegid(), 0o644),
    ]


def test_key_files_go_live_root_only_and_a_failed_first_activation_removes_them(host: Host, listening: str) -> None:
    old = _previous_deploy(host, listening, tls_for())
    keys = _key_files(host, "a" * 64)
    new = host.files("new") + keys
    host.stage(new)
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 0, result.stderr
    host.assert_live(new)  # 0600 and the right content, through the same transaction as the rest
    assert host.calls()[-2:] == ["systemctl daemon-reload", "systemctl restart clickhouse-server"]

    # A broken change that also rotates the key: rolled back, the previous key serves again.
    rotated = _key_files(host, "b" * 64)
    broken = _broken_listen(host.files("broken")) + rotated
    host.stage(broken)
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 1 and "rolled back" in result.stderr, result.stderr
    host.assert_live(new)
    assert old  # the earlier deploy had no keys at all


def test_a_failed_activation_that_adds_keys_leaves_none_behind(host: Host, listening: str) -> None:
    _previous_deploy(host, listening, tls_for())
    keys = _key_files(host, "c" * 64)
    broken = _broken_listen(host.files("broken")) + keys
    host.stage(broken)
    result = host.activate("restart", TIMEOUT, listening)
    assert result.returncode == 1 and "rolled back" in result.stderr, result.stderr
    assert not keys[0].live.exists() and not keys[1].live.exists()
