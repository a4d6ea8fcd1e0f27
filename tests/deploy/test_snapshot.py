"""The host snapshot and the verified-state stamp (hardhouse.deploy.snapshot).

The snapshot script runs here, in bash, on real files (the same GNU tools a Debian host has),
in a memory- and time-capped child; the stamp's trust is judged by the deploy machine's code
with pyinfra's host context set to a stand-in host (no SSH needed to decide trust).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import resource
import secrets
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from pyinfra.context import ctx_host

from hardhouse.deploy import snapshot
from hardhouse.deploy.facts import FILES_SCRIPT
from hardhouse.deploy.payloads import Payload
from hardhouse.deploy.snapshot import SNAPSHOT_SCRIPT, HostSnapshot, Snapshot, Trust, make_trust, trusted
from hardhouse.spec import load_spec
from tests.helpers import PASSWORDS, VALID_SPEC

CAPPED_MEMORY = 256 * 1024 * 1024
CAPPED_SECONDS = 20


def run_script(
    tmp_path: Path,
    trust: Trust,
    paths: tuple[str, ...] | list[str] = (),
    globs: tuple[str, ...] | list[str] = (),
    tree_dir: str = "",
) -> list[str]:
    """The snapshot script as the host runs it (in network and process namespaces of its own
    when this process may make them, so that other programs' listening sockets and ClickHouse
    servers, which other tests start, cannot move the fingerprint)."""
    command = HostSnapshot().command(paths=list(paths), globs=list(globs), trust=trust, tree_dir=tree_dir)
    masked = command.get_masked_value()
    assert trust.salt not in masked and trust.context_id not in masked  # pyinfra's output shows them masked
    argv = ["sh", "-c", command.get_raw_value()]  # what pyinfra's SSH connector runs
    if os.geteuid() == 0 and shutil.which("unshare"):
        argv = ["unshare", "--net", "--pid", "--fork", "--mount-proc", *argv]

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAPPED_MEMORY, CAPPED_MEMORY))

    result = subprocess.run(argv, capture_output=True, text=True, timeout=CAPPED_SECONDS, preexec_fn=limit, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def parse(lines: list[str]) -> Snapshot:
    return HostSnapshot().process(lines)


def spec_trust(
    tmp_path: Path,
    environ: dict[str, str] | None = None,
    spec_data: dict[str, Any] | None = None,
    content: bytes = b"<clickhouse/>",
    **changes: Any,
) -> Trust:
    scope = tmp_path / "etc"
    (scope / "config.d").mkdir(parents=True, exist_ok=True)
    (scope / "config.xml").write_text("<clickhouse/>\n")
    trust = make_trust(
        load_spec(VALID_SPEC),
        environ if environ is not None else PASSWORDS,
        [Payload(f"{scope}/config.d/zz-hardhouse-ports.xml", content, "root", "root", 0o640)],
        spec_data=spec_data if spec_data is not None else VALID_SPEC,
        seconds=3600,
        state_dir=str(tmp_path),
        verify_address="127.0.0.1",
        verify_ca=None,
        scope=[str(scope), str(tmp_path / "absent")],
        packages=["bash", "no-such-package"],
    )
    return dataclasses.replace(trust, **changes)


def test_the_scripts_are_clean_arguments() -> None:
    for script in (SNAPSHOT_SCRIPT, FILES_SCRIPT):
        assert "\x00" not in script.text  # sshd refuses an exec request with a NUL in it
        subprocess.run([script.shell, "-n", "-c", script.text], check=True)


def test_the_fingerprint_is_stable_and_moves_with_every_kind_of_change(tmp_path: Path) -> None:
    trust = spec_trust(tmp_path)
    etc = tmp_path / "etc"

    def fingerprint() -> str:
        found = parse(run_script(tmp_path, trust))
        assert len(found.fingerprint) == 64
        return found.fingerprint

    seen = {fingerprint()}
    assert fingerprint() in seen  # nothing changed: the same
    # The read before a verification (no paths, no stamp) sees the same fingerprint as the
    # snapshot with every path: it is what the stamp is compared with on the next run.
    live = str(etc / "config.xml")
    assert parse(run_script(tmp_path, trust, paths=[live], globs=[f"{etc}/*.xml"])).fingerprint in seen
    assert parse(run_script(tmp_path, dataclasses.replace(trust, stamp_path=""))).fingerprint in seen
    # What the server reads through symbolic links, from outside the fingerprinted paths.
    outside = tmp_path / "outside"
    (outside / "users.d").mkdir(parents=True)
    (outside / "linked.xml").write_text("<clickhouse/>\n")
    changes = [
        lambda: (etc / "config.xml").write_text("<clickhouse><listen_host>0.0.0.0</listen_host></clickhouse>\n"),
        lambda: (etc / "config.xml").chmod(0o666),
        lambda: (etc / "config.d" / "zzz-debug.xml").write_text("<clickhouse/>\n"),
        lambda: (etc / "config.d" / "link.xml").symlink_to("/etc/hostname"),
        lambda: ((etc / "config.d" / "link.xml").unlink(), (etc / "config.d" / "link.xml").symlink_to("/etc/hosts")),
        lambda: (tmp_path / "absent").mkdir(),  # a scope path that appears
        lambda: (etc / "config.d" / "zzz-linked.xml").symlink_to(outside / "linked.xml"),
        # The file behind the link is edited; the link itself stays as it was.
        lambda: (outside / "linked.xml").write_text("<clickhouse><listen_host>::</listen_host></clickhouse>\n"),
        lambda: (outside / "linked.xml").chmod(0o666),
        lambda: (etc / "users.d").symlink_to(outside / "users.d"),  # a linked directory
        lambda: (outside / "users.d" / "open.xml").write_text("<clickhouse><users/></clickhouse>\n"),
        lambda: (outside / "users.d" / "open.xml").write_text("<clickhouse><users><x/></users></clickhouse>\n"),
    ]
    for change in changes:
        change()
        now = fingerprint()
        assert now not in seen, "a change left the fingerprint as it was"
        seen.add(now)
    # Another salt (another fleet's secrets): another fingerprint of the same files.
    assert parse(run_script(tmp_path, dataclasses.replace(trust, salt="0" * 64))).fingerprint not in seen


def test_the_host_skips_its_file_reads_only_when_its_stamp_names_this_fingerprint_and_context(tmp_path: Path) -> None:
    trust = spec_trust(tmp_path)
    live = tmp_path / "etc" / "config.xml"
    first = parse(run_script(tmp_path, trust, paths=[str(live)], globs=[f"{tmp_path}/etc/*.xml"]))
    assert not first.same and str(live) in first.files.paths and first.files.matches == [str(live)]
    assert first.packages == {"bash"}
    Path(trust.stamp_path).write_text(trust.stamp(first.fingerprint, int(time.time())) + "\n")
    second = parse(run_script(tmp_path, trust, paths=[str(live)]))
    assert second.same and second.files.paths == {} and second.stamp.startswith("v1 ")
    other = parse(run_script(tmp_path, dataclasses.replace(trust, context="another spec"), paths=[str(live)]))
    assert not other.same and str(live) in other.files.paths  # another context: every file is read


def test_the_snapshot_carries_the_tree_when_asked_and_reads_the_same_otherwise(tmp_path: Path) -> None:
    """With tree_dir the one command also reads the tree (what ClickHouseConfigTree reads);
    everything else it says is what it says without."""
    trust = spec_trust(tmp_path)
    scope = tmp_path / "etc"
    (scope / "users.xml").write_text("<clickhouse><users/></clickhouse>\n")
    alone = parse(run_script(tmp_path, trust, paths=[str(scope / "config.xml")]))
    carried = parse(run_script(tmp_path, trust, paths=[str(scope / "config.xml")], tree_dir=str(scope)))
    assert alone.tree is None
    assert carried.tree is not None and carried.tree.error is None and carried.tree.archive is not None
    with tarfile.open(fileobj=io.BytesIO(carried.tree.archive)) as tar:
        assert sorted(tar.getnames()) == ["config.xml", "users.xml"]
    assert dataclasses.replace(carried, tree=None) == alone


def test_a_run_that_trusts_no_stamp_reads_no_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trust period of 0 (or a cluster): no stamp is trusted or written, so the host neither
    computes the fingerprint (its files hashed, its sockets listed: find is never run) nor
    reads the stamp; the rest of what it says is the same."""
    trust = spec_trust(tmp_path)
    live = tmp_path / "etc" / "config.xml"
    first = parse(run_script(tmp_path, trust, paths=[str(live)]))
    Path(trust.stamp_path).write_text(trust.stamp(first.fingerprint, int(time.time())) + "\n")
    shims = tmp_path / "shims"
    shims.mkdir()
    called = tmp_path / "find-called"
    (shims / "find").write_text(f"#!/bin/sh\ntouch {called}\nexec {shutil.which('find')} \"$@\"\n")
    (shims / "find").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    untrusting = dataclasses.replace(trust, seconds=0)
    assert not untrusting.stamps
    lines = run_script(tmp_path, untrusting, paths=[str(live)])
    assert not called.exists()
    assert not [line for line in lines if line.startswith(("FP", "STAMP")) or line == "SAME"], lines
    read = parse(lines)
    assert read.fingerprint == "" and not read.same
    assert read.files == first.files and read.packages == first.packages
    run_script(tmp_path, trust, paths=[str(live)])  # with stamps, the fingerprint is read (the shim sees find)
    assert called.exists()


def test_a_line_the_host_forges_cannot_start_the_tree_early(tmp_path: Path) -> None:
    """A name a glob matches can hold line breaks: one that forges the mark and a tree's lines
    before the real ones moves nothing, as the tree is what follows the last mark."""
    trust = spec_trust(tmp_path)
    scope = tmp_path / "etc"
    (scope / "config.d" / "a\nHH-TREE\nHH-ERROR forged").write_text("")
    lines = run_script(tmp_path, trust, globs=[f"{scope}/config.d/*"], tree_dir=str(scope))
    assert lines.count("HH-TREE") == 2 and "HH-ERROR forged" in lines
    carried = parse(lines)
    assert carried.tree is not None and carried.tree.error is None and carried.tree.archive is not None
    # And a host that prints only the forged mark gives no tree: the steps read it again.
    forged = parse(["FP " + "a" * 64, "HH-TREE", "HH-ERROR forged"])
    assert forged.tree is not None and forged.tree.archive is None and forged.tree.error == "forged"


def test_links_to_what_cannot_be_read_to_its_end_are_named_not_read(tmp_path: Path) -> None:
    """A link in a fingerprinted directory to a FIFO (a read would wait forever), a device
    (endless) or a loop: the host's read ends at once, the same way every time, and each
    kind of change is seen."""
    trust = spec_trust(tmp_path)
    config_d = tmp_path / "etc" / "config.d"
    os.mkfifo(tmp_path / "fifo")
    (config_d / "fifo.xml").symlink_to(tmp_path / "fifo")
    (config_d / "zero.xml").symlink_to("/dev/zero")
    (config_d / "loop").symlink_to(config_d)
    started = time.monotonic()
    first = parse(run_script(tmp_path, trust)).fingerprint
    assert time.monotonic() - started < 10
    assert parse(run_script(tmp_path, trust)).fingerprint == first
    (config_d / "zero.xml").unlink()
    (config_d / "zero.xml").symlink_to("/dev/null")
    assert parse(run_script(tmp_path, trust)).fingerprint != first


@pytest.mark.parametrize("kind", ["huge", "control characters", "fifo", "device"])
def test_a_hostile_stamp_is_read_bounded(tmp_path: Path, kind: str) -> None:
    trust = spec_trust(tmp_path)
    stamp = Path(trust.stamp_path)
    if kind == "huge":
        with stamp.open("wb") as out:
            out.write(b"v1 " + b"7" * (64 * 1024 * 1024))  # no newline: one endless line
    elif kind == "control characters":
        stamp.write_bytes(b"v1 1\x1b[31m 2\r\n")
    elif kind == "fifo":
        os.mkfifo(stamp)  # a read would block forever: not a regular file, never opened
    else:
        stamp.symlink_to("/dev/zero")
    started = time.monotonic()
    lines = run_script(tmp_path, trust)
    assert time.monotonic() - started < 10
    stamps = [line for line in lines if line.startswith("STAMP")]
    assert all(len(line) <= 310 and line.isprintable() for line in stamps)
    assert parse(lines).stamp == ""  # nothing that looks like a stamp


class StandInState:
    is_executing = True

    def __init__(self) -> None:
        self.ops: dict[Any, dict[str, Any]] = {}


class StandInHost:
    """Enough of pyinfra's Host for snapshot.current(): its steps in order and their outcome."""

    name = "stand-in"

    def __init__(self, order: list[str], current: str) -> None:
        self.op_hash_order = order
        self.current_op_hash = current
        self.state = StandInState()


class Changed:
    """A finished step that ran a command (pyinfra's OperationMeta as current() reads it)."""

    def is_complete(self) -> bool:
        return True

    def did_change(self) -> bool:
        return True


def ran_a_command(host: Any, step: str) -> None:
    """Record that `step` ran a command on the stand-in `host` (as pyinfra's state would)."""
    host.state.ops.setdefault(host, {})[step] = type("Data", (), {"operation_meta": Changed()})()


def judged(trust: Trust, stamp: str, fingerprint: str = "f" * 64, changed_between: bool = False) -> str | None:
    stand_in = StandInHost(["read", "stage", "verify"], "verify")
    if changed_between:
        ran_a_command(stand_in, "stage")
    snapshot.SNAPSHOTS[stand_in.name] = Snapshot(
        snapshot.HostFiles(), fingerprint=fingerprint, stamp=stamp, op_hash="read"
    )
    try:
        with ctx_host.use(stand_in):
            return trusted(trust)
    finally:
        snapshot.SNAPSHOTS.pop(stand_in.name, None)


def test_only_a_stamp_made_with_the_passwords_for_this_host_and_context_is_trusted(tmp_path: Path) -> None:
    trust = spec_trust(tmp_path)
    now = int(time.time())
    good = trust.stamp("f" * 64, now - 10)
    assert "unchanged since verified at" in (judged(trust, good) or "")
    version, at, fingerprint, context_id, mac = good.split()
    forged = " ".join([version, at, fingerprint, context_id, ("0" if mac[0] != "0" else "1") + mac[1:]])
    assert judged(trust, forged) is None  # root on the host cannot make one without the passwords
    assert judged(trust, good, fingerprint="e" * 64) is None  # the host changed since
    assert judged(trust, good, changed_between=True) is None  # a step of this run changed the host
    assert judged(trust, trust.stamp("f" * 64, now - 3601)) is None  # older than the trust period
    assert judged(trust, trust.stamp("f" * 64, now + 600)) is None  # from the future
    assert judged(dataclasses.replace(trust, seconds=0), good) is None  # 0: verify on every run
    assert judged(dataclasses.replace(trust, context="another spec"), good) is None
    rotated = spec_trust(tmp_path, {**PASSWORDS, "CH_INGEST_PASSWORD": secrets.token_urlsafe(24)})
    assert judged(rotated, good) is None  # other passwords: another key
    assert spec_trust(tmp_path, {}).key is None  # no password readable: no stamp is ever trusted
    assert judged(spec_trust(tmp_path, {}), good) is None
    assert judged(trust, "v1 12 34") is None


def test_the_trust_never_shows_its_key_salt_or_context(tmp_path: Path) -> None:
    trust = spec_trust(tmp_path)
    shown = repr(trust)
    assert trust.salt not in shown and trust.context not in shown and "key" not in shown
    for secret in PASSWORDS.values():
        assert secret not in shown and secret not in trust.salt and secret not in trust.context_id


def test_the_context_covers_the_spec_and_every_file_put_on_the_host(tmp_path: Path) -> None:
    """A stamp holds only for what was verified: a spec change that renders no other file (a
    log table's new column) or another file content each make another context."""
    base = spec_trust(tmp_path)
    changed_spec = {**VALID_SPEC, "log_databases": {"app_logs": {"owner": "ingest"}}}
    assert spec_trust(tmp_path, spec_data=changed_spec).context != base.context
    assert spec_trust(tmp_path, content=b"<clickhouse><x/></clickhouse>").context != base.context
    assert spec_trust(tmp_path).context == base.context  # and nothing else moves it


def test_the_fingerprint_covers_the_include_file_clickhouse_reads_from_outside_its_directory() -> None:
    """18.16 (and modern servers) take `incl` substitutions from /etc/metrika.xml when no
    include_from names a file: a file there changes what the server runs without touching its
    configuration directory."""
    from hardhouse.deploy.harden import fingerprint_scope
    from hardhouse.deploy.settings import DATA_DEFAULTS, read_settings

    settings = read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC})
    scope = fingerprint_scope(settings, [])
    assert "/etc/metrika.xml" in scope and settings.config_dir in scope


def test_the_fingerprint_covers_how_the_service_manager_starts_the_server() -> None:
    """A drop-in (User=, ExecStart=, Environment=) or a replaced unit changes what runs without
    a file in the configuration directory changing; so does the defaults file Debian's init
    script sources. Proven live under systemd in tests/deploy/test_deploy_systemd_sandbox.py."""
    from hardhouse.deploy.harden import fingerprint_scope
    from hardhouse.deploy.settings import DATA_DEFAULTS, read_settings

    settings = read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC})
    dropins = "/etc/systemd/system/clickhouse-server.service.d"
    scope = fingerprint_scope(settings, [dropins, "/etc/hardhouse"])
    for path in (
        "/lib/systemd/system/clickhouse-server.service",
        "/etc/systemd/system/clickhouse-server.service",
        dropins,
        "/run/systemd/system/clickhouse-server.service.d",
        "/etc/default/clickhouse-server",
        "/etc/hardhouse",
    ):
        assert scope.count(path) == 1, path


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root: namespaces without other listeners"
)
def test_the_fingerprint_is_computed_as_every_stamp_in_the_field_was(tmp_path: Path) -> None:
    """What the host hashes, spelled out for a small tree (no server process, no listener, no
    package): salt, scope, packages, the listing, the listing through links with contents. A
    change here (not to the script's text, which is hashed nowhere) makes every stamp in the
    field one that no longer holds: the next run proves each host in full."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "config.xml").write_text("<clickhouse/>\n")
    etc.chmod(0o755)
    (etc / "config.xml").chmod(0o644)
    trust = Trust(key=b"k", context="c", salt="5" * 64, seconds=60, scope=(str(etc), str(tmp_path / "absent")))
    owner = f"{os.getuid()}:{etc.stat().st_gid}"
    digest = hashlib.sha256(b"<clickhouse/>\n").hexdigest()
    listing = sorted([f"d {owner}:755 {etc} ", f"f {owner}:644 {etc}/config.xml "])
    through_links = sorted([f"d {owner}:755 {etc}", f"f {owner}:644 {etc}/config.xml", f"{digest}  {etc}/config.xml"])
    hashed = [trust.salt, f"scope {etc}", "scope ", "", *listing, *through_links]
    expected = hashlib.sha256(("\n".join(hashed) + "\n").encode()).hexdigest()
    assert parse(run_script(tmp_path, trust)).fingerprint == expected
