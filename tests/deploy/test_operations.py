"""The deploy's operations as data, the way pyinfra tests its own (tests/operations/*/*.json):
arguments and facts in, the commands the operation yields (or its no-op message) out.

Each JSON file under tests/deploy/operations/OPERATION/ holds:
  "args":     the operation's keyword arguments (payloads as {"path", "content", "user", "group", "mode"})
  "settings": for go_live/validate_staged: host data over the defaults; "managed": the files
  "facts":    fact class name -> value (HardhouseFiles: {"paths": {path: [kind, meta, content]}, "matches", "running"})
  "global":   pyinfra global arguments of the operation (e.g. {"_sudo": true})
  "commands": what it yields, in order: a shell command as text, {"upload": PATH} or "function"
  "noop":     the no-op message, when it yields nothing
"""

from __future__ import annotations

import copy
import json
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.context import ctx_host

from hardhouse.deploy import contract, operations
from hardhouse.deploy.facts import HostFiles, PathState, keyed_digest
from hardhouse.deploy.messages import fail_with_lines
from hardhouse.deploy.payloads import Directory, ManagedFile, Payload
from hardhouse.deploy.settings import DATA_DEFAULTS, HardhouseDeployError, read_settings
from tests.helpers import VALID_SPEC

FIXTURES = Path(__file__).parent / "operations"


class FakeState:
    is_executing = True


class FakeHost:
    """Enough of pyinfra's Host for an operation: facts from the fixture, messages recorded."""

    name = "test-host"

    def __init__(self, facts: dict[str, Any], global_arguments: dict[str, Any]):
        self.facts = facts
        self.current_op_global_arguments = global_arguments
        self.state = FakeState()
        self.noops: list[str] = []
        self.logs: list[str] = []

    def get_fact(self, cls: type, **kwargs: Any) -> Any:
        return self.facts[cls.__name__]

    def noop(self, description: str) -> None:
        self.noops.append(description)

    def log(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.logs.append(message)


def payload(entry: dict[str, Any]) -> Payload:
    return Payload(
        entry["path"],
        entry["content"].encode(),
        entry.get("user", "root"),
        entry.get("group", "clickhouse"),
        int(str(entry.get("mode", "640")), 8),
    )


def host_files(entry: dict[str, Any]) -> HostFiles:
    paths = {}
    for path, (kind, meta, content) in entry.get("paths", {}).items():
        digest = keyed_digest(content.encode()) if content is not None else ""
        paths[path] = PathState(kind, meta or "", digest)
    return HostFiles(paths, list(entry.get("matches", [])), bool(entry.get("running", False)))


def arguments(operation: str, case: dict[str, Any]) -> dict[str, Any]:
    args = copy.deepcopy(case.get("args", {}))
    if "payloads" in args:
        args["payloads"] = [payload(p) for p in args["payloads"]]
    if "directories" in args:
        args["directories"] = [
            Directory(d["path"], d["user"], d["group"], int(d["mode"], 8), d.get("enforce", True))
            for d in args["directories"]
        ]
    if operation in ("go_live", "validate_staged"):
        settings = read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC, **case.get("settings", {})})
        args["settings"] = settings
        args["managed"] = [
            ManagedFile(m["kind"], payload({**m, "path": f"{settings.staged_dir}/{m['staged']}"}), payload(m))
            for m in case["managed"]
        ]
    return args


def yielded(commands: Iterator[Any]) -> list[Any]:
    shown: list[Any] = []
    for command in commands:
        if isinstance(command, FileUploadCommand):
            # The stage step's one archive: each member's path and mode (its content is a payload's).
            with tarfile.open(fileobj=command.src) as archive:
                members = [[member.name, f"{member.mode:o}"] for member in archive.getmembers()]
            command.src.seek(0)
            shown.append({"upload": command.dest, "members": members})
        elif isinstance(command, FunctionCommand):
            shown.append("function")
        else:
            assert isinstance(command, StringCommand)
            shown.append(command.get_raw_value())
    return shown


def cases() -> list[Any]:
    return [pytest.param(path, id=f"{path.parent.name}/{path.stem}") for path in sorted(FIXTURES.glob("*/*.json"))]


@pytest.mark.parametrize("path", cases())
def test_operation(path: Path) -> None:
    case = json.loads(path.read_text())
    operation = path.parent.name
    facts = {
        name: host_files(value) if name == "HardhouseFiles" else value for name, value in case.get("facts", {}).items()
    }
    fake = FakeHost(facts, case.get("global", {}))
    with ctx_host.use(fake):
        commands = yielded(getattr(operations, operation)._inner(**arguments(operation, case)))
    assert commands == case.get("commands", [])
    assert fake.noops == ([case["noop"]] if "noop" in case else [])


def _rollback_case(mode: str) -> dict[str, Any]:
    case = json.loads((FIXTURES / "go_live" / "config_change_restarts.json").read_text())
    case["settings"]["hardhouse_on_verify_failure"] = mode
    return case


def test_go_live_holds_the_activation_for_verification_only_in_rollback_mode() -> None:
    for mode, held in (("keep", False), ("rollback", True)):
        case = _rollback_case(mode)
        facts = {"HardhouseFiles": host_files(case["facts"]["HardhouseFiles"])}
        with ctx_host.use(FakeHost(facts, {})):
            (command,) = yielded(operations.go_live._inner(**arguments("go_live", case)))
        hold = f" activate restart 180 {contract.HOLD_FLAG} {operations.RUN_TOKEN} tls:10.0.0.5:8443"
        assert (hold in command) is held, command


def test_a_failed_verification_rolls_back_this_runs_activation_only_in_rollback_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = {"ok": False, "checks": [{"endpoint": "10.0.0.5:9440", "check": "x", "ok": False, "detail": "y"}]}
    monkeypatch.setattr(operations, "run_checks", lambda settings, ca: failing)
    for mode, expected in (
        ("keep", ["function"]),
        (
            "rollback",
            [
                "function",
                "env HARDHOUSE_CONF=/etc/clickhouse-server HARDHOUSE_DATA=/var/lib/clickhouse "
                f"/var/lib/hardhouse/bin/hardhouse-apply rollback 60 {operations.RUN_TOKEN}",
                "function",
            ],
        ),
    ):
        settings = read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC, "hardhouse_on_verify_failure": mode})
        with ctx_host.use(FakeHost({}, {})):
            assert yielded(operations.verify_from_here._inner(settings=settings, ca=None)) == expected


def test_on_verify_failure_takes_only_its_two_values() -> None:
    with pytest.raises(HardhouseDeployError, match="hardhouse_on_verify_failure must be one of keep, rollback"):
        read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC, "hardhouse_on_verify_failure": "revert"})


def test_a_trusted_host_is_still_checked_from_outside_and_a_finding_fails_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stamp spares a host the logins and log rights, never the checks that need no
    secret: a finding fails the host with the control's line, removes the stamp (the next
    run proves the host in full) and rolls nothing back (this run changed nothing)."""
    asked: list[bool] = []
    forgotten: list[Any] = []
    answers = {
        "clean": {
            "ok": True,
            "checks": [{"endpoint": "e", "check": "closed", "ok": True, "detail": "d", "control": "HH-PORT-1"}],
        },
        "open": {
            "ok": False,
            "checks": [
                {
                    "endpoint": "10.0.0.5:9000 (native)",
                    "check": "closed",
                    "ok": False,
                    "detail": "accepts connections",
                    "control": "HH-PORT-1",
                }
            ],
        },
    }
    answer: dict[str, Any] = {}

    def run_checks(settings: Any, ca: Any, outside_only: bool = False) -> dict[str, Any]:
        asked.append(outside_only)
        return answer

    monkeypatch.setattr(operations, "run_checks", run_checks)
    monkeypatch.setattr(operations, "trusted", lambda trust: "unchanged since verified at T")
    monkeypatch.setattr(operations, "forget_verified", forgotten.append)
    trust = object()
    for mode in ("keep", "rollback"):
        settings = read_settings({**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC, "hardhouse_on_verify_failure": mode})
        answer.update(answers["clean"])
        fake = FakeHost({}, {})
        with ctx_host.use(fake):
            assert yielded(operations.verify_from_here._inner(settings=settings, ca=None, trust=trust)) == []
        (line,) = fake.logs
        assert "without a secret: 1 checks passed; controls proven: HH-PORT-1" in line
        assert "logins and log rights not re-proven: unchanged since verified at T" in line
        assert not forgotten
        answer.update(answers["open"])
        with ctx_host.use(FakeHost({}, {})):
            commands = list(operations.verify_from_here._inner(settings=settings, ca=None, trust=trust))
        (command,) = commands  # no rollback: this run activated nothing
        assert isinstance(command, FunctionCommand) and command.function is fail_with_lines
        lines = command.args[0]
        assert "  FAIL HH-PORT-1 10.0.0.5:9000 (native) closed: accepts connections" in lines
        assert forgotten == [trust]
        forgotten.clear()
    assert asked == [True, True, True, True]  # only the checks from outside, never the logins


def test_the_stage_archive_unpacks_with_each_files_mode_and_replaces_a_planted_link(tmp_path: Path) -> None:
    """The archive the stage step uploads, unpacked by GNU tar as the step does (here under a
    scratch root): each file with its content and final mode, and a symbolic link planted at a
    file's path is replaced, not written through."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "staged/tls").mkdir(parents=True)
    outside.write_text("not the key's place")
    (root / "staged/tls/private_key.pem").symlink_to(outside)
    payloads = [
        Payload(f"{root}/staged/tls/private_key.pem", b"key", "root", "root", 0o600),
        Payload(f"{root}/staged/users.xml", b"<users/>", "root", "root", 0o640),
    ]
    archive = tmp_path / "stage.tar"
    archive.write_bytes(operations.upload_archive(payloads))
    subprocess.run(["tar", "-x", "-f", str(archive), "-C", "/", "--no-same-owner", "-p"], check=True)
    key = root / "staged/tls/private_key.pem"
    assert not key.is_symlink() and key.read_bytes() == b"key" and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (root / "staged/users.xml").read_bytes() == b"<users/>"
    assert stat.S_IMODE((root / "staged/users.xml").stat().st_mode) == 0o640
    assert outside.read_text() == "not the key's place"
