"""The pyinfra deploy: install ClickHouse, ship the hardened files, validate them on the
host, go live only if they are healthy (rolling back if not), and verify from outside.

Use it from a deploy file (deploy/harden.py is one):

    from hardhouse.deploy_ops import harden_clickhouse
    harden_clickhouse()

Everything comes from host/group data (DATA_DEFAULTS lists every key with its reason):
the v1 spec in `hardhouse_spec`, where ClickHouse comes from, where the TLS material comes
from, and where the deploy machine reaches the server to verify it.

Data flow: the spec is validated and rendered here, on the deploy machine, where the
passwords are read from the environment or files and hashed; only hashes and TLS material
travel to the host. Files are first staged under `hardhouse_state_dir` with their final
owner and mode; the helper `hardhouse-apply` (shipped with the deploy) validates the staged
set and swaps it in as one transaction on the host, so a dropped SSH connection cannot
leave a half-applied or unhealthy configuration behind.

Every step is an operation with a name, and each one reads the host's state first and
does nothing when it already matches: a second run reports no changes.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import DeployError, FactBase, FileUploadCommand, FunctionCommand, QuoteString, StringCommand, deploy, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files

from hardhouse.ca_store import CaError, ensure_server
from hardhouse.problems import SpecError
from hardhouse.render import FILE_PREFIX, render
from hardhouse.spec import HardeningSpec, load_spec

# Every setting the deploy reads from host/group data, with its default and the reason.
DATA_DEFAULTS: dict[str, Any] = {
    # The v1 hardening spec (the same mapping as a spec YAML file). Required.
    "hardhouse_spec": None,
    # debian: the distribution's clickhouse-server (18.16 on bookworm; the only source
    # reachable on this project's machines). clickhouse-repo: ClickHouse's own apt
    # repository, key fingerprint checked, version pinned (needs hardhouse_clickhouse_repo).
    "hardhouse_install_source": "debian",
    # For clickhouse-repo: {"url", "key_url", "key_fingerprint", "version"}. No default:
    # the repository, its key and the version are the operator's decision.
    "hardhouse_clickhouse_repo": None,
    # Refresh apt's package lists before installing if older than this (seconds); only
    # when something must be installed, so a re-run makes no apt traffic.
    "hardhouse_apt_cache_time": 86400,
    # files: certificate and key from local files (hardhouse_tls_files). sandbox-ca: issued
    # per host by the toolkit's own CA (hardhouse ca) in hardhouse_sandbox_ca_dir.
    "hardhouse_tls_source": "files",
    # For files: {"certificate", "private_key", "ca_certificate" (only if the spec sets
    # tls.ca_certificate), "verify_ca" (CA that signed the server certificate, used by the
    # deploy machine to verify it)}; paths on the deploy machine.
    "hardhouse_tls_files": None,
    # For sandbox-ca: the CA directory on the deploy machine (created on first use).
    "hardhouse_sandbox_ca_dir": None,
    # Verify from the deploy machine after going live; a failed check fails the deploy.
    "hardhouse_verify": True,
    # The address the deploy machine reaches the server at (default: first listen_host).
    "hardhouse_verify_address": None,
    # Seconds to wait for the server to be healthy after a change before rolling back.
    "hardhouse_health_timeout": 60,
    # hardhouse's own directory on the host: staged files, the previous files, the helper.
    "hardhouse_state_dir": "/var/lib/hardhouse",
    # ClickHouse's configuration directory on the host (config.xml, config.d, users.d).
    "hardhouse_config_dir": "/etc/clickhouse-server",
    # ClickHouse's data path on the host (its preprocessed_configs show a users reload).
    "hardhouse_data_dir": "/var/lib/clickhouse",
}

DEBIAN_PACKAGES = ("clickhouse-server", "clickhouse-client", "openssl", "procps")
# What the official repository path needs before it can add a signed repository.
REPO_PREREQUISITES = ("ca-certificates", "curl", "gnupg", "openssl", "procps")
REPO_PACKAGES = ("clickhouse-server", "clickhouse-client", "clickhouse-common-static")
KEYRING = "/usr/share/keyrings/clickhouse-keyring.gpg"
SERVER_USER = "clickhouse"
APPLY_SCRIPT = "hardhouse-apply"
TLS_KINDS = ("certificate", "private_key", "ca_certificate")
# Where uploads wait when pyinfra copies them into place with sudo (relative to the SSH user's home).
PRIVATE_UPLOAD_DIR = ".hardhouse-upload"


class HardhouseDeployError(DeployError):
    """Host data the deploy cannot work with; raised before anything is touched."""


# --------------------------------------------------------------------------------------------
# What should be on the host
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """One file for the host. The content may be a private key: it is never in a repr."""

    path: str
    data: bytes = field(repr=False)
    user: str
    group: str
    mode: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def meta(self) -> str:
        return f"{self.user}:{self.group}:{self.mode:o}"

    def __repr__(self) -> str:
        return f"Payload({self.path}, sha256={self.sha256[:12]}, {self.meta})"


@dataclass(frozen=True)
class Directory:
    path: str
    user: str
    group: str
    mode: int
    enforce: bool = True  # False: only create it when missing, never change an existing one


@dataclass(frozen=True)
class ManagedFile:
    """A file that goes live: its kind, where it is staged, where it goes."""

    kind: str  # config | users | certificate | private_key | ca_certificate
    staged: Payload
    live: Payload


@dataclass(frozen=True)
class Settings:
    spec: HardeningSpec
    install_source: str
    repo: Mapping[str, str] | None
    apt_cache_time: int
    verify: bool
    verify_address: str
    health_timeout: int
    state_dir: str
    config_dir: str
    data_dir: str
    spec_data: Mapping[str, Any]

    @property
    def apply_path(self) -> str:
        return f"{self.state_dir}/bin/{APPLY_SCRIPT}"

    @property
    def staged_dir(self) -> str:
        return f"{self.state_dir}/staged"


def _fail(message: str) -> HardhouseDeployError:
    try:
        name = host.name
    except (AttributeError, TypeError):  # outside a pyinfra run (e.g. unit tests)
        name = "host"
    return HardhouseDeployError(f"{name}: {message}")


def read_settings(data: Any) -> Settings:
    raw_spec = data.get("hardhouse_spec")
    if raw_spec is None:
        raise _fail("host data has no hardhouse_spec. Fix: set it in the inventory's group or host data (the v1 spec as a mapping)")
    try:
        spec = load_spec(raw_spec)
    except SpecError as error:
        raise _fail("hardhouse_spec is not valid; nothing was touched:\n" + "\n".join(f"  - hardhouse_spec.{p}" if p.path else f"  - {p}" for p in error.problems)) from None
    source = data.get("hardhouse_install_source")
    if source not in ("debian", "clickhouse-repo"):
        raise _fail(f"hardhouse_install_source is {source!r}. Fix: use debian or clickhouse-repo")
    repo = data.get("hardhouse_clickhouse_repo")
    if source == "clickhouse-repo":
        missing = [k for k in ("url", "key_url", "key_fingerprint", "version") if not (repo or {}).get(k)]
        if missing:
            raise _fail(f"hardhouse_clickhouse_repo lacks {', '.join(missing)}. Fix: give the repository URL, its key URL and fingerprint, and the version to pin")
    verify_address = data.get("hardhouse_verify_address") or spec.listen_hosts[0]
    try:
        if ipaddress.ip_address(verify_address).is_unspecified:
            raise _fail(f"the deploy machine cannot verify the server at {verify_address}. Fix: set hardhouse_verify_address to the address it reaches the server at")
    except ValueError:
        raise _fail(f"hardhouse_verify_address {verify_address!r} is not an IP address") from None
    for name in ("hardhouse_state_dir", "hardhouse_config_dir", "hardhouse_data_dir"):
        if not _plain_path(str(data.get(name))):
            raise _fail(f"{name} must be an absolute path without spaces or quotes")
    if spec.tls is not None:
        for kind in ("certificate", "private_key", "ca_certificate"):
            value = getattr(spec.tls, kind)
            if value is not None and not _plain_path(value):
                raise _fail(f"hardhouse_spec.tls.{kind} must be an absolute path without spaces or quotes (it is {value!r})")
    return Settings(
        spec=spec,
        install_source=source,
        repo=repo,
        apt_cache_time=int(data.get("hardhouse_apt_cache_time")),
        verify=bool(data.get("hardhouse_verify")),
        verify_address=verify_address,
        health_timeout=int(data.get("hardhouse_health_timeout")),
        state_dir=str(data.get("hardhouse_state_dir")).rstrip("/"),
        config_dir=str(data.get("hardhouse_config_dir")).rstrip("/"),
        data_dir=str(data.get("hardhouse_data_dir")).rstrip("/"),
        spec_data=raw_spec,
    )


def _plain_path(path: str) -> bool:
    return path.startswith("/") and not any(c.isspace() or c in "'\"\\$`" for c in path)


def tls_material(settings: Settings, data: Any) -> tuple[dict[str, bytes], Path | None]:
    """PEM bytes by kind (certificate, private_key, ca_certificate) and the local CA that
    verifies the server, read or issued on the deploy machine."""
    spec = settings.spec
    if spec.tls is None or not spec.tls_ports_open():
        return {}, None
    source = data.get("hardhouse_tls_source")
    if source == "sandbox-ca":
        ca_dir = data.get("hardhouse_sandbox_ca_dir")
        if not ca_dir:
            raise _fail("hardhouse_tls_source is sandbox-ca but hardhouse_sandbox_ca_dir is not set. Fix: name a directory on the deploy machine")
        addresses = sorted({a for a in [*spec.listen_hosts, settings.verify_address] if not ipaddress.ip_address(a).is_unspecified})
        try:
            material = ensure_server(Path(ca_dir), host.name, addresses)
        except (CaError, OSError) as error:
            raise _fail(f"cannot issue a sandbox certificate: {error}") from None
        pems = {"certificate": material.certificate, "private_key": material.private_key}
        if spec.tls.ca_certificate:
            pems["ca_certificate"] = material.ca_certificate
        return pems, material.ca_path
    if source != "files":
        raise _fail(f"hardhouse_tls_source is {source!r}. Fix: use files or sandbox-ca")
    paths = data.get("hardhouse_tls_files") or {}
    wanted = ["certificate", "private_key"] + (["ca_certificate"] if spec.tls.ca_certificate else [])
    pems = {}
    for kind in wanted:
        local = paths.get(kind)
        if not local:
            raise _fail(f"hardhouse_tls_files.{kind} is not set. Fix: give the local path of the {kind.replace('_', ' ')} to ship")
        try:
            pems[kind] = Path(local).expanduser().read_bytes()
        except OSError as error:
            raise _fail(f"cannot read hardhouse_tls_files.{kind} ({local}): {error.strerror}") from None
    verify_ca = paths.get("verify_ca")
    return pems, Path(verify_ca).expanduser() if verify_ca else None


def managed_files(settings: Settings, environ: Mapping[str, str]) -> tuple[list[ManagedFile], Path | None]:
    """Everything hardhouse puts live on this host, with its staged twin."""
    try:
        rendered = render(settings.spec, environ)
    except SpecError as error:
        raise _fail("the spec's secrets cannot be used; nothing was touched:\n" + "\n".join(f"  - hardhouse_spec.{p}" for p in error.problems)) from None
    managed = []
    for file in rendered:
        kind = "config" if file.path.startswith("config.d/") else "users"
        content = file.content.encode()
        staged = Payload(f"{settings.staged_dir}/{file.path}", content, "root", SERVER_USER, file.mode)
        live = Payload(f"{settings.config_dir}/{file.path}", content, "root", SERVER_USER, file.mode)
        managed.append(ManagedFile(kind, staged, live))
    pems, verify_ca = tls_material(settings, host.data)
    tls = settings.spec.tls
    for kind, pem in pems.items():
        assert tls is not None
        # The key belongs to the server user alone; certificates are public.
        owner, mode = (SERVER_USER, 0o600) if kind == "private_key" else ("root", 0o644)
        staged = Payload(f"{settings.staged_dir}/tls/{kind}.pem", pem, owner, SERVER_USER, mode)
        live = Payload(getattr(tls, kind), pem, owner, SERVER_USER, mode)
        managed.append(ManagedFile(kind, staged, live))
    return managed, verify_ca


def manifest(settings: Settings, managed: list[ManagedFile]) -> Payload:
    prefix = settings.staged_dir + "/"
    lines = [f"{m.kind} {m.staged.path.removeprefix(prefix)} {m.live.path}\n" for m in managed]
    return Payload(f"{settings.staged_dir}/MANIFEST", "".join(lines).encode(), "root", "root", 0o640)


def apply_script(settings: Settings) -> Payload:
    text = resources.files("hardhouse").joinpath("hostscripts/hardhouse-apply.sh").read_bytes()
    return Payload(settings.apply_path, text, "root", "root", 0o750)


def health_targets(spec: HardeningSpec) -> list[str]:
    """Where the host itself checks the server: every listen address, every TLS port."""
    open_ports = spec.ports.open()
    tls_ports = [open_ports[k] for k in ("https", "native_tls") if k in open_ports]
    kind, ports = ("tls", tls_ports) if tls_ports else ("tcp", list(open_ports.values()))
    targets = []
    for listen in spec.listen_hosts:
        address = ipaddress.ip_address(listen)
        if address.is_unspecified:
            address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
        targets += [f"{kind}:{address}:{port}" for port in ports]
    return targets


# --------------------------------------------------------------------------------------------
# What is on the host
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathState:
    kind: str  # F file, D directory, M missing
    meta: str = ""  # user:group:mode (octal, as stat %a prints it)
    sha256: str = ""


@dataclass
class HostFiles:
    paths: dict[str, PathState] = field(default_factory=dict)
    matches: list[str] = field(default_factory=list)  # paths the globs found
    running: bool = False


class HardhouseFiles(FactBase):
    """Owner, mode and SHA-256 of given paths, the files matching some globs, and whether
    clickhouse-server runs: one remote command for everything a step compares."""

    def command(self, paths: list[str], globs: list[str] | None = None) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        parts = [
            f"for p in {quoted}; do "
            'if [ -f "$p" ]; then printf "F %s %s %s\\n" "$(stat -c %U:%G:%a "$p")" "$(sha256sum < "$p" | cut -c1-64)" "$p"; '
            'elif [ -d "$p" ]; then printf "D %s - %s\\n" "$(stat -c %U:%G:%a "$p")" "$p"; '
            'else printf "M - - %s\\n" "$p"; fi; done'
        ]
        for pattern in globs or []:
            directory, name = pattern.rsplit("/", 1)
            parts.append(f'for p in {shlex.quote(directory)}/{name}; do [ -e "$p" ] && printf "G %s\\n" "$p"; done')
        parts.append("if pidof clickhouse-server >/dev/null 2>&1; then echo RUNNING; fi")
        parts.append("true")
        return "; ".join(parts)

    def process(self, output: list[str]) -> HostFiles:
        found = HostFiles()
        for line in output:
            if line == "RUNNING":
                found.running = True
            elif line.startswith("G "):
                found.matches.append(line[2:])
            elif line[:2] in ("F ", "D ", "M "):
                kind, meta, digest, path = line.split(" ", 3)
                found.paths[path] = PathState(kind, "" if meta == "-" else meta, "" if digest == "-" else digest)
        return found

    def default(self) -> HostFiles:
        return HostFiles()


# --------------------------------------------------------------------------------------------
# Deciding what a step must do (pure functions: unit-tested without a host)
# --------------------------------------------------------------------------------------------


def files_to_upload(payloads: list[Payload], found: HostFiles) -> tuple[list[Payload], list[Payload]]:
    """(payloads whose content differs or is missing, payloads whose owner/mode differ)."""
    upload, fix = [], []
    for payload in payloads:
        state = found.paths.get(payload.path, PathState("M"))
        if state.kind != "F" or state.sha256 != payload.sha256:
            upload.append(payload)
        elif state.meta != payload.meta:
            fix.append(payload)
    return upload, fix


@dataclass(frozen=True)
class Activation:
    mode: str | None  # restart | reload | start | None (nothing to do)
    changed: tuple[str, ...]  # live paths that differ or go away
    why: str


def plan_activation(managed: list[ManagedFile], found: HostFiles, config_dir: str) -> Activation:
    """How the live files differ from what should be live, and what that change needs:
    config.d or TLS -> restart; users.d only -> reload (ClickHouse re-reads users by itself);
    a stopped server -> start; nothing -> no activation."""
    upload, fix = files_to_upload([m.live for m in managed], found)
    differs = {p.path for p in upload + fix}
    wanted = {m.live.path for m in managed}
    stale = [p for p in found.matches if p not in wanted]
    kinds = {m.kind for m in managed if m.live.path in differs}
    kinds |= {"config" if p.startswith(f"{config_dir}/config.d/") else "users" for p in stale}
    changed = tuple(sorted(differs | set(stale)))
    if not found.running:
        return Activation("start", changed, "clickhouse-server is not running")
    if kinds & {"config", "certificate", "private_key", "ca_certificate"}:
        return Activation("restart", changed, "server settings or TLS material changed")
    if kinds:
        return Activation("reload", changed, "only users.d changed")
    return Activation(None, (), "the live files already match")


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


def _chain(commands: list[list[Any]]) -> StringCommand:
    """Several commands as one remote command (`a && b && ...`): one round trip."""
    bits: list[Any] = []
    for command in commands:
        bits += (["&&"] if bits else []) + command
    return StringCommand(*bits)


def _owner_mode(path: str, user: str, group: str, mode: int) -> list[Any]:
    return ["chown", f"{user}:{group}", QuoteString(path), "&&", "chmod", f"{mode:o}", QuoteString(path)]


@operation()
def stage(payloads: list[Payload], directories: list[Directory] | None = None, prune: list[str] | None = None) -> Iterator[Any]:
    """Make directories and files exactly as given (content, owner, mode) and remove files
    matching `prune` globs that are not among them. File contents never reach the log.
    One fact command reads everything; directories, then each changed file's upload, then
    one command for every owner/mode and removal."""
    directories = directories or []
    found = host.get_fact(HardhouseFiles, paths=[d.path for d in directories] + [p.path for p in payloads], globs=prune or [])
    make_dirs = []
    for directory in directories:
        state = found.paths.get(directory.path, PathState("M"))
        meta = f"{directory.user}:{directory.group}:{directory.mode:o}"
        if state.kind == "M" or (directory.enforce and state.meta != meta):
            make_dirs.append(["install", "-d", "-o", directory.user, "-g", directory.group, "-m", f"{directory.mode:o}", QuoteString(directory.path)])
    if make_dirs:
        yield _chain(make_dirs)
    upload, fix = files_to_upload(payloads, found)
    arguments = host.current_op_global_arguments or {}
    temp_dir = arguments.get("_temp_dir")
    if upload and any(arguments.get(k) for k in ("_sudo", "_su_user", "_doas")):
        # With sudo/su/doas, pyinfra uploads as the SSH user to a temporary file and copies it
        # into place as root. A private key must not sit world-readable in /tmp meanwhile: use
        # a directory only the SSH user can enter (relative: the SSH user's home, where both
        # SFTP and the copy command start).
        temp_dir = temp_dir or PRIVATE_UPLOAD_DIR
        yield StringCommand("install", "-d", "-m", "700", temp_dir, _sudo=False, _su_user=None, _doas=False)
    for payload in upload:
        temporary = f"{temp_dir}/{hashlib.sha1(payload.path.encode()).hexdigest()}" if temp_dir else None
        yield FileUploadCommand(io.BytesIO(payload.data), payload.path, remote_temp_filename=temporary)
    finish = [_owner_mode(p.path, p.user, p.group, p.mode) for p in upload + fix]
    wanted = {p.path for p in payloads}
    stale = [p for p in found.matches if p not in wanted]
    if stale:
        finish.append(["rm", "-f", *(QuoteString(p) for p in stale)])
    if finish:
        yield _chain(finish)
    if not (make_dirs or finish):
        host.noop(f"{len(payloads)} files already in place")


def _apply_command(settings: Settings, *args: str) -> StringCommand:
    env = [
        f"HARDHOUSE_CONF={settings.config_dir}",
        f"HARDHOUSE_DATA={settings.data_dir}",
    ]
    return StringCommand("env", *env, settings.apply_path, *(QuoteString(a) for a in args))


def _live_state(settings: Settings, managed: list[ManagedFile]) -> HostFiles:
    globs = [f"{settings.config_dir}/config.d/{FILE_PREFIX}*.xml", f"{settings.config_dir}/users.d/{FILE_PREFIX}*.xml"]
    return host.get_fact(HardhouseFiles, paths=[m.live.path for m in managed], globs=globs)


@operation()
def validate_staged(settings: Settings, managed: list[ManagedFile]) -> Iterator[Any]:
    """Run hardhouse-apply validate when the staged files are not already live."""
    plan = plan_activation(managed, _live_state(settings, managed), settings.config_dir)
    if plan.mode is None:
        host.noop("the live files already match the spec; nothing to validate")
        return
    yield _apply_command(settings, "validate")


@operation()
def go_live(settings: Settings, managed: list[ManagedFile]) -> Iterator[Any]:
    """Swap the staged files in and restart, reload or start as the change needs; the host
    waits until healthy and rolls back (exit 1, reason on stderr) if it is not."""
    plan = plan_activation(managed, _live_state(settings, managed), settings.config_dir)
    if plan.mode is None:
        host.noop("ClickHouse already runs this configuration; no restart")
        return
    if host.state.is_executing:
        names = ", ".join(Path(p).name for p in plan.changed) or "no file"
        host.log(f"going live ({plan.mode}: {plan.why}): {names}")
    yield _apply_command(settings, "activate", plan.mode, str(settings.health_timeout), *health_targets(settings.spec))


def run_checks(settings: Settings, ca: Path | None) -> dict[str, Any]:
    """hardhouse.deploy_checks in a subprocess (outside pyinfra's gevent-patched process)."""
    request = json.dumps({"spec": settings.spec_data, "address": settings.verify_address, "ca": str(ca) if ca else None})
    completed = subprocess.run(
        [sys.executable, "-m", "hardhouse.deploy_checks"],
        input=request,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        return json.loads(completed.stdout)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        return {"ok": False, "checks": [{"endpoint": settings.verify_address, "check": "verification ran", "ok": False, "detail": " / ".join(tail)}]}


def _report_failure(state: Any, host: Any, lines: list[str]) -> bool:
    for line in lines:
        host.log_styled(line, fg="red")
    return False


@operation()
def verify_from_here(settings: Settings, ca: Path | None) -> Iterator[Any]:
    """Check the live server from the deploy machine. A read: no change when it passes; when
    a check fails the host fails with every failed check listed."""
    if not host.state.is_executing:
        return  # only the live server can be verified, not the plan
    result = run_checks(settings, ca)
    checks = result.get("checks", [])
    failed = [c for c in checks if not c["ok"]]
    if not failed:
        logins = [c["check"] for c in checks if "logs in" in c["check"]]
        # Shown at every verbosity (a noop message needs -v): the proof is the point of the step.
        host.log(f"verified from the deploy machine at {settings.verify_address}: {len(checks)} checks passed ({'; '.join(logins)})")
        return
    lines = [f"verification from the deploy machine failed ({len(failed)} of {len(checks)} checks):"]
    lines += [f"  FAIL {c['endpoint']} {c['check']}: {c['detail']}" for c in failed]
    yield FunctionCommand(_report_failure, (lines,), {})


# --------------------------------------------------------------------------------------------
# The deploy
# --------------------------------------------------------------------------------------------


def install_clickhouse(settings: Settings) -> None:
    installed = host.get_fact(DebPackages)
    if settings.install_source == "debian":
        missing = [p for p in DEBIAN_PACKAGES if p not in installed]
        apt.packages(
            name="Install ClickHouse from the distribution's packages",
            packages=list(DEBIAN_PACKAGES),
            no_recommends=True,
            # Refresh the package lists only when something is missing (no apt traffic on a re-run).
            update=bool(missing),
            cache_time=settings.apt_cache_time,
        )
        return
    repo = settings.repo
    assert repo is not None
    missing = [p for p in REPO_PREREQUISITES if p not in installed]
    apt.packages(
        name="Install what a signed apt repository needs (curl, gnupg)",
        packages=list(REPO_PREREQUISITES),
        no_recommends=True,
        update=bool(missing),
        cache_time=settings.apt_cache_time,
    )
    signing_key(name="Install ClickHouse's signing key (fingerprint checked)", url=repo["key_url"], fingerprint=repo["key_fingerprint"], keyring=KEYRING)
    source = apt.repo(name="Add ClickHouse's apt repository", src=f"deb [signed-by={KEYRING}] {repo['url']} stable main", filename="clickhouse")
    files.put(
        name=f"Pin ClickHouse to {repo['version']}",
        src=io.StringIO(f"# Managed by hardhouse: ClickHouse upgrades are a decision, not a side effect.\nPackage: clickhouse-*\nPin: version {repo['version']}\nPin-Priority: 1001\n"),
        dest="/etc/apt/preferences.d/clickhouse",
        mode="644",
    )
    apt.update(name="Refresh apt's package lists (repository added)", _if=source.did_change)
    apt.packages(
        name=f"Install ClickHouse {repo['version']} from ClickHouse's repository",
        packages=[f"{p}={repo['version']}" for p in REPO_PACKAGES],
        no_recommends=True,
        allow_downgrades=True,
    )


class KeyringFingerprints(FactBase):
    """Fingerprints of the keys in a keyring file (empty if it does not exist)."""

    def command(self, keyring: str) -> str:
        return f"if [ -f {shlex.quote(keyring)} ]; then gpg --show-keys --with-colons {shlex.quote(keyring)} | awk -F: '/^fpr:/ {{print $10}}'; fi; true"

    def process(self, output: list[str]) -> list[str]:
        return [line.strip().upper() for line in output if line.strip()]

    def default(self) -> list[str]:
        return []


@operation()
def signing_key(url: str, fingerprint: str, keyring: str) -> Iterator[Any]:
    """Download a repository key and keep it only if its fingerprint is the pinned one."""
    wanted = fingerprint.replace(" ", "").upper()
    if wanted in host.get_fact(KeyringFingerprints, keyring=keyring):
        host.noop(f"{keyring} holds {wanted}")
        return
    script = (
        'set -e; t=$(mktemp); trap \'rm -f "$t" "$t.gpg"\' EXIT; '
        f'curl -fsSL {shlex.quote(url)} -o "$t"; '
        'got=$(gpg --show-keys --with-colons "$t" | awk -F: \'/^fpr:/ {print toupper($10)}\'); '
        f'if [ "$got" != {shlex.quote(wanted)} ]; then echo "hardhouse: the key at {url} has fingerprint $got, not {wanted}; not installed" >&2; exit 1; fi; '
        f'gpg --dearmor < "$t" > "$t.gpg"; install -m 644 "$t.gpg" {shlex.quote(keyring)}'
    )
    yield StringCommand("sh", "-c", QuoteString(script))


@deploy("Harden ClickHouse", data_defaults=DATA_DEFAULTS)
def harden_clickhouse() -> None:
    settings = read_settings(host.data)
    managed, verify_ca = managed_files(settings, os.environ)

    install_clickhouse(settings)

    state, staged = settings.state_dir, settings.staged_dir
    stage(
        name="Install hardhouse-apply (validate, activate, roll back)",
        payloads=[apply_script(settings)],
        directories=[
            Directory(state, "root", SERVER_USER, 0o750),
            Directory(f"{state}/bin", "root", "root", 0o700),
        ],
    )
    tls_dirs = sorted({str(Path(m.live.path).parent) for m in managed if m.kind in TLS_KINDS})
    stage(
        name="Stage the rendered files and TLS material (hashes only; key 0600 owned by clickhouse)",
        payloads=[m.staged for m in managed] + [manifest(settings, managed)],
        directories=[Directory(staged, "root", SERVER_USER, 0o750)]
        + [Directory(f"{staged}/{sub}", "root", SERVER_USER, 0o750) for sub in ("config.d", "users.d", "tls")]
        # config.d/users.d are created if missing (Debian's package ships none) but never changed.
        + [Directory(f"{settings.config_dir}/{sub}", "root", SERVER_USER, 0o750, enforce=False) for sub in ("config.d", "users.d")]
        # TLS directories hardhouse owns (inside the config dir) are locked down; others are only created.
        + [Directory(d, "root", SERVER_USER, 0o750, enforce=d.startswith(settings.config_dir + "/")) for d in tls_dirs],
        prune=[f"{staged}/config.d/*.xml", f"{staged}/users.d/*.xml", f"{staged}/tls/*.pem"],
    )
    validate_staged(name="Validate on the host before going live (ClickHouse's parser, TLS pair, permissions)", settings=settings, managed=managed)
    go_live(name="Go live: restart only if needed, wait until healthy, roll back if not", settings=settings, managed=managed)
    if settings.verify:
        verify_from_here(name="Verify from the deploy machine (anonymous refused, closed ports closed, TLS logins)", settings=settings, ca=verify_ca)
