"""The deploy's decisions without a host: what a step uploads, whether a change restarts,
reloads or starts the server, how host state is read, where health is checked.
Data-driven, like pyinfra's own operation tests."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardhouse.deploy.facts import DIGEST_KEY, HardhouseFiles, HostFiles, PathState, keyed_digest
from hardhouse.deploy.payloads import ManagedFile, Payload, manifest
from hardhouse.deploy.plan import files_to_upload, health_targets, plan_activation
from hardhouse.deploy.settings import DATA_DEFAULTS, HardhouseDeployError, Settings, read_settings
from hardhouse.spec import load_spec
from hardhouse_dev.sandbox import USERS as SANDBOX_USERS
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
        found.paths[file.live.path] = PathState("F", file.live.meta, Payload("-", data, "root", "x", 0).digest)
        if "zz-hardhouse-" in file.live.path:
            found.matches.append(file.live.path)
    found.matches += list(extra)
    return found


LISTEN = managed("config", "config.d/zz-hardhouse-listen.xml")
USERS = managed("users", "users.d/zz-hardhouse-users.xml")
CERT = ManagedFile(
    "certificate",
    payload("/var/lib/hardhouse/staged/tls/certificate.pem", b"c", mode=0o644),
    payload(f"{CONF}/tls/server.crt", b"c", mode=0o644),
)
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
        pytest.param(
            present(*FILES, extra=[f"{CONF}/users.d/zz-hardhouse-quotas.xml"]),
            "reload",
            id="stale users.d file: reload",
        ),
        pytest.param(
            present(*FILES, extra=[f"{CONF}/config.d/zz-hardhouse-old.xml"]),
            "restart",
            id="stale config.d file: restart",
        ),
        pytest.param(
            present(*FILES, running=False, zz_hardhouse_users_xml=b"old"), "start", id="stopped and changed: start"
        ),
    ],
)
def test_activation_mode(found: HostFiles, mode: str | None) -> None:
    assert plan_activation(FILES, found, CONF).mode == mode


def test_owner_or_mode_drift_is_a_change_without_upload() -> None:
    found = present(*FILES)
    found.paths[USERS.live.path] = PathState("F", "root:root:644", found.paths[USERS.live.path].digest)
    upload, fix = files_to_upload([f.live for f in FILES], found)
    assert upload == [] and fix == [USERS.live]
    assert plan_activation(FILES, found, CONF).mode == "reload"


def test_host_state_is_read_by_one_command_with_keyed_digests(tmp_path: Path) -> None:
    """The fact's command, run by a real shell on real files: contents compare by a digest
    keyed with a secret that no log shows, so the output is no guessing oracle."""
    (tmp_path / "a b").mkdir()
    users = tmp_path / "a b" / "users.xml"
    users.write_bytes(b"<password_sha256_hex>" + b"0" * 64 + b"</password_sha256_hex>")
    (tmp_path / "config.d").mkdir()
    (tmp_path / "config.d" / "zz-hardhouse-listen.xml").write_text("x")
    fact = HardhouseFiles()
    command = fact.command(
        paths=[str(users), str(tmp_path / "config.d"), str(tmp_path / "missing")],
        globs=[f"{tmp_path}/config.d/zz-hardhouse-*.xml"],
    )
    assert DIGEST_KEY not in str(command) and DIGEST_KEY not in repr(command)
    output = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True, check=True).stdout
    assert hashlib.sha256(users.read_bytes()).hexdigest() not in output
    found = fact.process(output.splitlines())
    state = found.paths[str(users)]
    assert (
        state.kind == "F"
        and state.digest == keyed_digest(users.read_bytes()) == Payload("-", users.read_bytes(), "r", "r", 0).digest
    )
    assert found.paths[str(tmp_path / "config.d")].kind == "D" and found.paths[str(tmp_path / "missing")].kind == "M"
    assert found.matches == [f"{tmp_path}/config.d/zz-hardhouse-listen.xml"]


def test_a_payload_never_shows_its_content() -> None:
    secret = b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n"
    shown = repr(payload("/k", secret, mode=0o600)) + str(payload("/k", secret, mode=0o600))
    assert (
        b"MIGHAgEA".decode() not in shown
        and "sha256" not in shown
        and Payload("-", b"x", "r", "r", 0).digest not in shown
    )


def test_manifest_lists_staged_and_live_paths() -> None:
    settings = _settings(VALID_SPEC)
    text = manifest(settings, FILES).data.decode()
    assert text.splitlines()[0] == f"config config.d/zz-hardhouse-listen.xml {CONF}/config.d/zz-hardhouse-listen.xml"
    assert text.splitlines()[2] == f"certificate tls/certificate.pem {CONF}/tls/server.crt"


@pytest.mark.parametrize(
    ("listen", "ports", "targets"),
    [
        pytest.param(["10.0.0.5"], {}, ["tls:10.0.0.5:8443", "tls:10.0.0.5:9440"], id="every TLS port"),
        pytest.param(
            ["10.0.0.5", "2001:db8::5"],
            {"https": None},
            ["tls:10.0.0.5:9440", "tls:2001:db8::5:9440"],
            id="every address",
        ),
        pytest.param(["0.0.0.0"], {"https": None}, ["tls:127.0.0.1:9440"], id="any address checked on loopback"),
        pytest.param(["::ffff:0.0.0.0"], {"https": None}, ["tls:127.0.0.1:9440"], id="mapped any address on loopback"),
        pytest.param(["::"], {"https": None}, ["tls:::1:9440"], id="any IPv6 address on loopback"),
    ],
)
def test_health_is_checked_on_every_listen_address_and_tls_port(
    listen: list[str], ports: dict[str, Any], targets: list[str]
) -> None:
    data = copy.deepcopy(VALID_SPEC) | {"listen_hosts": listen, "allow_all_interfaces": True}
    data["ports"] = {**data["ports"], **ports}
    assert health_targets(load_spec(data)) == targets


def _settings(spec: dict[str, Any], **data: Any) -> Settings:
    return read_settings({**DATA_DEFAULTS, "hardhouse_spec": spec, **data})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"hardhouse_spec": None}, "no hardhouse_spec", id="no spec"),
        pytest.param(
            {"hardhouse_spec": {**VALID_SPEC, "listen_hosts": ["0.0.0.0"]}},
            "hardhouse_spec.listen_hosts[0]",
            id="spec problem names the field",
        ),
        pytest.param({"hardhouse_install_source": "snap"}, "debian or clickhouse-repo", id="install source"),
        pytest.param(
            {"hardhouse_install_source": "clickhouse-repo", "hardhouse_clickhouse_repo": {"url": "u"}},
            "lacks key_url, key_fingerprint, version",
            id="repo incomplete",
        ),
        pytest.param(
            {"hardhouse_state_dir": "relative/dir"}, "hardhouse_state_dir is not an absolute path", id="state dir"
        ),
        pytest.param(
            {"hardhouse_config_dir": "/etc/click house;rm -rf /"},
            "hardhouse_config_dir contains a character",
            id="shell in a dir",
        ),
        pytest.param(
            {"hardhouse_data_dir": "/var/lib/../clickhouse"}, "hardhouse_data_dir is not normalized", id="dot-dot"
        ),
        pytest.param(
            {"hardhouse_health_timeout": "60; reboot"},
            "hardhouse_health_timeout must be a whole number",
            id="timeout text",
        ),
        pytest.param(
            {
                "hardhouse_install_source": "clickhouse-repo",
                "hardhouse_clickhouse_repo": {
                    "url": "https://repo.example/deb",
                    "key_url": 'https://x/$(touch /tmp/p)"',
                    "key_fingerprint": "A" * 40,
                    "version": "24.8.1.1",
                },
            },
            "key_url is not a plain https URL",
            id="URL with a command",
        ),
        pytest.param({"hardhouse_listen_hosts": ["fe80::1%eth0"]}, "cannot check fe80::1%eth0", id="scope id"),
        pytest.param(
            {"hardhouse_spec_overrides": ["not", "a", "mapping"]},
            "hardhouse_spec_overrides is not a mapping",
            id="overrides",
        ),
        pytest.param(
            {"hardhouse_listen_hosts": ["0.0.0.0"]},
            "hardhouse_spec.listen_hosts[0]",
            id="host listen checked as the spec",
        ),
        pytest.param(
            {"hardhouse_spec": {**VALID_SPEC, "tls": {**VALID_SPEC["tls"], "certificate": "/etc/my certs/a.crt"}}},
            "tls.certificate",
            id="path with a space",
        ),
        pytest.param(
            {"hardhouse_rewrite_stored_secrets": "yes"},
            "hardhouse_rewrite_stored_secrets must be true or false",
            id="rewrite flag as text",
        ),
    ],
)
def test_bad_host_data_is_refused_before_anything_is_touched(data: dict[str, Any], message: str) -> None:
    with pytest.raises(HardhouseDeployError, match=None) as raised:
        read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC, **data})
    assert message in str(raised.value)


def test_group_overrides_and_host_listen_addresses_layer_over_the_shared_spec() -> None:
    settings = _settings(
        VALID_SPEC, hardhouse_spec_overrides={"clickhouse_version": "18.16"}, hardhouse_listen_hosts=["10.0.0.9"]
    )
    assert settings.spec.clickhouse_version == "18.16" and settings.spec.listen_hosts == ["10.0.0.9"]
    assert settings.verify_address == "10.0.0.9" and settings.spec_data["listen_hosts"] == ["10.0.0.9"]


def test_settings_default_to_the_first_listen_address() -> None:
    settings = _settings(VALID_SPEC)
    assert settings.verify_address == "10.0.0.5" and settings.apply_path == "/var/lib/hardhouse/bin/hardhouse-apply"


def test_sandbox_spec_is_valid_and_renders(tmp_path: Path) -> None:
    from hardhouse.render import render

    for name in SANDBOX_USERS:
        (tmp_path / name).write_text(PASSWORDS["CH_INGEST_PASSWORD"] + name + "\n")
        (tmp_path / name).chmod(0o600)
    spec = load_spec(sandbox_spec("172.30.77.11", "172.30.77.1", "172.30.77.0/24", tmp_path))
    users = next(f for f in render(spec, {}) if f.path.endswith("hardhouse-users.xml")).content
    assert "<ip>172.30.77.1</ip>" in users
    assert "<ip>::ffff:172.30.77.128/121</ip>" in users  # 172.30.77.128/25, written the way 18.16 matches it exactly


# pyinfra's own loader, in a child (its CLI monkey-patches sockets on import): each host's merged data.
LOAD_INVENTORY = """
import json, sys
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory
state = State(check_for_changes=False)
state.cwd = sys.argv[2]
with ctx_state.use(state):
    inventory = make_inventory(sys.argv[1], cwd=state.cwd)
print(json.dumps({host.name: dict(host.data.dict()) for host in inventory}, default=str))
"""


@pytest.mark.parametrize("inventory", ["staging", "production"])
def test_example_inventories_state_only_what_differs_and_merge_into_valid_settings(inventory: str) -> None:
    """Loaded the way pyinfra loads them (group_data/all.py, then the environment's group
    data, then host data), every host's settings are valid and it listens on its own address."""
    root = Path(__file__).resolve().parents[2]
    # What the deploy job's environment provides (placeholders: nothing is fetched here).
    environment = {
        **os.environ,
        "CLICKHOUSE_APT_URL": "https://packages.example/deb",
        "CLICKHOUSE_APT_KEY_URL": "https://packages.example/key.gpg",
        "CLICKHOUSE_APT_KEY_FINGERPRINT": "3A9E" * 10,
    }
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_INVENTORY, str(root / "inventories" / f"{inventory}.py"), str(root)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env=environment,
    )
    hosts = json.loads(loaded.stdout)
    assert hosts
    for name, data in hosts.items():
        settings = read_settings({**DATA_DEFAULTS, **data})
        assert settings.spec.listen_hosts == [data["ssh_hostname"]] == [settings.verify_address], name
        assert set(data["hardhouse_tls_files"]) >= {"certificate", "private_key", "verify_ca"}
        assert (
            settings.install_source == ("debian" if inventory == "staging" else "clickhouse-repo")
            or data["hardhouse_clickhouse_repo"]
        )
    # Each inventory file itself says only where its hosts are.
    text = (root / "inventories" / f"{inventory}.py").read_text()
    assert "hardhouse_spec" not in text and "password" not in text.split('"""', 2)[2]


def _cluster_example() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parents[2] / "examples" / "cluster.yaml").read_text())


def test_each_cluster_host_is_the_replica_whose_address_it_listens_on() -> None:
    spec = _cluster_example()
    replicas = [r for shard in spec["cluster"]["shards"] for r in shard["replicas"]]
    for replica in replicas:
        settings = read_settings(
            {**DATA_DEFAULTS, "hardhouse_spec": spec, "hardhouse_listen_hosts": [replica["address"]]}
        )
        assert settings.spec.cluster is not None and settings.spec.cluster.replica == replica["host"]
        assert settings.spec_data["cluster"]["replica"] == replica["host"]  # what verification loads
    named = read_settings(
        {
            **DATA_DEFAULTS,
            "hardhouse_spec": spec,
            "hardhouse_listen_hosts": [replicas[1]["address"]],
            "hardhouse_cluster_replica": replicas[1]["host"],
        }
    )
    assert named.spec.cluster is not None and named.spec.cluster.replica == replicas[1]["host"]


def test_a_host_that_is_no_replica_of_the_cluster_is_refused_naming_the_fix() -> None:
    spec = _cluster_example()
    with pytest.raises(HardhouseDeployError) as raised:
        read_settings({**DATA_DEFAULTS, "hardhouse_spec": spec, "hardhouse_listen_hosts": ["10.99.99.99"]})
    assert "hardhouse_cluster_replica" in str(raised.value)
    with pytest.raises(HardhouseDeployError) as raised:
        read_settings(
            {
                **DATA_DEFAULTS,
                "hardhouse_spec": spec,
                "hardhouse_listen_hosts": ["10.99.99.99"],
                "hardhouse_cluster_replica": "nobody",
            }
        )
    assert "hardhouse_spec.cluster" in str(raised.value) and "nothing was touched" in str(raised.value)


def test_installed_packages_are_read_by_dpkg_query_and_only_installed_ones_count() -> None:
    """The fact's own command, run by this machine's dpkg (a Debian, as the hosts are): an
    installed package counts, a missing one and a name never heard of do not. What a host says
    is untrusted: a status other than "install ok installed", garbage or control characters
    count for nothing, and only the names a caller asks for are tested (hardhouse.deploy.zookeeper)."""
    from hardhouse.deploy.facts import InstalledDebianPackages

    fact = InstalledDebianPackages()
    command = fact.command(["bash", "hardhouse-no-such-package"]).get_raw_value()
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30, check=True).stdout
    assert fact.process(output.splitlines()) == {"bash"}
    hostile = [
        "deinstall ok config-files zookeeper",
        "install ok half-installed zookeeperd",
        "install ok installed",
        "\x1b[2Jinstall ok installed zookeeper",
        "x" * 100_000,
    ]
    assert fact.process(hostile) == set()
