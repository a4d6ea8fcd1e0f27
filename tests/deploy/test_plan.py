"""The deploy's decisions without a host: what a step uploads, whether a change restarts,
reloads or starts the server, how host state is read, where health is checked. Data-driven, like pyinfra's own operation tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hardhouse.deploy.facts import HardhouseFiles, HostFiles, PathState
from hardhouse.deploy.payloads import ManagedFile, Payload, manifest
from hardhouse.deploy.plan import files_to_upload, health_targets, plan_activation
from hardhouse.deploy.settings import DATA_DEFAULTS, HardhouseDeployError, Settings, read_settings
from hardhouse.spec import load_spec
from hardhouse_dev.sandbox import sandbox_spec
from tests.helpers import PASSWORDS, VALID_SPEC

CONF = "/etc/clickhouse-server"


def payload(path: str, data: bytes = b"x", user: str = "root", group: str = "clickhouse", mode: int = 0o640) -> Payload:
    return Payload(path, data, user, group, mode)


def managed(kind: str, name: str, data: bytes = b"x") -> ManagedFile:
    live = payload(f"{CONF}/{name}", data)
    return ManagedFile(kind, payload(f"/var/lib/hardhouse/staged/{name}", data), live)


def present(*files: ManagedFile, running: bool = True, extra: list[str] = (), **changes: bytes) -> HostFiles:  # type: ignore[assignment]
    """Host state in which the given files are live, except `changes` (name -> other content)."""
    found = HostFiles(running=running)
    for file in files:
        data = changes.get(Path(file.live.path).name.replace("-", "_").replace(".", "_"), file.live.data)
        found.paths[file.live.path] = PathState("F", file.live.meta, Payload("-", data, "root", "x", 0).sha256)
        if "zz-hardhouse-" in file.live.path:
            found.matches.append(file.live.path)
    found.matches += list(extra)
    return found


LISTEN = managed("config", "config.d/zz-hardhouse-listen.xml")
USERS = managed("users", "users.d/zz-hardhouse-users.xml")
CERT = ManagedFile("certificate", payload("/var/lib/hardhouse/staged/tls/certificate.pem", b"c", mode=0o644), payload(f"{CONF}/tls/server.crt", b"c", mode=0o644))
FILES = [LISTEN, USERS, CERT]


@pytest.mark.parametrize(
    ("found", "mode"),
    [
        pytest.param(present(*FILES), None, id="everything live: no activation"),
        pytest.param(present(*FILES, running=False), "start", id="server stopped: start"),
        pytest.param(present(*FILES, zz_hardhouse_users_xml=b"old"), "reload", id="users.d only: reload, no restart"),
        pytest.param(present(*FILES, zz_hardhouse_listen_xml=b"old"), "restart", id="config.d changed: restart"),
        pytest.param(present(*FILES, server_crt=b"old"), "restart", id="certificate changed: restart"),
        pytest.param(present(USERS, CERT), "restart", id="config.d file missing: restart"),
        pytest.param(present(*FILES, extra=[f"{CONF}/users.d/zz-hardhouse-quotas.xml"]), "reload", id="stale users.d file: reload"),
        pytest.param(present(*FILES, extra=[f"{CONF}/config.d/zz-hardhouse-old.xml"]), "restart", id="stale config.d file: restart"),
        pytest.param(present(*FILES, running=False, zz_hardhouse_users_xml=b"old"), "start", id="stopped and changed: start"),
    ],
)
def test_activation_mode(found: HostFiles, mode: str | None) -> None:
    assert plan_activation(FILES, found, CONF).mode == mode


def test_owner_or_mode_drift_is_a_change_without_upload() -> None:
    found = present(*FILES)
    found.paths[USERS.live.path] = PathState("F", "root:root:644", found.paths[USERS.live.path].sha256)
    upload, fix = files_to_upload([f.live for f in FILES], found)
    assert upload == [] and fix == [USERS.live]
    assert plan_activation(FILES, found, CONF).mode == "reload"


def test_host_state_is_parsed_from_one_command_output() -> None:
    fact = HardhouseFiles()
    command = fact.command(paths=["/a b/c", "/d"], globs=["/etc/x/config.d/zz-hardhouse-*.xml"])
    assert "'/a b/c'" in command and "/etc/x/config.d/zz-hardhouse-*.xml" in command
    found = fact.process([
        "F root:clickhouse:640 " + "a" * 64 + " /a b/c",
        "D root:clickhouse:750 - /d",
        "M - - /e",
        "G /etc/x/config.d/zz-hardhouse-listen.xml",
        "RUNNING",
    ])
    assert found.paths["/a b/c"] == PathState("F", "root:clickhouse:640", "a" * 64)
    assert found.paths["/d"].kind == "D" and found.paths["/e"].kind == "M"
    assert found.matches == ["/etc/x/config.d/zz-hardhouse-listen.xml"] and found.running


def test_a_payload_never_shows_its_content() -> None:
    secret = b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n"
    shown = repr(payload("/k", secret, mode=0o600)) + str(payload("/k", secret, mode=0o600))
    assert b"MIGHAgEA".decode() not in shown and "sha256=" in shown


def test_manifest_lists_staged_and_live_paths() -> None:
    settings = _settings(VALID_SPEC)
    text = manifest(settings, FILES).data.decode()
    assert text.splitlines()[0] == f"config config.d/zz-hardhouse-listen.xml {CONF}/config.d/zz-hardhouse-listen.xml"
    assert text.splitlines()[2] == f"certificate tls/certificate.pem {CONF}/tls/server.crt"


@pytest.mark.parametrize(
    ("listen", "ports", "targets"),
    [
        pytest.param(["10.0.0.5"], {}, ["tls:10.0.0.5:8443", "tls:10.0.0.5:9440"], id="every TLS port"),
        pytest.param(["10.0.0.5", "2001:db8::5"], {"https": None}, ["tls:10.0.0.5:9440", "tls:2001:db8::5:9440"], id="every address"),
        pytest.param(["0.0.0.0"], {"https": None}, ["tls:127.0.0.1:9440"], id="any address checked on loopback"),
    ],
)
def test_health_is_checked_on_every_listen_address_and_tls_port(listen: list[str], ports: dict[str, Any], targets: list[str]) -> None:
    data = copy.deepcopy(VALID_SPEC) | {"listen_hosts": listen, "allow_all_interfaces": True}
    data["ports"] = {**data["ports"], **ports}
    assert health_targets(load_spec(data)) == targets


def _settings(spec: dict[str, Any], **data: Any) -> Settings:
    return read_settings({**DATA_DEFAULTS, "hardhouse_spec": spec, **data})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"hardhouse_spec": None}, "no hardhouse_spec", id="no spec"),
        pytest.param({"hardhouse_spec": {**VALID_SPEC, "listen_hosts": ["0.0.0.0"]}}, "hardhouse_spec.listen_hosts[0]", id="spec problem names the field"),
        pytest.param({"hardhouse_install_source": "snap"}, "debian or clickhouse-repo", id="install source"),
        pytest.param({"hardhouse_install_source": "clickhouse-repo", "hardhouse_clickhouse_repo": {"url": "u"}}, "lacks key_url, key_fingerprint, version", id="repo incomplete"),
        pytest.param({"hardhouse_state_dir": "relative/dir"}, "hardhouse_state_dir must be an absolute path", id="state dir"),
        pytest.param({"hardhouse_spec": {**VALID_SPEC, "tls": {**VALID_SPEC["tls"], "certificate": "/etc/my certs/a.crt"}}}, "tls.certificate", id="path with a space"),
    ],
)
def test_bad_host_data_is_refused_before_anything_is_touched(data: dict[str, Any], message: str) -> None:
    with pytest.raises(HardhouseDeployError, match=None) as raised:
        read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC, **data})
    assert message in str(raised.value)


def test_settings_default_to_the_first_listen_address() -> None:
    settings = _settings(VALID_SPEC)
    assert settings.verify_address == "10.0.0.5" and settings.apply_path == "/var/lib/hardhouse/bin/hardhouse-apply"


def test_sandbox_spec_is_valid_and_renders(tmp_path: Path) -> None:
    from hardhouse.render import render

    for name in ("ingest", "analyst"):
        (tmp_path / name).write_text(PASSWORDS["CH_INGEST_PASSWORD"] + name + "\n")
    spec = load_spec(sandbox_spec("172.30.77.11", "172.30.77.1", "172.30.77.0/24", tmp_path))
    users = next(f for f in render(spec, {}) if f.path.endswith("hardhouse-users.xml")).content
    assert "<ip>172.30.77.1</ip>" in users
    assert "<ip>::ffff:172.30.77.128/121</ip>" in users  # 172.30.77.128/25, written the way 18.16 matches it exactly


@pytest.mark.parametrize("inventory", ["staging", "production"])
def test_example_inventories_hold_valid_specs(inventory: str) -> None:
    """The documented inventories load as pyinfra loads them, and every host's spec is valid."""
    import runpy

    path = Path(__file__).resolve().parents[2] / "inventories" / f"{inventory}.py"
    namespace = runpy.run_path(str(path))
    hosts, group_data = namespace[f"clickhouse_{inventory}"]
    assert hosts and group_data["hardhouse_install_source"] in ("debian", "clickhouse-repo")
    for name, data in hosts:
        spec = load_spec(data["hardhouse_spec"])
        assert spec.listen_hosts == [data["ssh_hostname"]], name
        assert set(data["hardhouse_tls_files"]) >= {"certificate", "private_key", "verify_ca"}
