"""The ZooKeeper deploy's host data: every bad value names its field and the fix, the password
is read as the cluster's secrets are and only its digest is kept, the rendered files say what
the control needs, and the operations yield what the host's facts call for (fast: no host,
no Docker)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import FunctionCommand
from pyinfra.context import ctx_host

from hardhouse.deploy.facts import HostFiles, PathState
from hardhouse.deploy.settings import HardhouseDeployError
from hardhouse.deploy.zookeeper import (
    CONFIG,
    CREATE_SCRIPT,
    RootState,
    ZooKeeperLive,
    ZooKeeperLiveFact,
    ZooKeeperRootsFact,
    managed_files,
    manifest,
    zookeeper_live,
    zookeeper_roots,
)
from hardhouse.deploy.zookeeper_settings import (
    ZOOKEEPER_DEFAULTS,
    digest,
    jvm_defaults,
    read_zookeeper_settings,
    zoo_cfg,
)
from hardhouse.probe.wire.zookeeper import NO_AUTH, NO_NODE, OK, PERM_ADMIN, PERM_ALL, PERM_READ, frame
from hardhouse.probe.wire.zookeeper import string as zk_string
from tests.deploy.test_operations import FakeHost

PASSWORD = secrets.token_urlsafe(24)  # made per run: no password, even a test one, is written down
ENVIRON = {"CH_ZK_PASSWORD": PASSWORD}


def data(**zookeeper: Any) -> dict[str, Any]:
    settings = {
        "listen": "10.0.0.20",
        "clickhouse_identity": {"user": "clickhouse", "password_env": "CH_ZK_PASSWORD"},
        **zookeeper,
    }
    return {"hardhouse_zookeeper": settings}


def test_a_host_without_the_key_is_left_alone() -> None:
    assert read_zookeeper_settings({}, ENVIRON) is None


def test_digest_is_zookeepers_and_the_password_is_not_kept() -> None:
    settings = read_zookeeper_settings(data(), ENVIRON)
    assert settings is not None
    expected = base64.b64encode(hashlib.sha1(f"clickhouse:{PASSWORD}".encode()).digest()).decode()
    assert settings.digest == digest("clickhouse", PASSWORD) == f"clickhouse:{expected}"
    assert settings.acl == f"digest:clickhouse:{expected}:cdrwa"
    assert PASSWORD not in repr(settings)
    assert (settings.roots, settings.four_letter_words, settings.client_port) == (("/clickhouse",), ("ruok",), 2181)


def test_the_rendered_files_close_the_surface() -> None:
    settings = read_zookeeper_settings(data(four_letter_words=["ruok", "isro"], heap="512m"), ENVIRON)
    assert settings is not None
    config = zoo_cfg(settings)
    for line in (
        "clientPort=2181",
        "clientPortAddress=10.0.0.20",
        "admin.enableServer=false",
        "4lw.commands.whitelist=ruok,isro",
        "maxClientCnxns=60",
        "dataDir=/var/lib/zookeeper",
    ):
        assert f"\n{line}\n" in config
    defaults = jvm_defaults(settings)
    assert 'JAVA_OPTS="-Xmx512m"' in defaults
    assert 'ZOOMAIN="-XX:-ManagementServer org.apache.zookeeper.server.quorum.QuorumPeerMain"' in defaults


def test_a_password_file_is_read_like_the_clusters_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "zk"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o644)
    identity = {"user": "clickhouse", "password_file": str(secret)}
    with pytest.raises(HardhouseDeployError, match=r"clickhouse_identity.password_file: .*chmod 600"):
        read_zookeeper_settings(data(clickhouse_identity=identity), {})
    secret.chmod(0o600)
    settings = read_zookeeper_settings(data(clickhouse_identity=identity), {})
    assert settings is not None and settings.digest == digest("clickhouse", PASSWORD)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"listen": "0.0.0.0"}, r"hardhouse_zookeeper.listen is 0.0.0.0, which listens on every interface"),
        ({"listen": "::"}, r"hardhouse_zookeeper.listen is ::, which listens on every interface"),
        ({"listen": None}, r"hardhouse_zookeeper.listen is not set"),
        ({"listen": "zk1.example"}, r"hardhouse_zookeeper.listen is not an IP address"),
        ({"four_letter_words": ["ruok", "crst"]}, r"four_letter_words lists crst, which change the server's state"),
        ({"four_letter_words": ["ruok", "stmk"]}, r"four_letter_words lists stmk"),
        ({"four_letter_words": ["*"]}, r"four_letter_words lists '\*', which is not a read-only four-letter word"),
        ({"four_letter_words": ["stat"]}, r"four_letter_words does not list ruok"),
        ({"four_letter_words": "ruok"}, r"four_letter_words is not a list"),
        ({"client_port": 0}, r"client_port must be a whole number from 1 to 65535"),
        ({"max_client_connections": 0}, r"max_client_connections must be a whole number from 1"),
        ({"heap": "lots"}, r"hardhouse_zookeeper.heap is not a JVM heap size"),
        ({"heap": "256m -Dx=1"}, r"hardhouse_zookeeper.heap is not a JVM heap size"),
        ({"roots": ["/clickhouse/tables"]}, r"roots: '/clickhouse/tables' is not a top-level znode"),
        ({"roots": ["/zookeeper"]}, r"/zookeeper is ZooKeeper's own"),
        ({"roots": []}, r"roots is not a list of znode paths"),
        ({"data_dir": "/var/lib/../tmp"}, r"data_dir is not normalized"),
        ({"clickhouse_identity": None}, r"clickhouse_identity is not set"),
        ({"clickhouse_identity": {"user": "a:b", "password_env": "X"}}, r"clickhouse_identity.user is not a usable"),
        ({"clickhouse_identity": {"user": "ch"}}, r"give exactly one of password_env and password_file"),
        ({"clickhouse_identity": {"user": "ch", "password_env": "NOT_SET"}}, r"NOT_SET is not set"),
        ({"clickhouse_identity": {"user": "ch", "password_env": "x y"}}, r"password_env is not an environment"),
        ({"admin_server": True}, r"hardhouse_zookeeper has unknown keys admin_server"),
    ],
)
def test_bad_input_names_the_field_and_the_fix(change: dict[str, Any], says: str) -> None:
    with pytest.raises(HardhouseDeployError, match=says) as error:
        read_zookeeper_settings(data(**change), ENVIRON)
    assert "Fix" in str(error.value) or "give exactly one" in str(error.value) or "export" in str(error.value)


def test_a_weak_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(HardhouseDeployError, match=r"clickhouse_identity.password_env") as error:
        read_zookeeper_settings(data(), {"CH_ZK_PASSWORD": "clickhouse1"})
    assert "clickhouse1" not in str(error.value)


def test_every_key_is_documented_above_its_default() -> None:
    source = Path(__file__).resolve().parents[2] / "src/hardhouse/deploy/zookeeper_settings.py"
    text = source.read_text()
    for key in ZOOKEEPER_DEFAULTS:
        before = text.split(f'    "{key}":', 1)[0].rstrip().splitlines()[-1]
        assert before.strip().startswith("#"), f"{key} has no reason above it"


def test_facts_read_what_the_host_scripts_print() -> None:
    live = ZooKeeperLiveFact().process(["ANSWERS", "CONFIG abc", "LIVE abc"])
    assert live.current
    assert not ZooKeeperLiveFact().process(["CONFIG abc", "LIVE abc"]).current
    assert not ZooKeeperLiveFact().process(["ANSWERS", "CONFIG abc", "LIVE "]).current
    names = ["/clickhouse", "/new", "/open", "/x", "/y"]
    answer = _zookeeper_answer(
        (1, NO_AUTH, b""),
        (2, NO_NODE, b""),
        (-1, OK, b"\0" * 12),  # a watch event in between: not an answer
        (3, OK, _acl((PERM_ALL, "world", "anyone"), (PERM_READ | PERM_ADMIN, "digest", "clickhouse:SECRETDIGEST="))),
        (4, OK, struct.pack(">i", 1000)),  # an ACL vector longer than its reply: damaged, unknown
        # /y: never answered (the connection ended)
    )
    roots = ZooKeeperRootsFact().process([*(f"ROOT {n}" for n in names), f"ANSWER {answer.hex()}"])
    assert {root: state.state for root, state in roots.items()} == {
        "/clickhouse": "closed",
        "/new": "missing",
        "/open": "open",
        "/x": "unknown",
        "/y": "unknown",
    }
    assert roots["/open"].acl == ["world:anyone cdrwa", "digest:clickhouse:* ra"]  # a digest cut to its user
    for hostile in ("", "zz", "00" * 40, (struct.pack(">i", 1 << 30) + b"\0" * 64).hex()):
        found = ZooKeeperRootsFact().process(["ROOT /clickhouse", f"ANSWER {hostile}"])
        assert found == {"/clickhouse": RootState("unknown")}


def _acl(*entries: tuple[int, str, str]) -> bytes:
    return struct.pack(">i", len(entries)) + b"".join(
        struct.pack(">i", perms) + zk_string(scheme) + zk_string(ident) for perms, scheme, ident in entries
    )


def _zookeeper_answer(*replies: tuple[int, int, bytes]) -> bytes:
    """A ZooKeeper session's bytes: its handshake, then each (xid, error, body) reply."""
    handshake = frame(struct.pack(">iiq", 0, 10000, 7) + struct.pack(">i", 16) + b"\0" * 16)
    return handshake + b"".join(frame(struct.pack(">iqi", xid, 0, err) + body) for xid, err, body in replies)


def _settings() -> Any:
    settings = read_zookeeper_settings(data(roots=["/clickhouse", "/other"]), ENVIRON)
    assert settings is not None
    return settings


class ChangingHost(FakeHost):
    """A fact given as a list answers its next value on each read (the host changed between)."""

    def get_fact(self, cls: type, **kwargs: Any) -> Any:
        value = self.facts[cls.__name__]
        return value.pop(0) if isinstance(value, list) else value


def _run(operation: Any, facts: dict[str, Any], **arguments: Any) -> tuple[list[Any], list[str]]:
    fake = ChangingHost(facts, {})
    with ctx_host.use(fake):
        commands = list(operation._inner(settings=_settings(), **arguments))
    return commands, fake.noops


def _live_files(files: list[Any], changed: str = "") -> HostFiles:
    """The three files live as staged, or one of them (`changed`) with other content."""
    return HostFiles(
        paths={
            m.live.path: PathState("F", m.live.meta, "other" if m.live.path == changed else m.live.digest)
            for m in files
        }
    )


def test_zookeeper_is_activated_only_when_its_files_or_its_configuration_are_not_the_live_ones() -> None:
    files = managed_files(_settings())
    answers = ZooKeeperLive(True, "abc", "abc", _live_files(files))
    commands, noops = _run(zookeeper_live, {"ZooKeeperLiveFact": answers}, files=files)
    assert not commands and noops == ["ZooKeeper answers on 10.0.0.20:2181 with this configuration; no restart"]
    for live in (
        ZooKeeperLive(True, "new", "abc", _live_files(files)),
        ZooKeeperLive(False, "abc", "abc", _live_files(files)),
        ZooKeeperLive(True, "abc", "abc", _live_files(files, changed=CONFIG)),
        ZooKeeperLive(True, "abc", "abc", HostFiles()),  # the files could not be read: activate
    ):
        (validate, activate), noops = _run(zookeeper_live, {"ZooKeeperLiveFact": live}, files=files)
        assert not noops and validate.get_raw_value() == "/var/lib/hardhouse/zookeeper/bin/hardhouse-apply validate"
        assert activate.get_raw_value().endswith(" activate restart 60 ruok:10.0.0.20:2181")


def test_the_staged_manifest_names_the_three_files_at_their_places() -> None:
    files = managed_files(_settings())
    lines = manifest(files).data.decode().splitlines()
    assert lines == [
        "zk_config zoo.cfg /etc/zookeeper/conf/zoo.cfg",
        "zk_defaults zookeeper.defaults /etc/default/zookeeper",
        "zk_myid myid /etc/zookeeper/conf/myid",
    ]
    assert all(m.staged.meta == m.live.meta == "root:root:644" for m in files)


def test_roots_are_created_with_the_digest_masked_in_the_output() -> None:
    found = {"/clickhouse": RootState("closed"), "/other": RootState("missing")}
    created = {"/other": RootState("closed")}  # read again after the create
    (create,), noops = _run(zookeeper_roots, {"ZooKeeperRootsFact": [found, created]})
    identity = digest("clickhouse", PASSWORD)
    assert create.get_raw_value().endswith(f"hardhouse-zk-create 10.0.0.20:2181 /other digest:{identity}:cdrwa")
    assert identity.split(":", 1)[1] not in create.get_masked_value() and "clickhouse:" not in create.get_masked_value()
    assert not noops
    found["/other"] = RootState("closed")
    commands, noops = _run(zookeeper_roots, {"ZooKeeperRootsFact": found})
    assert not commands and noops == ["roots exist, closed to anonymous clients: /clickhouse, /other"]


def test_a_root_open_to_anonymous_clients_fails_and_is_not_touched() -> None:
    found = {"/clickhouse": RootState("open", ["world:anyone cdrwa"]), "/other": RootState("missing")}
    (command,), _ = _run(zookeeper_roots, {"ZooKeeperRootsFact": found})
    assert isinstance(command, FunctionCommand)  # logs the fix and fails the host; nothing is created
    (lines,) = command.args
    assert "/clickhouse: exists and anonymous clients may read its ACL (world:anyone cdrwa)" in lines[1]


def test_a_root_created_meanwhile_is_judged_by_its_acl() -> None:
    """A replica that went live first may create the root between the read and the create (the
    create then says so and succeeds); the root is read again: closed passes, open fails."""
    assert '*"Node already exists: $2"*) echo' in CREATE_SCRIPT.text
    missing = {"/clickhouse": RootState("missing"), "/other": RootState("closed")}
    opened = {"/clickhouse": RootState("open", ["world:anyone cdrwa"])}
    create, failure = _run(zookeeper_roots, {"ZooKeeperRootsFact": [dict(missing), opened]})[0]
    assert "hardhouse-zk-create" in create.get_raw_value() and isinstance(failure, FunctionCommand)
    (lines,) = failure.args
    assert lines[1] == "/clickhouse: open after it was created (world:anyone cdrwa), not closed"
    (create,), _ = _run(zookeeper_roots, {"ZooKeeperRootsFact": [dict(missing), {"/clickhouse": RootState("closed")}]})
