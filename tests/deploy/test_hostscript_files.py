"""Every script that runs on a host is a file under hardhouse/deploy/hostscripts/ with its
contract header, sent with its libraries and contract block written in and nothing else
spliced into it; and the small ones, run for real with stand-ins first on PATH
(tests/deploy/hoststubs/). hardhouse-apply has its own tests (test_hostscript.py), the
snapshot and files reads theirs (test_snapshot.py, test_plan.py), the audit's fetch
(test_audit_fetch.py) and ZooKeeper's scripts (test_hostscript_zookeeper.py)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from pyinfra.api import QuoteString

from hardhouse.deploy import audit, facts, hostscripts, keys, operations, snapshot, zookeeper
from hardhouse.deploy.hostscripts import HostScript
from tests.deploy.test_hostscript import shipped
from tests.helpers import require

SCRIPTS = Path(hostscripts.__file__).parent
STUBS = Path(__file__).parent / "hoststubs"
# Every script sent as `SHELL -c TEXT NAME ...`, as the deploy's modules load them.
SENT = [
    facts.FILES_SCRIPT,
    snapshot.SNAPSHOT_SCRIPT,
    snapshot.STAMP_SCRIPT,
    audit.FETCH_SCRIPT,
    operations.INSTALL_KEY_SCRIPT,
    keys.SERVICE_MANAGER_SCRIPT,
    zookeeper.LIVE_SCRIPT,
    zookeeper.ROOTS_SCRIPT,
    zookeeper.CREATE_SCRIPT,
]


def test_every_script_is_a_file_the_deploy_loads() -> None:
    files = {path.stem for path in SCRIPTS.glob("*.sh")}
    assert files == {script.name for script in SENT} | {"hardhouse-apply"}


@pytest.mark.parametrize("path", sorted(SCRIPTS.glob("*.sh")), ids=lambda p: p.name)
def test_every_script_opens_with_its_contract_header(path: Path) -> None:
    """How it is run, what it prints, its exit status: a reader needs nothing else."""
    header = path.read_text().split("\n\n", 1)[0]
    assert header.split("\n", 1)[0] in hostscripts.SHELLS
    assert header.startswith(f"{header.splitlines()[0]}\n# {path.stem}: ")
    assert f" {path.stem} " in header  # the usage line
    assert "Exit status" in header


@pytest.mark.parametrize("script", SENT, ids=lambda s: s.name)
def test_what_is_sent_carries_its_libraries_and_values(script: HostScript) -> None:
    source = (SCRIPTS / f"{script.name}.sh").read_text()
    assert script.shell == hostscripts.SHELLS[source.splitlines()[0]]
    assert "${0%/*}/lib/" not in script.text and "# shellcheck source" not in script.text
    assert not script.text.startswith("#!") and "Exit status" not in script.text  # the header stays home
    block = re.search(
        f"{re.escape(hostscripts.CONTRACT_BEGIN)}.*?{re.escape(hostscripts.CONTRACT_END)}", script.text, re.S
    )
    if block is not None:
        assignments = block.group(0).splitlines()[1:-1]
        assert assignments and all(re.fullmatch(r"HH_[A-Z_]+=(\(.+\)|'.+')", line) for line in assignments)
    subprocess.run([script.shell, "-n", "-c", script.text], check=True)


def test_the_shipped_hardhouse_apply_carries_its_library_and_keeps_its_first_line() -> None:
    text = shipped()
    assert text.startswith("#!/bin/bash\n# hardhouse-apply: ")
    assert 'systemd_runs() { [ -d "$SYSTEMD_DIR" ] && command -v systemctl >/dev/null 2>&1; }\n' in text
    assert "${0%/*}/lib/" not in text and "# shellcheck source" not in text


def test_service_manager_detection_is_written_once() -> None:
    """systemd or SysV is asked in one place (lib/service-manager.sh), whichever script asks."""
    sources = [p for p in (SCRIPTS.parent).rglob("*") if p.suffix in (".sh", ".py")]
    asking = sorted(str(p.relative_to(SCRIPTS.parent)) for p in sources if "command -v systemctl" in p.read_text())
    assert asking == ["hostscripts/lib/service-manager.sh"]
    users = sorted(p.stem for p in SCRIPTS.glob("*.sh") if "source=lib/service-manager.sh" in p.read_text())
    assert users == ["hardhouse-apply", "hardhouse-service-manager"]


def test_a_library_sourced_without_its_directive_is_refused() -> None:
    with pytest.raises(ValueError, match="without its shellcheck directive"):
        hostscripts.with_libraries('set -u\n. "${0%/*}/lib/service-manager.sh"\n')
    with pytest.raises(ValueError, match="must be followed by"):
        hostscripts.with_libraries("# shellcheck source-path=SCRIPTDIR source=lib/service-manager.sh\nsystemd_runs\n")


def test_a_contract_block_and_its_values_must_name_the_same_things() -> None:
    text = f"set -u\n{hostscripts.CONTRACT_BEGIN}\nHH_A=\nHH_B=()\n{hostscripts.CONTRACT_END}\n"
    filled = hostscripts.with_contract(text, {"HH_A": "it's", "HH_B": ("x", "y z")}, "tests")
    assert filled.splitlines()[2:4] == ["HH_A='it'\"'\"'s'", "HH_B=('x' 'y z')"]
    with pytest.raises(ValueError, match=r"disagree on names: \['HH_B', 'HH_C'\]"):
        hostscripts.with_contract(text, {"HH_A": "1", "HH_C": "2"}, "tests")
    with pytest.raises(ValueError, match="values are given exactly when"):
        hostscripts.load("hardhouse-snapshot")
    with pytest.raises(ValueError, match="values are given exactly when"):
        hostscripts.load("hardhouse-stamp", {})


def test_hostile_arguments_stay_arguments(tmp_path: Path) -> None:
    """A value from a spec or a host reaches the script as one quoted argument, never as text."""
    hostile = f"{tmp_path}/x'; touch {tmp_path}/pwned; '$(touch {tmp_path}/pwned)"
    command = keys.SERVICE_MANAGER_SCRIPT.command(QuoteString(hostile), QuoteString("marker"))
    raw = command.get_raw_value()
    assert raw.endswith(f" hardhouse-service-manager {shlex.quote(hostile)} marker")
    result = subprocess.run(["sh", "-c", raw], capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines()[1] == "absent" and not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------------------------------------
# The small scripts, run


def run(script: HostScript, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # The shell found on this process's PATH: `env` may hold only the stubs.
        [str(shutil.which(script.shell)), "-c", script.text, script.name, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def stub_env(tmp_path: Path, systemd: bool) -> dict[str, str]:
    stubs, state = tmp_path / "stubs", tmp_path / "stub-state"
    stubs.mkdir()
    state.mkdir()
    for stub in STUBS.iterdir():
        shutil.copy(stub, stubs / stub.name)
    if systemd:
        (tmp_path / "run-systemd").mkdir()
    return {
        "PATH": f"{stubs}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HH_STUB_DIR": str(state),
        "HARDHOUSE_SYSTEMD_DIR": str(tmp_path / "run-systemd"),
    }


@pytest.mark.parametrize("systemd", [True, False], ids=["systemd", "sysv"])
def test_the_service_manager_is_systemd_only_when_it_runs_and_systemctl_is_there(tmp_path: Path, systemd: bool) -> None:
    env = stub_env(tmp_path, systemd)
    defaults = tmp_path / "default-clickhouse-server"
    result = run(keys.SERVICE_MANAGER_SCRIPT, str(defaults), keys.SYSV_MARKER, env=env)
    assert result.stdout.splitlines() == ["systemd" if systemd else "sysv", "absent"], result.stderr
    # A runtime directory without systemctl is no systemd: the stubs alone on PATH, less systemctl.
    stubs = Path(env["PATH"].split(":")[0])
    (stubs / "systemctl").unlink()
    result = run(keys.SERVICE_MANAGER_SCRIPT, str(defaults), keys.SYSV_MARKER, env={**env, "PATH": str(stubs)})
    assert result.stdout.splitlines()[0] == "sysv", result.stderr


def test_the_stamp_is_written_whole_and_private(tmp_path: Path) -> None:
    stamp = tmp_path / "verified-state"
    result = run(snapshot.STAMP_SCRIPT, str(stamp), "v1 1 ab cd ef")
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert stamp.read_text() == "v1 1 ab cd ef\n" and stamp.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "verified-state.new").exists()
    assert run(snapshot.STAMP_SCRIPT, str(tmp_path / "missing-dir" / "stamp"), "x").returncode != 0


def test_a_signing_key_is_installed_only_with_the_pinned_fingerprint(tmp_path: Path) -> None:
    env = stub_env(tmp_path, systemd=False)
    state = Path(env["HH_STUB_DIR"])
    (state / "key").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    (state / "fingerprint").write_text("AAAA1111")
    keyring = tmp_path / "keyring.gpg"
    url = "https://packages.example/key.gpg"
    refused = run(operations.INSTALL_KEY_SCRIPT, url, "BBBB2222", str(keyring), env=env)
    assert refused.returncode == 1 and not keyring.exists()
    assert f"the key at {url} has fingerprint AAAA1111, not BBBB2222; not installed" in refused.stderr
    installed = run(operations.INSTALL_KEY_SCRIPT, url, "AAAA1111", str(keyring), env=env)
    assert installed.returncode == 0, installed.stderr
    assert keyring.read_text() == "dearmored:-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
    assert keyring.stat().st_mode & 0o777 == 0o644
    assert (state / "calls").read_text().splitlines()[0].startswith(f"curl -fsSL --proto =https -- {url} -o ")
    (state / "key").unlink()  # a download that fails installs nothing
    keyring.unlink()
    assert run(operations.INSTALL_KEY_SCRIPT, url, "AAAA1111", str(keyring), env=env).returncode != 0
    assert not keyring.exists()


def test_the_files_read_says_running_when_a_server_process_runs(tmp_path: Path) -> None:
    env = stub_env(tmp_path, systemd=False)
    command = facts.HardhouseFiles().command(paths=[str(tmp_path / "missing")])

    def read() -> facts.HostFiles:
        out = subprocess.run(["sh", "-c", command.get_raw_value()], env=env, capture_output=True, text=True, check=True)
        return facts.HardhouseFiles().process(out.stdout.splitlines())

    assert not read().running
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        (Path(env["HH_STUB_DIR"]) / "server.pid").write_text(str(sleeper.pid))
        found = read()
        assert found.running and found.paths[str(tmp_path / "missing")].kind == "M"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_scripts_and_stubs_are_shellcheck_clean() -> None:
    require(shutil.which("shellcheck") is not None, "shellcheck is not installed (scripts/setup-machine installs it)")
    paths = [*sorted(SCRIPTS.glob("*.sh")), *sorted(SCRIPTS.glob("lib/*.sh")), *sorted(STUBS.iterdir())]
    result = subprocess.run(["shellcheck", "-x", *map(str, paths)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
