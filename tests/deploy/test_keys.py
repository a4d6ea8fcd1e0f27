"""Log database keys (key_env) taken from the deploy machine and the hook that puts them into
the server's environment: refused before anything is touched when a key is missing or bad,
never shown in a message; and, in a container running Debian's 18.16 package, its own SysV
init script starting the server with the key in its environment."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from hardhouse.deploy import keys as hh_keys
from hardhouse.deploy.settings import HardhouseDeployError
from hardhouse.spec import load_spec
from hardhouse_dev import images
from tests.helpers import require

KEY_VARIABLE = "CH_LOGS_KEY"


def encrypted_spec(spec_dict: dict[str, Any], *variables: str) -> Any:
    data = dict(spec_dict, clickhouse_version="24.8")
    # Users that may read every database are refused beside a log database: give them one.
    data["users"] = [dict(user, databases=["default"]) for user in spec_dict["users"]]
    data["log_databases"] = {
        f"logs{i}": {
            "tables": {"events": {"columns": {"ts": "DateTime", "line": "String"}, "time_column": "ts"}},
            "encryption": {"key_env": variable},
        }
        for i, variable in enumerate(variables)
    }
    return load_spec(data)


def a_key() -> str:
    return secrets.token_hex(32)


def test_keys_come_from_the_deploy_machines_environment(spec_dict: dict[str, Any]) -> None:
    key = a_key()
    spec = encrypted_spec(spec_dict, KEY_VARIABLE, KEY_VARIABLE, "CH_OTHER_KEY")
    other = a_key().upper()
    assert hh_keys.read_keys(spec, {KEY_VARIABLE: key, "CH_OTHER_KEY": other + "\n"}, None) == {
        KEY_VARIABLE: key,
        "CH_OTHER_KEY": other.lower(),
    }


def test_a_key_file_wins_over_the_environment_and_is_read_like_a_password_file(
    spec_dict: dict[str, Any], tmp_path: Path
) -> None:
    key = a_key()
    path = tmp_path / "logs.key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    spec = encrypted_spec(spec_dict, KEY_VARIABLE)
    assert hh_keys.read_keys(spec, {KEY_VARIABLE: a_key()}, {KEY_VARIABLE: str(path)}) == {KEY_VARIABLE: key}
    path.chmod(0o644)
    with pytest.raises(HardhouseDeployError) as refused:
        hh_keys.read_keys(spec, {}, {KEY_VARIABLE: str(path)})
    assert "hardhouse_log_key_files.CH_LOGS_KEY: the file's mode is 0644" in str(refused.value)
    assert key not in str(refused.value)


@pytest.mark.parametrize(
    ("environ", "files", "expected"),
    [
        pytest.param(
            {},
            None,
            "hardhouse_spec.log_databases.logs0.encryption.key_env is CH_LOGS_KEY, but the deploy machine's "
            "environment variable CH_LOGS_KEY is not set. Fix: export CH_LOGS_KEY",
            id="missing",
        ),
        pytest.param(
            {KEY_VARIABLE: "0123"},
            None,
            "the deploy machine's environment variable CH_LOGS_KEY is not 64 hex digits (an AES-256 key). "
            "Fix: make one with openssl rand -hex 32",
            id="too short",
        ),
        pytest.param(
            {KEY_VARIABLE: "g" * 64},
            None,
            "CH_LOGS_KEY is not 64 hex digits",
            id="not hex",
        ),
        pytest.param(
            {KEY_VARIABLE: "a" * 64},
            {"CH_TYPO_KEY": "/nonexistent"},
            "hardhouse_log_key_files names 'CH_TYPO_KEY', which no log database's key_env uses. Fix: remove it",
            id="unknown name in the key files",
        ),
        pytest.param(
            {},
            {KEY_VARIABLE: "/dev/zero"},
            "hardhouse_log_key_files.CH_LOGS_KEY: the file is not a regular file",
            id="a device, not a file",
        ),
    ],
)
def test_a_missing_or_bad_key_is_refused_naming_the_field_and_the_fix(
    spec_dict: dict[str, Any], environ: dict[str, str], files: dict[str, str] | None, expected: str
) -> None:
    spec = encrypted_spec(spec_dict, KEY_VARIABLE)
    with pytest.raises(HardhouseDeployError) as refused:
        hh_keys.read_keys(spec, environ, files)
    message = str(refused.value)
    assert expected in message and "nothing was touched" in message
    for value in environ.values():
        assert len(value) < 8 or value not in message


def test_a_spec_without_key_env_needs_no_key(spec_dict: dict[str, Any]) -> None:
    spec = load_spec(spec_dict)
    assert hh_keys.key_names(spec) == {}
    assert hh_keys.read_keys(spec, {}, None) == {}


def test_the_key_file_holds_name_value_lines_both_service_managers_read() -> None:
    key = a_key()
    lines = hh_keys.keys_file_content({KEY_VARIABLE: key}).decode().splitlines()
    assert [line for line in lines if not line.startswith("#")] == [f"{KEY_VARIABLE}={key}"]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (["systemd", "absent"], hh_keys.ServiceManager("systemd", "absent")),
        (["sysv", "hardhouse"], hh_keys.ServiceManager("sysv", "hardhouse")),
        (["sysv", "other"], hh_keys.ServiceManager("sysv", "other")),
        # Anything unexpected is read as the cautious answer: SysV with someone else's file.
        (["upstart", "who knows"], hh_keys.ServiceManager("sysv", "other")),
        ([], hh_keys.ServiceManager("sysv", "other")),
    ],
)
def test_the_service_manager_fact(output: list[str], expected: hh_keys.ServiceManager) -> None:
    assert hh_keys.ServiceManagerFact().process(output) == expected


def test_systemd_gets_a_drop_in_that_names_the_file_never_the_values() -> None:
    path, text = hh_keys.hook(hh_keys.ServiceManager("systemd", "other"))
    assert path == "/etc/systemd/system/clickhouse-server.service.d/zz-hardhouse-keys.conf"
    assert "[Service]\nEnvironmentFile=/etc/hardhouse/clickhouse-server-keys.env\n" in text.decode()
    assert not [line for line in text.decode().splitlines() if line.startswith("Environment=")]


def test_an_operators_own_defaults_file_is_never_replaced() -> None:
    for defaults in ("absent", "hardhouse"):
        path, text = hh_keys.hook(hh_keys.ServiceManager("sysv", defaults))
        assert path == "/etc/default/clickhouse-server"
        assert text.decode().startswith(hh_keys.SYSV_MARKER + "\n")
    with pytest.raises(HardhouseDeployError) as refused:
        hh_keys.hook(hh_keys.ServiceManager("sysv", "other"))
    assert "/etc/default/clickhouse-server exists and is not hardhouse's" in str(refused.value)
    assert "nothing was touched" in str(refused.value)


def test_the_fact_reads_a_defaults_file_as_hardhouses_only_by_its_first_line(tmp_path: Path) -> None:
    """The fact's script, run against real files (the defaults file in a temp directory)."""
    defaults = tmp_path / "clickhouse-server"
    script = hh_keys.SERVICE_MANAGER_SCRIPT

    def answer() -> str:
        argv = [script.shell, "-c", script.text, script.name, str(defaults), hh_keys.SYSV_MARKER]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()[-1]

    assert answer() == "absent"
    defaults.write_bytes(hh_keys.hook(hh_keys.ServiceManager("sysv", "absent"))[1])
    assert answer() == "hardhouse"
    defaults.write_text("# my own settings\n" + hh_keys.SYSV_MARKER + "\n")
    assert answer() == "other"
    defaults.unlink()
    defaults.symlink_to(tmp_path / "elsewhere")
    assert answer() == "other"


# Debian's own init script with the hook and key file hardhouse ships, in a container of the
# 18.16 package: the server process it starts has the key in its environment.


def _docker(*args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout, check=False)


@pytest.mark.integration
@pytest.mark.docker
@pytest.mark.parametrize(
    "weakened",
    [
        pytest.param(False, id="hardhouse's hook"),
        # The control: sourced without set -a, the variable stays in the init script's shell.
        pytest.param(True, id="weakened: no set -a"),
    ],
)
def test_debians_init_script_starts_the_server_with_the_key_in_its_environment(weakened: bool) -> None:
    try:
        images.ensure_docker_engine()
        image = images.ensure_image("clickhouse")
    except images.ImageError as error:
        require(False, f"Docker engine or the ClickHouse image not available: {error}")
    key = a_key()
    name = f"hardhouse-keys-{uuid.uuid4().hex[:12]}"
    started = _docker("run", "-d", "--name", name, "--entrypoint", "sleep", image, "infinity")
    assert started.returncode == 0, started.stderr.decode()
    try:
        hook_path, hook_text = hh_keys.hook(hh_keys.ServiceManager("sysv", "absent"))
        if weakened:
            hook_text = hook_text.replace(b"set -a", b":").replace(b"set +a", b":")
        for path, data, mode in (
            (hh_keys.KEYS_FILE, hh_keys.keys_file_content({KEY_VARIABLE: key}), "600"),
            (hook_path, hook_text, "644"),
        ):
            put = _docker(
                "exec",
                "-i",
                name,
                "sh",
                "-c",
                f'mkdir -p "$(dirname {path})" && cat > {path} && chmod {mode} {path}',
                input=data,
            )
            assert put.returncode == 0, put.stderr.decode()
        # The init script runs as root; the server it starts runs as clickhouse.
        start = _docker("exec", name, "/etc/init.d/clickhouse-server", "start", timeout=120)
        assert start.returncode == 0, start.stderr.decode()
        # Only a digest of the value leaves the container: the key is never printed.
        probe = (
            "for i in $(seq 100); do for p in /proc/[0-9]*; do "
            '[ "$(cat $p/comm 2>/dev/null)" = clickhouse-serv ] && pid=${p#/proc/}; done; '
            '[ -n "${pid:-}" ] && break; sleep 0.2; done; '
            # Read as the server's own user: the container's root may not trace another user's process.
            "stat -c %U /proc/$pid; setpriv --reuid=clickhouse --regid=clickhouse --init-groups "
            'cat /proc/$pid/environ | tr "\\0" "\\n" | '
            f"sed -n 's/^{KEY_VARIABLE}=//p' | tr -d '\\n' | sha256sum | cut -c1-64"
        )
        seen = _docker("exec", name, "sh", "-c", probe)
        assert seen.returncode == 0, seen.stderr.decode()
        user, digest = seen.stdout.decode().split()
        assert user == "clickhouse"
        expected = b"" if weakened else key.encode()
        assert digest == hashlib.sha256(expected).hexdigest()
    finally:
        _docker("rm", "-f", name)
