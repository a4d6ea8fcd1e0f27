"""The audit over SSH without a host: the fetch script run by a real shell on real files, the
archive it sends unpacked as hostile input, the deploy's re-check as an operation, and
`hardhouse audit @INVENTORY.py` through pyinfra's local connector (no SSH, no Docker).

Archives that could blow up (a member claiming terabytes, thousands of members) are unpacked
in a child whose address space is capped (tests.helpers.CAPPED_MEMORY), so a broken bound
fails the test instead of taking the machine down.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyinfra.api import FunctionCommand
from pyinfra.context import ctx_host

from hardhouse.controls.waivers import parse_waivers
from hardhouse.deploy import audit
from hardhouse.deploy import recheck as live_recheck
from hardhouse.deploy.audit import (
    ARCHIVE_KEY,
    ARCHIVE_LIMIT,
    FETCH_SCRIPT,
    MAX_DEPTH,
    MAX_MEMBERS,
    ClickHouseConfigTree,
    FetchedTree,
    UnsafeArchive,
    audit_archive,
    extract_tree,
    parse_answer,
)
from hardhouse.deploy.recheck import recheck_lines
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse_dev.sandbox import sandbox_spec, sandbox_waivers
from tests.helpers import CAPPED_MEMORY, CAPPED_SECONDS

# What the sandbox's deploy waives (an 18.16 writer keeps every table function).
SANDBOX_WAIVERS = parse_waivers(sandbox_waivers())

STOCK_CONFIG = """<yandex>
    <listen_host>::1</listen_host>
    <listen_host>127.0.0.1</listen_host>
    <http_port>8123</http_port>
    <tcp_port>9000</tcp_port>
    <users_config>users.xml</users_config>
</yandex>
"""
STOCK_USERS = """<yandex>
    <profiles><default/><readonly><readonly>1</readonly></readonly></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default/></quotas>
</yandex>
"""
PLANTED = "<clickhouse><listen_host>0.0.0.0</listen_host></clickhouse>\n"
BCRYPT = "$2b$12$" + "Q" * 53  # modern ClickHouse's password_bcrypt_hash, which drift does not know as secret


def run_fetch(directory: Path, limit: int = ARCHIVE_LIMIT, key: str = ARCHIVE_KEY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", FETCH_SCRIPT.text, "hardhouse-config-tree", str(directory), str(limit), str(MAX_DEPTH), key],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def spec(secrets_dir: Path) -> Any:
    return load_spec(sandbox_spec("172.30.77.11", "172.30.77.1", "172.30.77.0/24", secrets_dir))


@pytest.fixture
def hardened_tree(tmp_path: Path, spec: Any) -> Path:
    """A stock 18.16 tree with the sandbox spec's files live, as a deploy leaves it."""
    tree = tmp_path / "clickhouse-server"
    (tree / "config.d").mkdir(parents=True)
    (tree / "config.xml").write_text(STOCK_CONFIG)
    (tree / "users.xml").write_text(STOCK_USERS)
    for file in render(spec, {}):
        path = tree / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.content)
    (tree / "tls").mkdir()
    (tree / "tls" / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nNOT-A-REAL-KEY\n-----END PRIVATE KEY-----\n")
    return tree


def fetched_archive(tree: Path) -> bytes:
    result = run_fetch(tree)
    assert result.returncode == 0, result.stderr
    fetched = parse_answer(result.stdout.splitlines())
    assert fetched.error is None and fetched.archive is not None
    return fetched.archive


# --- the fetch script ---------------------------------------------------------------------


def test_fetch_sends_the_configuration_files_encrypted_and_no_tls_key(hardened_tree: Path) -> None:
    (hardened_tree / "dictionaries").mkdir()
    (hardened_tree / "dictionaries" / "geo_dictionary.XML").write_text("<yandex/>")
    deep = hardened_tree.joinpath(*[f"d{i}" for i in range(MAX_DEPTH)])
    deep.mkdir(parents=True)
    (deep / "too-deep.xml").write_text("<yandex/>")
    result = run_fetch(hardened_tree)
    # The users file's hashes never travel in the clear (pyinfra prints a fact's output at -vvv).
    users = (hardened_tree / "users.d" / "zz-hardhouse-users.xml").read_bytes()
    hashes = [line.split(b">")[1].split(b"<")[0] for line in users.splitlines() if b"password_sha256_hex" in line]
    assert hashes and not any(h.decode() in result.stdout for h in hashes)
    assert base64.b64encode(users[:48]).decode()[:40] not in result.stdout
    archive = parse_answer(result.stdout.splitlines()).archive
    assert archive is not None
    names = sorted(tarfile.open(fileobj=io.BytesIO(archive)).getnames())
    assert names == sorted(
        ["config.xml", "users.xml", "dictionaries/geo_dictionary.XML"]
        + [str(p.relative_to(hardened_tree)) for p in hardened_tree.glob("*.d/*.xml")]
    )
    assert not any(name.startswith("tls/") or "too-deep" in name for name in names)


def test_fetch_with_another_key_cannot_be_read(hardened_tree: Path) -> None:
    result = run_fetch(hardened_tree, key=secrets.token_hex(32))
    fetched = parse_answer(result.stdout.splitlines())
    assert fetched.archive is None or not fetched.archive.startswith(b"config")  # noise, not a tree
    if fetched.archive is not None:
        with pytest.raises(UnsafeArchive):
            extract_tree(fetched.archive, Path("/nonexistent-never-written"))


def test_a_tree_over_the_limit_is_refused_not_cut_short(hardened_tree: Path) -> None:
    result = run_fetch(hardened_tree, limit=4096)
    assert len(result.stdout) < 4096 * 2  # at most limit + 1 bytes left the host
    fetched = parse_answer(result.stdout.splitlines(), limit=4096)
    assert fetched.archive is None and "larger than 4096 bytes" in str(fetched.error), fetched


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(lambda tree: (tree / "config.xml").unlink(), "config.xml does not exist", id="no config.xml"),
        pytest.param(lambda tree: tree.rename(tree.with_name("gone")), "is not a directory", id="no directory"),
    ],
)
def test_fetch_says_why_there_is_nothing_to_send(hardened_tree: Path, setup: Any, message: str) -> None:
    setup(hardened_tree)
    result = run_fetch(hardened_tree)
    assert result.returncode == 0  # a marked line, never a failed fact whose output pyinfra would print
    fetched = parse_answer(result.stdout.splitlines())
    assert fetched.archive is None and message in str(fetched.error)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the script as another user")
def test_fetch_as_a_user_who_cannot_read_a_directory_refuses_instead_of_skipping_it(hardened_tree: Path) -> None:
    # pytest's own temporary directories are private to root: copy the tree where nobody can reach it.
    with tempfile.TemporaryDirectory(prefix="hardhouse-fetch-") as scratch:
        tree = Path(scratch) / "clickhouse-server"
        shutil.copytree(hardened_tree, tree)
        for path in [Path(scratch), tree, *tree.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (tree / "users.d").chmod(0o700)
        result = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-c", FETCH_SCRIPT.text, "x"]
            + [str(tree), str(ARCHIVE_LIMIT), str(MAX_DEPTH), ARCHIVE_KEY],
            capture_output=True,
            text=True,
            timeout=60,
        )
    fetched = parse_answer(result.stdout.splitlines())
    assert fetched.archive is None and "not readable by this user: users.d" in str(fetched.error), result


def test_the_fact_is_one_command_and_never_shows_its_key(tmp_path: Path) -> None:
    command = ClickHouseConfigTree().command(config_dir="/etc/clickhouse-server")
    assert ARCHIVE_KEY not in str(command) and ARCHIVE_KEY not in repr(command)
    assert ARCHIVE_KEY in command.get_raw_value()  # what actually runs on the host


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        pytest.param([], "incomplete", id="nothing"),
        pytest.param(["HH-DATA !!!", "HH-TAR 0"], "not a valid encrypted archive", id="not base64"),
        pytest.param(["HH-DATA " + base64.b64encode(b"plain tar").decode(), "HH-TAR 0"], "not a valid", id="clear"),
        pytest.param(["HH-DATA " + "A" * (4 * ARCHIVE_LIMIT), "HH-TAR 0"], "more than", id="too long"),
        pytest.param(["HH-ERROR \x1b[31mred\x07"], "\\x1b[31mred\\x07", id="escapes from the host"),
    ],
)
def test_an_answer_is_parsed_as_untrusted_text(lines: list[str], error: str) -> None:
    fetched = parse_answer(lines)
    assert fetched.archive is None and error in str(fetched.error)


# --- hostile archives ---------------------------------------------------------------------


def _tar(*members: tuple[tarfile.TarInfo, bytes | None], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"<yandex/>") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, **fields: Any) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info, None


def _claims_size(name: str, size: int) -> bytes:
    """A header that claims `size` bytes of content followed by none of it."""
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024


def _tar_pax_path(path: str) -> bytes:
    """A harmless ustar name whose pax header says the real path is `path`."""
    info = tarfile.TarInfo("harmless.xml")
    info.size = 3
    info.pax_headers = {"path": path}
    return _tar((info, b"<a/"), fmt=tarfile.PAX_FORMAT)


def _non_utf8_name() -> bytes:
    """A member whose raw name holds a byte that is not UTF-8 (checksum fixed by hand)."""
    header = bytearray(_tar(_file("config.d/Xbad.xml")))
    header[header.index(b"Xbad")] = 0xFF
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header[:512])
    return bytes(header)


HOSTILE = {
    "symlink out of the tree": (_tar(_special("config.d/evil.xml", tarfile.SYMTYPE, linkname="/etc/shadow")), "link"),
    "symlink directory": (_tar(_special("config.d", tarfile.SYMTYPE, linkname="/"), _file("config.d/x.xml")), "link"),
    "hard link": (_tar(_file("config.xml"), _special("users.xml", tarfile.LNKTYPE, linkname="config.xml")), "link"),
    "dot-dot name": (_tar(_file("../escaped.xml")), "not a plain relative path"),
    "dot-dot inside": (_tar(_file("config.d/../../escaped.xml")), "not a plain relative path"),
    "absolute name": (_tar(_file("/tmp/hardhouse-escaped.xml")), "absolute"),
    "pax path escape": (_tar_pax_path("../pax-escaped.xml"), "not a plain relative path"),
    "character device": (_tar(_special("config.d/null.xml", tarfile.CHRTYPE, devmajor=1, devminor=3)), "not a regular"),
    "block device": (_tar(_special("sda.xml", tarfile.BLKTYPE, devmajor=8, devminor=0)), "not a regular"),
    "fifo": (_tar(_special("config.d/pipe.xml", tarfile.FIFOTYPE)), "not a regular"),
    "sparse": (_tar(_special("config.d/sparse.xml", tarfile.GNUTYPE_SPARSE)), "not a regular"),
    "control characters": (_tar(_file("config.d/\x1b[2Jhidden.xml")), "control characters"),
    "newline in name": (_tar(_file("config.d/a\nb.xml")), "control characters"),
    "name not UTF-8": (_non_utf8_name(), "not UTF-8"),
    "duplicate": (_tar(_file("config.xml"), _file("config.xml", b"<yandex><x/></yandex>")), "named twice"),
    "file then below it": (_tar(_file("config.d"), _file("config.d/x.xml")), "below a name that is a file"),
    "too deep": (_tar(_file("/".join(["d"] * (MAX_DEPTH + 2)) + "/x.xml")), "too deep"),
    "not a tar": (b"PK\x03\x04 this is a zip" + b"\0" * 600, "tar"),
}


@pytest.mark.parametrize(("archive", "message"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_escapes(tmp_path: Path, archive: bytes, message: str) -> None:
    dest = tmp_path / "tree"
    dest.mkdir(mode=0o700)
    with pytest.raises(UnsafeArchive, match=None) as refused:
        extract_tree(archive, dest)
    assert message in str(refused.value), refused.value
    assert "\x1b" not in str(refused.value) and "\n" not in str(refused.value)
    # Nothing outside the destination, nothing special inside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]
    assert not Path("/tmp/hardhouse-escaped.xml").exists()
    for path in dest.rglob("*"):
        assert not path.is_symlink() and (path.is_file() or path.is_dir())


def test_plain_files_and_directories_are_written_privately(tmp_path: Path) -> None:
    directory = tarfile.TarInfo("config.d")
    directory.type = tarfile.DIRTYPE
    directory.mode = 0o777
    archive = _tar(_file("config.xml"), (directory, None), _file("config.d/a.xml"))
    dest = tmp_path / "tree"
    dest.mkdir(mode=0o700)
    assert extract_tree(archive, dest) == ["config.xml", "config.d/a.xml"]
    assert (dest / "config.d").stat().st_mode & 0o777 == 0o700
    assert (dest / "config.d" / "a.xml").stat().st_mode & 0o777 == 0o600


# Run in a child capped at CAPPED_MEMORY: each archive is read from a file and unpacked.
CAPPED_EXTRACT = textwrap.dedent(
    """
    import sys, tempfile
    from pathlib import Path
    from hardhouse.deploy.audit import UnsafeArchive, extract_tree
    with tempfile.TemporaryDirectory() as dest:
        try:
            extract_tree(Path(sys.argv[1]).read_bytes(), Path(dest))
        except UnsafeArchive as error:
            print("refused:", error)
        else:
            print("unpacked")
    """
)


def run_capped_extract(archive: Path) -> subprocess.CompletedProcess[str]:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAPPED_MEMORY, CAPPED_MEMORY))

    return subprocess.run(
        [sys.executable, "-c", CAPPED_EXTRACT, str(archive)],
        preexec_fn=limit_memory,
        capture_output=True,
        text=True,
        timeout=CAPPED_SECONDS,
        check=False,
    )


def _many_members(count: int) -> bytes:
    return _tar(*(_file(f"config.d/{i:05d}.xml", b"") for i in range(count)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: _claims_size("config.xml", 1 << 40), "beyond the size bound", id="member claims 1 TiB"),
        pytest.param(lambda: _claims_size("config.xml", ARCHIVE_LIMIT + 1), "beyond the size bound", id="over limit"),
        pytest.param(lambda: _claims_size("config.xml", 4096), "ends inside it", id="truncated member"),
        pytest.param(lambda: _many_members(MAX_MEMBERS + 1), f"more than {MAX_MEMBERS} members", id="too many"),
        pytest.param(
            lambda: _tar(*(_file(f"f{i}.xml", b"x" * (ARCHIVE_LIMIT // 4)) for i in range(5))),
            "beyond the size bound",
            id="members together over the limit",
        ),
    ],
)
def test_archive_bombs_are_refused_under_capped_memory(tmp_path: Path, build: Any, message: str) -> None:
    path = tmp_path / "archive.tar"
    path.write_bytes(build())
    result = run_capped_extract(path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("refused:") and message in result.stdout, result.stdout


@pytest.mark.slow
def test_members_up_to_the_bound_are_unpacked_under_capped_memory(tmp_path: Path) -> None:
    path = tmp_path / "archive.tar"
    path.write_bytes(_many_members(MAX_MEMBERS - 1))
    result = run_capped_extract(path)
    assert result.returncode == 0 and result.stdout.strip() == "unpacked", result.stdout + result.stderr[-2000:]


# --- auditing a fetched tree --------------------------------------------------------------


def test_fetched_tree_after_a_deploy_has_no_drift(hardened_tree: Path, spec: Any) -> None:
    report = audit_archive(
        fetched_archive(hardened_tree),
        target="sandbox-1",
        config_dir="/etc/clickhouse-server",
        spec=spec,
        waivers=SANDBOX_WAIVERS,
    )
    assert report.target == "sandbox-1"
    assert not live_recheck.drift_findings(report) and report.ok, [r.as_dict() for r in report.failed]
    assert "config.d/zz-hardhouse-listen.xml" in report.files and not any(f.startswith("tls/") for f in report.files)


def test_a_file_planted_after_hardhouses_is_named_without_any_secret(hardened_tree: Path, spec: Any) -> None:
    (hardened_tree / "config.d" / "zzz-debug.xml").write_text(PLANTED)
    # A users.d file sorting last that swaps ingest's hash and gives a user a plaintext password.
    other_hash = hashlib.sha256(b"attacker-chosen").hexdigest()
    (hardened_tree / "users.d" / "zzz-backdoor.xml").write_text(
        f"<clickhouse><users><ingest><password_sha256_hex>{other_hash}</password_sha256_hex>"
        f"<password_bcrypt_hash>{BCRYPT}</password_bcrypt_hash></ingest>"
        "<debug><password>hunter2-plaintext</password><networks><ip>::/0</ip></networks></debug>"
        "</users></clickhouse>\n"
    )
    report = audit_archive(
        fetched_archive(hardened_tree), target="sandbox-1", config_dir="/etc/clickhouse-server", spec=spec
    )
    lines = recheck_lines(report, "/etc/clickhouse-server")
    text = "\n".join(lines)
    assert (
        "  FAIL HH-DRIFT-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1: not in the spec "
        "(the spec renders 172.30.77.11)" in lines
    ), text
    assert "HH-DRIFT-1 users.ingest.password_sha256_hex from users.d/zzz-backdoor.xml:1" in text
    assert "HH-DRIFT-1 user debug from users.d/zzz-backdoor.xml:1: not in the spec" in text
    # Every failing control is named, not only drift: the planted listen address and the
    # backdoor user's plaintext password and open networks, each at its file:line.
    assert "  FAIL HH-LISTEN-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1: listens on every interface" in lines
    assert "  FAIL HH-AUTH-2 user debug from users.d/zzz-backdoor.xml:1: has a plaintext <password>" in text
    assert "  FAIL HH-NET-1 user debug ::/0 from users.d/zzz-backdoor.xml:1" in text
    # No secret in what the deploy prints: not the planted hash or password, not the spec's hashes.
    users = (hardened_tree / "users.d" / "zz-hardhouse-users.xml").read_text()
    spec_hashes = [part.split("<")[0] for part in users.split("<password_sha256_hex>")[1:]]
    assert (
        "HH-DRIFT-1 users.ingest.password_bcrypt_hash from users.d/zzz-backdoor.xml:1: differs from the spec's "
        "(compared by hash; neither is shown)" in text
    )
    for secret in [other_hash, "hunter2-plaintext", BCRYPT, *spec_hashes]:
        assert secret not in text


def test_a_tree_the_audit_cannot_read_names_the_hosts_directory(tmp_path: Path) -> None:
    archive = _tar(_file("config.xml", b"<yandex><users_config>/elsewhere/users.xml</users_config></yandex>"))
    with pytest.raises(audit.AuditFetchError) as failed:
        audit_archive(archive, target="h", config_dir="/etc/clickhouse-server")
    assert "hardhouse-audit-" not in str(failed.value) and "/elsewhere/users.xml" in str(failed.value)


# --- the deploy's re-check as an operation ------------------------------------------------


class FakeState:
    def __init__(self, executing: bool):
        self.is_executing = executing


class FakeHost:
    name = "sandbox-1"
    current_op_hash = "audit"  # the step the re-check runs in (hardhouse.deploy.live_tree keeps its read)
    op_hash_order = ["audit"]

    def __init__(self, fetched: FetchedTree | None, executing: bool = True):
        self.fetched = fetched
        self.state = FakeState(executing)
        self.facts_read = 0
        self.logs: list[str] = []

    def get_fact(self, cls: type, **kwargs: Any) -> Any:
        assert cls is ClickHouseConfigTree and kwargs == {"config_dir": "/etc/clickhouse-server"}
        self.facts_read += 1
        return self.fetched

    def log(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.logs.append(message)


def recheck(fake: FakeHost, spec: Any) -> list[Any]:
    """The re-check as the sandbox's deploy runs it, with the sandbox's waivers."""
    with ctx_host.use(fake):
        return list(
            live_recheck.audit_live._inner(config_dir="/etc/clickhouse-server", spec=spec, waivers=SANDBOX_WAIVERS)
        )


def test_recheck_reads_nothing_while_planning(spec: Any) -> None:
    fake = FakeHost(None, executing=False)
    assert recheck(fake, spec) == [] and fake.facts_read == 0


def test_recheck_on_a_clean_host_is_one_read_and_no_change(hardened_tree: Path, spec: Any) -> None:
    fake = FakeHost(FetchedTree(fetched_archive(hardened_tree)))
    assert recheck(fake, spec) == []
    assert fake.facts_read == 1
    summary, *waived = fake.logs
    assert any(line.startswith("  WAIVED HH-EGRESS-2 user ingest") for line in waived), fake.logs
    assert summary.startswith(
        f"audited /etc/clickhouse-server: {len(list(hardened_tree.glob('*.d/*.xml'))) + 2} files merged, no drift, "
        "every control passes or is waived ("
    ), summary
    # Only the sandbox's own waiver: an 18.16 writer keeps every table function.
    assert " fail" not in summary and "1 waived" in summary


class LoggingHost:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log_styled(self, line: str, **kwargs: Any) -> None:
        self.lines.append(line)


def test_recheck_with_a_planted_file_fails_the_host_naming_it(hardened_tree: Path, spec: Any) -> None:
    (hardened_tree / "config.d" / "zzz-debug.xml").write_text(PLANTED)
    fake = FakeHost(FetchedTree(fetched_archive(hardened_tree)))
    (command,) = recheck(fake, spec)
    assert isinstance(command, FunctionCommand) and fake.facts_read == 1
    shown = LoggingHost()
    assert command.function(None, shown, *command.args) is False
    assert shown.lines[0].startswith("the live configuration in /etc/clickhouse-server fails 2 controls")
    assert any("FAIL HH-DRIFT-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1" in line for line in shown.lines)
    assert any("FAIL HH-LISTEN-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1" in line for line in shown.lines)


def test_recheck_fails_the_host_when_the_tree_cannot_be_read(spec: Any) -> None:
    fake = FakeHost(FetchedTree(None, "/etc/clickhouse-server/config.xml does not exist"))
    (command,) = recheck(fake, spec)
    shown = LoggingHost()
    assert command.function(None, shown, *command.args) is False
    assert shown.lines == [
        "audit after going live failed: could not read /etc/clickhouse-server: "
        "/etc/clickhouse-server/config.xml does not exist"
    ]


# --- hardhouse audit @INVENTORY.py, through pyinfra's local connector ---------------------


def write_inventory(tmp_path: Path, hosts: list[tuple[str, dict[str, Any]]]) -> Path:
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"import json\nhosts = [tuple(h) for h in json.loads({json.dumps(json.dumps(hosts))})]\n")
    return inventory


def run_audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hardhouse.cli import main; main()", "audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_audit_of_an_inventory_names_the_planted_file_per_host(tmp_path: Path, hardened_tree: Path) -> None:
    (hardened_tree / "config.d" / "zzz-debug.xml").write_text(PLANTED)
    spec_data = sandbox_spec("172.30.77.11", "172.30.77.1", "172.30.77.0/24", tmp_path / "secrets")
    inventory = write_inventory(
        tmp_path, [["@local", {"hardhouse_config_dir": str(hardened_tree), "hardhouse_spec": spec_data}]]
    )
    result = run_audit(f"@{inventory}", "--spec-from-inventory")
    assert result.returncode == 1, result.stdout + result.stderr
    # 13: the stock pair, hardhouse's 10 files for 18.16 (limits, settings, egress and
    # responses), the planted one
    assert result.stdout.startswith(
        "audit of @local (13 files, read by ClickHouse 18.16's rules: the spec's clickhouse_version 18.16, "
        f"against {inventory}"
    )
    assert "HH-DRIFT-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1" in result.stdout
    assert "HH-LISTEN-1 listen_host 0.0.0.0 from config.d/zzz-debug.xml:1" in result.stdout


def test_an_inventory_hosts_own_waivers_are_accepted_as_the_deploy_accepts_them(
    tmp_path: Path, hardened_tree: Path
) -> None:
    spec_data = sandbox_spec("172.30.77.11", "172.30.77.1", "172.30.77.0/24", tmp_path / "secrets")
    host = {"hardhouse_config_dir": str(hardened_tree), "hardhouse_spec": spec_data}
    # Without them, the 18.16 writer fails HH-EGRESS-2, as it fails the deploy's audit.
    bare = run_audit(f"@{write_inventory(tmp_path, [['@local', host]])}", "--spec-from-inventory")
    assert bare.returncode == 1 and "HH-EGRESS-2 user ingest" in bare.stdout, bare.stdout + bare.stderr
    waived = write_inventory(tmp_path, [["@local", {**host, "hardhouse_waivers": sandbox_waivers()}]])
    result = run_audit(f"@{waived}", "--spec-from-inventory")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WAIVED" in result.stdout and "HH-EGRESS-2" in result.stdout
    # Waivers that are not valid leave the host not audited, never passed.
    wrong = write_inventory(tmp_path, [["@local", {**host, "hardhouse_waivers": [{"control": "HH-NOPE-1"}]}]])
    refused = run_audit(f"@{wrong}", "--spec-from-inventory")
    assert refused.returncode == 2 and "hardhouse_waivers" in refused.stdout + refused.stderr, refused.stdout


def test_a_host_that_cannot_be_reached_is_reported_and_an_incomplete_audit_does_not_pass(
    tmp_path: Path, hardened_tree: Path
) -> None:
    inventory = write_inventory(
        tmp_path,
        [
            ["@local", {"hardhouse_config_dir": str(hardened_tree)}],
            ["unreachable", {"ssh_hostname": "127.0.0.1", "ssh_port": 1}],
        ],
    )
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(yaml.safe_dump({"waivers": sandbox_waivers()}))
    result = run_audit(f"@{inventory}", "--json", "--waivers", str(waivers))
    assert result.returncode == 2, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert [r["target"] for r in document["reports"]] == ["@local"] and document["reports"][0]["ok"]
    assert document["ok"] is False
    (missed,) = document["not_audited"]
    assert missed["target"] == "unreachable" and "cannot connect" in missed["error"]
    sarif = json.loads(run_audit(f"@{inventory}", "--sarif").stdout)
    invocation = sarif["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert "unreachable: not audited: cannot connect" in invocation["toolExecutionNotifications"][0]["message"]["text"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("raise ValueError('no inventory today')", "ValueError: no inventory today", id="raises"),
        pytest.param("hosts = []", "has no hosts", id="empty"),
    ],
)
def test_an_inventory_that_cannot_be_loaded_is_bad_input(tmp_path: Path, content: str, message: str) -> None:
    inventory = tmp_path / "inventory.py"
    inventory.write_text(content + "\n")
    result = run_audit(f"@{inventory}")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert run_audit(f"@{tmp_path / 'missing.py'}").returncode == 2


OPEN_OVER_SSH = {
    # ClickHouse opens the users file by its raw name: the fetch must bring "users.xml " back.
    "config.d/zzz-users.xml": "<clickhouse><users_config>users.xml </users_config></clickhouse>\n",
    "users.xml ": (
        "<yandex><profiles><default/></profiles><quotas><default/></quotas><users><bob><password></password>"
        "<networks><ipv6>::/0</ipv6></networks><profile>default</profile><quota>default</quota></bob></users></yandex>\n"
    ),
    "config.d/zzz-listen.xml": "<clickhouse><listen_host>${x}</listen_host><x>0x0</x></clickhouse>\n",
}


@pytest.mark.parametrize("with_spec", [False, True], ids=["no spec", "spec from the inventory"])
def test_an_open_tree_fails_over_ssh_as_in_a_directory(tmp_path: Path, hardened_tree: Path, with_spec: bool) -> None:
    """The fetch brings back what the server reads (a users file named with a trailing space),
    the host's package version picks 18.16's rules, and its missing /etc/metrika.xml is known:
    the verdict is a FAIL naming each control, never a PASS."""
    for name, text in OPEN_OVER_SSH.items():
        (hardened_tree / name).write_text(text)
    spec_data = sandbox_spec("172.30.77.11", "172.30.77.1", "172.30.77.0/24", tmp_path / "secrets")
    inventory = write_inventory(
        tmp_path, [["@local", {"hardhouse_config_dir": str(hardened_tree), "hardhouse_spec": spec_data}]]
    )
    result = run_audit(f"@{inventory}", "--json", *(["--spec-from-inventory"] if with_spec else []))
    assert result.returncode == 1, result.stdout + result.stderr
    (report,) = json.loads(result.stdout)["reports"]
    status = {control["id"]: control["status"] for control in report["controls"]}
    assert status["HH-AUTH-1"] == status["HH-NET-1"] == status["HH-LISTEN-1"] == "fail", status
    assert report["dialect"] == "18.16" and "users.xml " in report["files"]
    assert not [c for c in report["controls"] if c["status"] == "undecided"], "the host's include file is known"
