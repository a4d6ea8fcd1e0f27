"""The @deploy: install ClickHouse, ship the hardened files, validate them on the host, go
live only if they are healthy (rolling back if not), and verify from outside.

Use it from a deploy file (deploy/harden.py at the top of the repository is one):

    from hardhouse.deploy import harden_clickhouse
    harden_clickhouse()

Everything comes from host/group data (hardhouse.deploy.settings.DATA_DEFAULTS lists every
key with its reason): the v1 spec in `hardhouse_spec`, where ClickHouse comes from, where the
TLS material comes from, and where the deploy machine reaches the server to verify it.

Data flow: the spec is validated and rendered here, on the deploy machine, where the
passwords are read from the environment or files and hashed; only hashes and TLS material
travel to the host. Files are first staged under `hardhouse_state_dir` with their final
owner and mode; the helper `hardhouse-apply` (shipped with the deploy) validates the staged
set and swaps it in as one transaction on the host, so a dropped SSH connection cannot
leave a half-applied or unhealthy configuration behind. Before anything is touched, users the
host has that the spec does not declare are refused, or planned for removal (undeclared_users,
hardhouse.deploy.users). After going live, the live tree is read back and judged whole
(hardhouse.deploy.audit): every failing control fails the host unless a waiver covers it,
drift (a file that overrides hardhouse's) among them, each with its file:line. Then the
spec's log databases are created (or brought up to date in place) as an owner from the
deploy machine (hardhouse.provision), and verification proves each reader's and writer's
rights.

Every step is an operation with a name, and each one reads the host's state first and
does nothing when it already matches: a second run reports no changes.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files

from hardhouse.clickhouse.stock import DEFAULT_INCLUDE_FROM
from hardhouse.deploy.audit import ClickHouseConfigTree
from hardhouse.deploy.contract import KEY_KINDS, KIND_CONFIG, KIND_USERS, SERVER_USER, SERVICE, TLS_KINDS
from hardhouse.deploy.early_proof import ProofCall
from hardhouse.deploy.keys import KEYS_DIR, SYSTEMD_DROPIN_DIR, SYSV_DEFAULTS
from hardhouse.deploy.operations import (
    go_live,
    install_packages,
    live_globs,
    outside_request,
    signing_key,
    stage,
    validate_staged,
    verify_from_here,
)
from hardhouse.deploy.payloads import Directory, ManagedFile, Payload, apply_script, managed_files, manifest
from hardhouse.deploy.provision_ops import provision_log_databases
from hardhouse.deploy.recheck import JudgeAhead, audit_live
from hardhouse.deploy.scan_ops import scan_for_secrets
from hardhouse.deploy.settings import DATA_DEFAULTS, Settings, _fail, read_settings
from hardhouse.deploy.snapshot import Trust, ask_outside, make_trust, read_host_state
from hardhouse.deploy.users import check_removal, check_undeclared_users, plan_removal
from hardhouse.provision import provision_problems

DEBIAN_PACKAGES = ("clickhouse-server", "clickhouse-client", "openssl", "procps")
# What the official repository path needs before it can add a signed repository.
REPO_PREREQUISITES = ("ca-certificates", "curl", "gnupg", "openssl", "procps")
REPO_PACKAGES = ("clickhouse-server", "clickhouse-client", "clickhouse-common-static")
KEYRING = "/usr/share/keyrings/clickhouse-keyring.gpg"
# How the service manager starts the server, which the fingerprint must see change: the
# packaged unit, an operator's replacement, drop-ins (/etc and runtime ones: User=, ExecStart=,
# Environment= change what runs without a file in the configuration directory changing), and
# the defaults file Debian's init script sources. An absent path is fingerprinted as absent.
SERVICE_MANAGER_PATHS = (
    f"/lib/systemd/system/{SERVICE}.service",
    f"/etc/systemd/system/{SERVICE}.service",
    SYSTEMD_DROPIN_DIR,
    f"/run/systemd/system/{SERVICE}.service.d",
    SYSV_DEFAULTS,
)


def fingerprint_scope(settings: Settings, extra_dirs: list[str]) -> list[str]:
    """What the host's fingerprint covers (hardhouse.deploy.snapshot): the configuration, TLS
    and key directories, the default include file the server reads from outside them
    (/etc/metrika.xml), the service manager's unit, drop-ins and defaults file, hardhouse-apply
    and the staged files, the log databases' table definitions and SQL-created access entities."""
    metadata = f"{settings.data_dir}/metadata"
    databases = sorted(settings.spec.log_databases or {})
    extra = [d for d in extra_dirs if d not in SERVICE_MANAGER_PATHS]  # the keys' drop-in directory
    return (
        [settings.config_dir, DEFAULT_INCLUDE_FROM, *SERVICE_MANAGER_PATHS, *extra]
        + [path for db in databases for path in (f"{metadata}/{db}.sql", f"{metadata}/{db}")]
        + [f"{settings.data_dir}/access"]
    )


def install_clickhouse(settings: Settings) -> None:
    if settings.install_source == "debian":
        install_packages(
            name="Install ClickHouse from the distribution's packages",
            packages=list(DEBIAN_PACKAGES),
            cache_time=settings.apt_cache_time,
        )
        return
    repo = settings.repo
    assert repo is not None
    install_packages(
        name="Install what a signed apt repository needs (curl, gnupg)",
        packages=list(REPO_PREREQUISITES),
        cache_time=settings.apt_cache_time,
    )
    signing_key(
        name="Install ClickHouse's signing key (fingerprint checked)",
        url=repo["key_url"],
        fingerprint=repo["key_fingerprint"],
        keyring=KEYRING,
    )
    source = apt.repo(
        name="Add ClickHouse's apt repository",
        src=f"deb [signed-by={KEYRING}] {repo['url']} stable main",
        filename="clickhouse",
    )
    files.put(
        name=f"Pin ClickHouse to {repo['version']}",
        src=io.StringIO(
            "# Managed by hardhouse: ClickHouse upgrades are a decision, not a side effect.\n"
            "Package: clickhouse-*\n"
            f"Pin: version {repo['version']}\n"
            "Pin-Priority: 1001\n"
        ),
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


@dataclass(frozen=True)
class BeforeInstall:
    """What the steps before the install decided, for the steps after it (one host's)."""

    settings: Settings
    managed: list[ManagedFile]
    verify_ca: Path | None
    payloads: list[Payload]
    directories: list[Directory]
    prune: list[str]
    trust: Trust


@deploy("Harden ClickHouse", data_defaults=DATA_DEFAULTS)
def harden_clickhouse() -> None:
    ahead = _before_install()
    install_clickhouse(ahead.settings)
    _after_install(ahead)


@deploy("Harden ClickHouse", data_defaults=DATA_DEFAULTS)
def clickhouse_before_install() -> BeforeInstall:
    """harden_clickhouse's steps before its install, for a deploy that installs every host's
    packages in one step (hardhouse.deploy.fleet); ClickHouse's own repository is set up and
    installed from here, in order, as harden_clickhouse does."""
    ahead = _before_install()
    if ahead.settings.install_source != "debian":
        install_clickhouse(ahead.settings)
    return ahead


@deploy("Harden ClickHouse", data_defaults=DATA_DEFAULTS)
def clickhouse_after_install(ahead: BeforeInstall) -> None:
    """harden_clickhouse's steps after its install (hardhouse.deploy.fleet)."""
    _after_install(ahead)


def _before_install() -> BeforeInstall:
    settings = read_settings(host.data)
    removal, archive = None, None
    if settings.spec.undeclared_users == "remove":
        # The render removes the host's undeclared users by name: read them now (one read-only
        # command on every run; the other modes read them only when the host is not trusted).
        fetched = host.get_fact(ClickHouseConfigTree, config_dir=settings.config_dir)
        removal, archive = plan_removal(fetched, settings.spec, settings.config_dir), fetched.archive
    managed, verify_ca = managed_files(settings, os.environ, remove_users=removal.names if removal else ())
    if removal is not None:
        own = {
            m.live.path.removeprefix(settings.config_dir + "/"): m.live.data
            for m in managed
            if m.kind in (KIND_CONFIG, KIND_USERS)
        }
        removal = check_removal(removal, archive, settings.spec, settings.config_dir, own)
    if settings.verify and settings.spec.tls_ports_open() and verify_ca is None:
        # Verification logs in with real passwords; only a server whose certificate validates
        # against a CA the operator named may receive them. Refused before anything is touched.
        raise _fail(
            "hardhouse_verify is on, but no CA to verify the server's certificate is named, so the deploy machine "
            "cannot prove it sends passwords to this server and not an impostor. "
            "Fix: set hardhouse_tls_files.verify_ca "
            "to the CA that signed the server certificate (or hardhouse_verify: false to skip verification)"
        )

    if settings.spec.log_databases:
        # The log databases are created as an owner from this machine after going live: if no
        # owner can log in from here (or no CA proves the server), say so before touching anything.
        problems = provision_problems(settings.spec, settings.verify_address, verify_ca, os.environ)
        if problems:
            raise _fail(
                "the log databases cannot be created from the deploy machine:\n"
                + "\n".join(f"  - {problem}" for problem in problems)
            )

    state, staged = settings.state_dir, settings.staged_dir
    tls_dirs = sorted({str(Path(m.live.path).parent) for m in managed if m.kind in TLS_KINDS})
    # The key file's directory is hardhouse's (root only); a systemd drop-in directory is only created.
    key_dirs = sorted({str(Path(m.live.path).parent) for m in managed if m.kind in KEY_KINDS})
    # hardhouse-apply (validate, activate, roll back) and the files it will put live.
    payloads = [apply_script(settings)] + [m.staged for m in managed] + [manifest(settings, managed)]
    directories = (
        [Directory(state, "root", SERVER_USER, 0o750), Directory(f"{state}/bin", "root", "root", 0o700)]
        + [Directory(staged, "root", SERVER_USER, 0o750)]
        + [Directory(f"{staged}/{sub}", "root", SERVER_USER, 0o750) for sub in ("config.d", "users.d", "tls")]
        # The server reads its configuration but may not change it: the configuration directory
        # and its config.d/users.d belong to root (ClickHouse's own packages give them to the
        # clickhouse user; hardhouse-apply refuses a target directory anyone but root can write).
        + [
            Directory(d, "root", SERVER_USER, 0o750)
            for d in (settings.config_dir, f"{settings.config_dir}/config.d", f"{settings.config_dir}/users.d")
        ]
        # TLS directories hardhouse owns (inside the config dir) are locked down; others are only created.
        + [Directory(d, "root", SERVER_USER, 0o750, enforce=d.startswith(settings.config_dir + "/")) for d in tls_dirs]
        + [Directory(f"{staged}/keys", "root", "root", 0o700)]
        + [Directory(d, "root", "root", 0o700 if d == KEYS_DIR else 0o755, enforce=d == KEYS_DIR) for d in key_dirs]
    )
    prune = [f"{staged}/config.d/*.xml", f"{staged}/users.d/*.xml", f"{staged}/tls/*.pem", f"{staged}/keys/*"]
    trust = make_trust(
        settings.spec,
        os.environ,
        [m.live for m in managed] + payloads,
        spec_data=settings.spec_data,
        # A cluster's verification also proves its peers and ZooKeeper, which this host's
        # fingerprint does not cover: it is re-verified on every run.
        seconds=0 if settings.spec.cluster else settings.trust_verified_for,
        state_dir=state,
        verify_address=settings.verify_address,
        verify_ca=verify_ca,
        scope=fingerprint_scope(settings, tls_dirs + key_dirs + [f"{state}/bin", staged]),
        packages=list(DEBIAN_PACKAGES if settings.install_source == "debian" else REPO_PREREQUISITES),
        waivers=settings.waivers,
    )
    # A host that may be trusted unchanged is still checked from outside (what needs no secret:
    # see check_trusted_from_here). Those checks need nothing from the host: with -y, when
    # pyinfra goes from planning straight to the steps, they start now and run while the other
    # hosts are planned; otherwise as the host's state is read.
    outside = outside_request(settings, verify_ca) if settings.verify and trust.stamps else None
    if outside is not None and not host.state.should_check_for_changes():
        ask_outside(outside)
    proves = settings.verify or bool(settings.spec.log_databases)  # the host has a proof to make
    read_host_state(
        name="Read the host's state (one command: files, packages, the fingerprint verification stamps)",
        paths=[p.path for p in payloads + directories] + [m.live.path for m in managed],
        globs=prune + live_globs(settings.config_dir),
        trust=trust,
        outside=outside,
        prepare_full_proof=proves,
        tree_dir=settings.config_dir,
        # Proven in full on every run: the tree the state read carries is judged as it arrives,
        # and a host that already passes has its proof started while pyinfra reads the others
        # and runs the steps that find nothing to do (taken only if none of them changes the
        # host, or on a cluster any host).
        judge_ahead=(
            JudgeAhead(settings.config_dir, settings.spec, settings.waivers, ProofCall(settings, verify_ca))
            if proves and not trust.stamps
            else None
        ),
    )

    # Users the host has and the spec does not declare: refused (the default) before anything
    # is installed or staged, or named as removed; kept ones are judged after going live.
    check_undeclared_users(
        name="Check the host's users the spec does not declare (undeclared_users)",
        spec=settings.spec,
        config_dir=settings.config_dir,
        removal=removal,
        trust=trust,
    )
    return BeforeInstall(settings, managed, verify_ca, payloads, directories, prune, trust)


def _after_install(ahead: BeforeInstall) -> None:
    settings, managed, verify_ca, trust = ahead.settings, ahead.managed, ahead.verify_ca, ahead.trust
    payloads, directories, prune = ahead.payloads, ahead.directories, ahead.prune
    stage(
        name="Stage hardhouse-apply, the rendered files and TLS material (hashes only; key 0600 owned by clickhouse)",
        payloads=payloads,
        directories=directories,
        prune=prune,
        trust=trust,
    )
    validate_staged(
        name="Validate on the host before going live (ClickHouse's parser, TLS pair, permissions)",
        settings=settings,
        managed=managed,
        trust=trust,
    )
    go_live(
        name="Go live: restart only if needed, wait until healthy, roll back if not (a cluster: one replica at a time)",
        settings=settings,
        managed=managed,
        trust=trust,
        # A cluster rolls: each replica is healthy again before the next restarts, so the
        # others keep serving (and a replica that does not come back stops the rollout).
        _serial=settings.spec.cluster is not None,
    )
    # Before the verification: a file that overrides hardhouse's (a config.d file sorting after
    # zz-hardhouse-*) fails the host here, naming its file:line, and no password is sent to a
    # server whose configuration is not the spec's. One read-only command (none when the users check's read
    # still describes the host: hardhouse.deploy.live_tree); no change when clean.
    audit_live(
        name="Audit the live configuration: every control, drift from the spec, undeclared users",
        config_dir=settings.config_dir,
        spec=settings.spec,
        trust=trust,
        waivers=settings.waivers,
        proof=ProofCall(settings, verify_ca),
    )
    if settings.spec.log_databases:
        # After the audit, before verification: the owner's password goes only to the audited,
        # verified server; readers are then proven against tables that exist.
        provision_log_databases(
            name="Create the log databases as an owner (in place only; never drop or rewrite)",
            settings=settings,
            ca=verify_ca,
            trust=trust,
        )
    if settings.verify:
        verify_from_here(
            name="Verify from the deploy machine (anonymous refused, closed ports closed, TLS logins)",
            settings=settings,
            ca=verify_ca,
            trust=trust,
        )
    if settings.scan_secrets and settings.spec.log_databases:
        scan_for_secrets(
            name="Scan the log tables for secrets at rest as a reader (counts only; hardhouse_scan_secrets)",
            settings=settings,
            ca=verify_ca,
        )
