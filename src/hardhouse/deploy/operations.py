"""The deploy's own operations (pyinfra @operation generators): read facts, yield commands,
or say there is nothing to do."""

from __future__ import annotations

import io
import secrets
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import FileUploadCommand, FunctionCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import File
from pyinfra.facts.gpg import GpgKey
from pyinfra.operations import apt

from hardhouse.deploy import contract, hostscripts
from hardhouse.deploy.child import SERVICE
from hardhouse.deploy.early_proof import early_verification
from hardhouse.deploy.facts import HostFiles, PathState
from hardhouse.deploy.messages import fail_with_lines, log_lines
from hardhouse.deploy.payloads import Directory, ManagedFile, Payload
from hardhouse.deploy.plan import files_to_upload, health_targets, plan_activation
from hardhouse.deploy.settings import Settings
from hardhouse.deploy.snapshot import (
    Trust,
    fingerprint_now,
    forget_verified,
    host_files,
    installed_packages,
    outside_answer,
    record_verified,
    skip_if_trusted,
    trusted,
)
from hardhouse.helper_requests import OutsideRequest, VerifyRequest
from hardhouse.render.build import FILE_PREFIX

VERIFY_TIMEOUT = 300  # seconds for the whole verification of one host
# Names this deploy run's held activations: the host undoes one only for the run that made it.
RUN_TOKEN = secrets.token_hex(contract.HOLD_TOKEN_HEX_DIGITS // 2)
PRIVATE_UPLOAD_DIR = ".hardhouse-upload"  # where uploads wait (relative to the SSH user's home)
UPLOAD_ARCHIVE = "stage.tar"  # a stage step's files, unpacked and removed by the same step
# A cluster goes live one replica at a time (go_live runs serially there): cluster name ->
# the replica going live now. An entry left behind means that replica did not come back
# healthy (it rolled back), and the rollout stops before the next replica is touched.
ROLLOUT: dict[str, str] = {}


def _chain(commands: list[list[Any]]) -> StringCommand:
    """Several commands as one remote command (`a && b && ...`): one round trip."""
    bits: list[Any] = []
    for command in commands:
        bits += (["&&"] if bits else []) + command
    return StringCommand(*bits)


def upload_archive(payloads: list[Payload]) -> bytes:
    """The payloads as one tar archive: member names relative to /, each with its final mode
    (so a private key is 0600 from the moment it exists; the owner is set after)."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for payload in payloads:
            info = tarfile.TarInfo(payload.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(payload.data), payload.mode, now
            archive.addfile(info, io.BytesIO(payload.data))
    return buffer.getvalue()


def _extract(archive: str) -> list[Any]:
    """Unpack the uploaded archive over / as root (GNU tar replaces a file, or a link, at a
    member's path, and refuses members with ".."), remove it whatever happened, and go on only
    if the unpacking succeeded."""
    return [
        *("tar", "-x", "-f", QuoteString(archive), "-C", "/", "--no-same-owner"),
        *(";", "status=$?", ";", "rm", "-f", QuoteString(archive), ";", "[", '"$status"', "=", "0", "]"),
    ]


def _owner_mode(path: str, user: str, group: str, mode: int) -> list[Any]:
    return ["chown", f"{user}:{group}", QuoteString(path), "&&", "chmod", f"{mode:o}", QuoteString(path)]


@operation()
def stage(
    payloads: list[Payload],
    directories: list[Directory] | None = None,
    prune: list[str] | None = None,
    trust: Trust | None = None,
) -> Iterator[Any]:
    """Make directories and files exactly as given (content, owner, mode) and remove files
    matching `prune` globs that are not among them. File contents never reach the log.
    One fact command reads everything (none when the host is trusted unchanged: its stamp
    covers these files); directories, then one upload of the changed files (one archive), then
    one command that unpacks it and sets every owner/mode and removal."""
    if skip_if_trusted(trust, f"{len(payloads)} files in place"):
        return
    directories = directories or []
    found = host_files([d.path for d in directories] + [p.path for p in payloads], prune or [])
    make_dirs = []
    for directory in directories:
        state = found.paths.get(directory.path, PathState("M"))
        meta = f"{directory.user}:{directory.group}:{directory.mode:o}"
        if state.kind == "M" or (directory.enforce and state.meta != meta):
            make_dirs.append(
                [
                    "install",
                    "-d",
                    "-o",
                    directory.user,
                    "-g",
                    directory.group,
                    "-m",
                    f"{directory.mode:o}",
                    QuoteString(directory.path),
                ]
            )
    upload, fix = files_to_upload(payloads, found)
    # The files to upload go as one archive (one SFTP transfer instead of one per file, each a
    # round trip), into a directory only the SSH user can enter (relative: the SSH user's
    # home, where both SFTP and the commands start). With sudo/su/doas the upload is the SSH
    # user's and the extraction root's; a private key never sits where others may read it.
    arguments = host.current_op_global_arguments or {}
    as_another_user = any(arguments.get(k) for k in ("_sudo", "_su_user", "_doas"))
    # (pyinfra's _temp_dir only where it applies, to sudo's uploads: root never chmods it.)
    upload_dir = (as_another_user and arguments.get("_temp_dir")) or PRIVATE_UPLOAD_DIR
    private_dir = ["install", "-d", "-m", "700", QuoteString(upload_dir)]
    if upload and not as_another_user:
        make_dirs.append(private_dir)
    if make_dirs:
        yield _chain(make_dirs)
    finish = []
    if upload:
        if as_another_user:
            yield StringCommand(*private_dir, _sudo=False, _su_user=None, _doas=False)
        archive = f"{upload_dir}/{UPLOAD_ARCHIVE}"
        yield FileUploadCommand(io.BytesIO(upload_archive(upload)), archive, _sudo=False, _su_user=None, _doas=False)
        finish.append(_extract(archive))
    finish += [_owner_mode(p.path, p.user, p.group, p.mode) for p in upload + fix]
    wanted = {p.path for p in payloads}
    stale = [p for p in found.matches if p not in wanted]
    if stale:
        finish.append(["rm", "-f", *(QuoteString(p) for p in stale)])
    if finish:
        yield _chain(finish)
    if not (make_dirs or finish):
        host.noop(f"{len(payloads)} files already in place")


@operation()
def install_packages(packages: list[str], cache_time: int, missing: list[str] | None = None) -> Iterator[Any]:
    """apt.packages of `packages`, skipped without a command when the host's snapshot lists
    them all, and of `missing` (what a fact read while planning found missing: ZooKeeper's)."""
    wanted = list(missing or [])
    if installed_packages(packages) != set(packages):
        wanted += packages
    if not wanted:
        host.noop(f"installed: {', '.join(packages)}" if packages else "nothing to install")
        return
    # Something is missing: refresh the package lists (if older than cache_time), then install.
    yield from apt.packages._inner(packages=wanted, no_recommends=True, update=True, cache_time=cache_time)


def _apply_command(settings: Settings, *args: str) -> StringCommand:
    env = [
        QuoteString(f"HARDHOUSE_CONF={settings.config_dir}"),
        QuoteString(f"HARDHOUSE_DATA={settings.data_dir}"),
    ]
    return StringCommand("env", *env, QuoteString(settings.apply_path), *(QuoteString(a) for a in args))


def live_globs(config_dir: str) -> list[str]:
    """hardhouse's live files, wherever they came from (one no longer in the spec goes away)."""
    return [f"{config_dir}/config.d/{FILE_PREFIX}*.xml", f"{config_dir}/users.d/{FILE_PREFIX}*.xml"]


def _live_state(settings: Settings, managed: list[ManagedFile]) -> HostFiles:
    return host_files([m.live.path for m in managed], live_globs(settings.config_dir))


@operation()
def validate_staged(settings: Settings, managed: list[ManagedFile], trust: Trust | None = None) -> Iterator[Any]:
    """Run hardhouse-apply validate when the staged files are not already live."""
    if skip_if_trusted(trust, "the live files match the spec"):
        return
    plan = plan_activation(managed, _live_state(settings, managed), settings.config_dir)
    if plan.mode is None:
        host.noop("the live files already match the spec; nothing to validate")
        return
    yield _apply_command(settings, "validate")


@operation()
def go_live(settings: Settings, managed: list[ManagedFile], trust: Trust | None = None) -> Iterator[Any]:
    """Swap the staged files in and restart, reload or start as the change needs; the host
    waits until healthy and rolls back (exit 1, reason on stderr) if it is not."""
    if skip_if_trusted(trust, "ClickHouse runs this configuration"):
        return
    plan = plan_activation(managed, _live_state(settings, managed), settings.config_dir)
    if plan.mode is None:
        host.noop("ClickHouse already runs this configuration; no restart")
        return
    names = ", ".join(Path(p).name for p in plan.changed) or "no file"
    going = f"going live ({plan.mode}: {plan.why}): {names}"
    hold = [contract.HOLD_FLAG, RUN_TOKEN] if holds_for_verification(settings) else []
    cluster = settings.spec.cluster.name if settings.spec.cluster else None
    if cluster:
        yield FunctionCommand(_rollout_gate, (cluster, going), {})
    elif host.state.is_executing:
        host.log(going)
    yield _apply_command(
        settings, "activate", plan.mode, str(settings.health_timeout), *hold, *health_targets(settings.spec)
    )
    if cluster:
        yield FunctionCommand(_rollout_done, (cluster,), {})


def _rollout_gate(state: Any, host: Any, cluster: str, going: str) -> bool:
    """Before a replica goes live: the one before it came back healthy, or stop here."""
    stuck = ROLLOUT.get(cluster)
    if stuck is not None:
        host.log_styled(
            f"not going live: replica {stuck} of cluster {cluster} did not come back healthy, so the rollout stops "
            "here; this replica keeps serving its current configuration",
            fg="red",
        )
        return False
    ROLLOUT[cluster] = host.name
    host.log(going)
    return True


def _rollout_done(state: Any, host: Any, cluster: str) -> bool:
    ROLLOUT.pop(cluster, None)
    return True


def holds_for_verification(settings: Settings) -> bool:
    """Activations are held (undoable) while verification is still to speak."""
    return settings.verify and settings.on_verify_failure == "rollback"


def outside_request(settings: Settings, ca: Path | None) -> dict[str, Any]:
    """The checks that need no secret (hardhouse.verify.checks.answer): the spec's open ports.
    A body, not the request: pyinfra hashes an operation's arguments, and this is one."""
    return OutsideRequest(settings.verify_address, settings.spec.ports.open(), str(ca) if ca else None).body()


def run_checks(settings: Settings, ca: Path | None, outside_only: bool = False) -> dict[str, Any]:
    """hardhouse.verify.deployment in the deploy's service child (outside pyinfra's gevent-patched
    process; one child answers every host). outside_only: only the checks that need no secret,
    the answer to those asked for as the host's state was read if there is one."""
    if outside_only:
        answer, why = outside_answer(outside_request(settings, ca)).wait(VERIFY_TIMEOUT)
    else:
        request = VerifyRequest(settings.spec_data, settings.verify_address, str(ca) if ca else None)
        answer, why = SERVICE.call(request.KIND, request.body(), VERIFY_TIMEOUT)
    if answer is not None:
        return answer
    failed = {"endpoint": settings.verify_address, "check": "verification ran", "ok": False, "detail": why}
    return {"ok": False, "checks": [failed]}


def _failed_lines(checks: list[dict[str, Any]]) -> list[str]:
    return [
        f"  FAIL {c.get('control') or '-'} {c['endpoint']} {c['check']}: {c['detail']}" for c in checks if not c["ok"]
    ]


def _controls(checks: list[dict[str, Any]]) -> str:
    return ", ".join(sorted({c["control"] for c in checks if c.get("control")})) or "none"


def check_trusted_from_here(settings: Settings, ca: Path | None, trust: Trust, why_trusted: str) -> Iterator[Any]:
    """A host whose stamp says it is the one a verification passed on is not proven again with
    logins and log rights; but the stamp compares a fingerprint the host computes, which root
    there (or a shim in its PATH) can replay. So what needs no secret is checked from here on
    every run: anonymous refused on every open port, the stock ports closed, no deprecated TLS
    version. A failed check fails the host with the same lines as a failed verification, and
    removes the stamp, so that the next run proves the host in full."""
    result = run_checks(settings, ca, outside_only=True)
    checks = result.get("checks", [])
    failed = [c for c in checks if not c["ok"]]
    if not failed:
        # Logged, not a no-op message: what was proven this run is the point of the step.
        host.log(
            f"checked from the deploy machine at {settings.verify_address} without a secret: "
            f"{len(checks)} checks passed; controls proven: {_controls(checks)}; "
            f"logins and log rights not re-proven: {why_trusted}; set it to 0 to verify on every run"
        )
        return
    forget_verified(trust)
    lines = [
        f"checks from the deploy machine failed ({len(failed)} of {len(checks)} checks) on a host whose "
        "fingerprint says it is unchanged since its last verification:"
    ]
    lines += _failed_lines(checks)
    lines.append(
        "the fingerprint (computed on the host) did not show this: its stamp is removed, so the next run "
        "proves the host in full; this run changed nothing on it, so there is nothing to roll back"
    )
    yield FunctionCommand(fail_with_lines, (lines,), {})


@operation()
def verify_from_here(settings: Settings, ca: Path | None, trust: Trust | None = None) -> Iterator[Any]:
    """Check the live server from the deploy machine; when every check passes, stamp the host
    (hardhouse.deploy.snapshot) so that a run finding it unchanged need not prove it again (it
    still makes every check that needs no secret: check_trusted_from_here).
    When a check fails the host fails with every failed check listed."""
    if not host.state.is_executing:
        return  # only the live server can be verified, not the plan
    why_trusted = trusted(trust)
    if why_trusted is not None:
        assert trust is not None
        yield from check_trusted_from_here(settings, ca, trust, why_trusted)
        return
    # The fingerprint the stamp blesses is read before the checks: a change during them makes
    # the next run re-verify rather than trust what was not proven. The checks asked for when
    # the host's audit passed (hardhouse.deploy.early_proof) come with the fingerprint read then.
    early = early_verification()
    if early is not None:
        result, fingerprint = early
    else:
        fingerprint = fingerprint_now(trust) if trust is not None and trust.stamps else ""
        result = run_checks(settings, ca)
    checks = result.get("checks", [])
    failed = [c for c in checks if not c["ok"]]
    if not failed:
        logins = [c["check"] for c in checks if "logs in" in c["check"]]
        # Shown at every verbosity (a noop message needs -v): the proof is the point of the step.
        host.log(
            f"verified from the deploy machine at {settings.verify_address}: "
            f"{len(checks)} checks passed ({'; '.join(logins)}); controls proven: {_controls(checks)}"
        )
        if trust is not None and fingerprint:
            record_verified(trust, fingerprint)
        return
    lines = [f"verification from the deploy machine failed ({len(failed)} of {len(checks)} checks):"]
    lines += _failed_lines(checks)
    if not holds_for_verification(settings):
        yield FunctionCommand(
            fail_with_lines, (lines + ["the new configuration stays live (on_verify_failure: keep)"],), {}
        )
        return
    # Say why first; then undo this run's activation (the host refuses when this run activated
    # nothing, or when the previous set is not one hardhouse brought up healthy), then fail.
    yield FunctionCommand(log_lines, (lines + ["rolling back (on_verify_failure: rollback)"],), {})
    yield _apply_command(settings, "rollback", str(settings.health_timeout), RUN_TOKEN)
    # hardhouse-apply rollback exits 0 only once the previous targets answer again.
    yield FunctionCommand(
        fail_with_lines, (["rolled back: the previous configuration serves again; the deploy failed"],), {}
    )


# Fetch a key, keep it only if its fingerprint is the pinned one: hostscripts/hardhouse-signing-key.sh.
INSTALL_KEY_SCRIPT = hostscripts.load("hardhouse-signing-key")


@operation()
def signing_key(url: str, fingerprint: str, keyring: str) -> Iterator[Any]:
    """Download a repository key and keep it only if its fingerprint is the pinned one."""
    wanted = fingerprint.replace(" ", "").upper()
    if host.get_fact(File, path=keyring):
        installed = host.get_fact(GpgKey, src=keyring) or {}
        if any(str(key.get("fingerprint", "")).upper() == wanted for key in installed.values()):
            host.noop(f"{keyring} holds {wanted}")
            return
    yield INSTALL_KEY_SCRIPT.command(QuoteString(url), QuoteString(wanted), QuoteString(keyring))
