"""The deploy's host data: every key with its default and reason, read and checked before
anything is touched."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyinfra import host
from pyinfra.api import DeployError

from hardhouse.controls.waivers import Waiver, load_waivers, parse_waivers
from hardhouse.deploy import contract
from hardhouse.spec import HardeningSpec, SpecError, load_spec
from hardhouse.spec.errors import excerpt
from hardhouse.spec.fields import host_path_problem

# Every setting the deploy reads from host/group data, with its default and the reason.
DATA_DEFAULTS: dict[str, Any] = {
    # The v1 hardening spec (the same mapping as a spec YAML file). Required. Shared by a
    # fleet in group_data/all.py; what differs is stated by the two keys below.
    "hardhouse_spec": None,
    # Top-level spec fields an environment replaces (group data such as group_data/staging.py),
    # e.g. {"clickhouse_version": "18.16", "users": [...]}.
    "hardhouse_spec_overrides": None,
    # This host's listen addresses (host data); replaces the spec's listen_hosts.
    "hardhouse_listen_hosts": None,
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
    # tls.ca_certificate), "verify_ca" (CA that signed the server certificate: the deploy
    # machine verifies the server against it before sending any password)}; paths on the
    # deploy machine, where "{host}" stands for the host's inventory name.
    "hardhouse_tls_files": None,
    # For sandbox-ca: the CA directory on the deploy machine (created on first use).
    "hardhouse_sandbox_ca_dir": None,
    # Verify from the deploy machine after going live; a failed check fails the deploy.
    "hardhouse_verify": True,
    # When that verification fails after this run changed the live files: "keep" leaves the
    # new configuration live and fails the host (the previous one is not known to be safer:
    # on a first deploy it is the stock, open one); "rollback" puts back the previous
    # configuration hardhouse had brought up healthy, restarts, and proves it serves again
    # (the stock configuration is never restored; the previous private key is kept, 0600 root,
    # until the next activation so that a rollback can serve it).
    "hardhouse_on_verify_failure": "keep",
    # Seconds a passed verification is trusted while the host's fingerprint (configuration
    # files, server process, listening sockets, log database metadata; hardhouse.deploy.snapshot)
    # is unchanged: a no-change re-run within it skips the audit, provisioning plan and
    # verification. 0 re-verifies on every run. A cluster is always re-verified.
    "hardhouse_trust_verified_for": 86400,
    # The address the deploy machine reaches the server at (default: first listen_host).
    "hardhouse_verify_address": None,
    # Seconds to wait for the server to be healthy after a change before rolling back.
    "hardhouse_health_timeout": 60,
    # hardhouse's own directory on the host: staged files, the previous files, the helper.
    "hardhouse_state_dir": "/var/lib/hardhouse",
    # ClickHouse's configuration directory on the host (config.xml, config.d, users.d).
    "hardhouse_config_dir": contract.CONFIG_DIR,
    # ClickHouse's data path on the host (its preprocessed_configs show a users reload).
    "hardhouse_data_dir": contract.DATA_DIR,
    # On a cluster: the replica this host is (cluster.shards[].replicas[].host). Default: the
    # replica whose address is among this host's listen_hosts; set it where that is ambiguous.
    "hardhouse_cluster_replica": None,
    # Where the log database keys a spec names by key_env come from, on the deploy machine:
    # {VARIABLE: path of a file holding the 64 hex digits}. A variable not listed here is read
    # from the deploy machine's environment under its own name (hardhouse.deploy.keys).
    "hardhouse_log_key_files": None,
    # Signed-off exceptions to the controls the live tree is judged by after going live (every
    # failing control fails the host): a list of {"control": "HH-NET-1", "reason": "...",
    # "expires": "2027-03-31", "targets": ["host-name"] (optional: inventory host names; all
    # hosts when absent)}, or the path of a waivers YAML file on the deploy machine (the format
    # of `hardhouse audit --waivers`). A waived control is reported as waived, never as passed;
    # an expired waiver covers nothing. Needed, e.g., to keep an undeclared user that fails a
    # control (spec undeclared_users: keep) or to open a plaintext port the spec opens.
    "hardhouse_waivers": None,
    # Rows a redacted table (log_databases.*.tables.*.redact) stored before its redaction keep
    # their text unless this is true: then they are counted and rewritten in place with the same
    # rules (ALTER TABLE ... UPDATE, waited for). ClickHouse removes the old parts after
    # old_parts_lifetime; backups taken before keep the text.
    "hardhouse_rewrite_stored_secrets": False,
    # After verification, scan the log tables for secrets at rest (hardhouse scan) as the first
    # reader of each log database the deploy machine can log in as: secret-shaped rows, or a
    # table that could not be scanned completely, fail the host unless a waiver of HH-DATA-4
    # covers it (hardhouse_waivers). Counts only: no value leaves the server.
    "hardhouse_scan_secrets": False,
}


URL_PATTERN = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/+@=-]*)?")
FINGERPRINT_PATTERN = re.compile(r"[0-9A-Fa-f]{40}")
VERSION_PATTERN = re.compile(r"[0-9]+(\.[0-9]+){1,4}")


class HardhouseDeployError(DeployError):
    """Host data the deploy cannot work with; raised before anything is touched."""


@dataclass(frozen=True)
class Settings:
    spec: HardeningSpec
    install_source: str
    repo: Mapping[str, str] | None
    apt_cache_time: int
    verify: bool
    on_verify_failure: str  # one of ON_VERIFY_FAILURE
    verify_address: str
    health_timeout: int
    state_dir: str
    config_dir: str
    data_dir: str
    spec_data: Mapping[str, Any]
    log_key_files: Mapping[str, str] | None = None
    trust_verified_for: int = 0
    waivers: tuple[Waiver, ...] = ()
    rewrite_stored_secrets: bool = False
    scan_secrets: bool = False

    @property
    def apply_path(self) -> str:
        return f"{self.state_dir}/{contract.BIN_DIR}/{contract.APPLY_SCRIPT}"

    @property
    def staged_dir(self) -> str:
        return f"{self.state_dir}/{contract.STAGED_DIR}"


def _fail(message: str) -> HardhouseDeployError:
    try:
        name = host.name
    except (AttributeError, TypeError):  # outside a pyinfra run (e.g. unit tests)
        name = "host"
    return HardhouseDeployError(f"{name}: {message}")


def effective_spec(data: Any) -> dict[str, Any]:
    """hardhouse_spec with the environment's overrides and the host's listen addresses."""
    raw_spec = data.get("hardhouse_spec")
    if raw_spec is None:
        raise _fail(
            "host data has no hardhouse_spec. "
            "Fix: set it in the inventory's group or host data (the v1 spec as a mapping)"
        )
    if not isinstance(raw_spec, Mapping):
        raise _fail(
            f"hardhouse_spec is a {type(raw_spec).__name__}, not a mapping. "
            "Fix: give the v1 spec as a mapping of fields"
        )
    spec = dict(raw_spec)
    overrides = data.get("hardhouse_spec_overrides")
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise _fail(
                "hardhouse_spec_overrides is not a mapping. "
                "Fix: map top-level spec fields to their values for this group"
            )
        spec.update(overrides)
    listen = data.get("hardhouse_listen_hosts")
    if listen is not None:
        spec["listen_hosts"] = listen
    if isinstance(spec.get("cluster"), Mapping):
        spec["cluster"] = {**spec["cluster"], "replica": _this_replica(data, spec)}
    return spec


def _this_replica(data: Any, spec: Mapping[str, Any]) -> Any:
    """The replica this host is: named by hardhouse_cluster_replica, else the one replica
    whose address this host listens on (a malformed cluster is left to the spec's own checks)."""
    named = data.get("hardhouse_cluster_replica")
    if named is not None:
        return named
    cluster = spec["cluster"]
    listen = spec.get("listen_hosts")
    try:
        replicas = [r for shard in cluster["shards"] for r in shard["replicas"]]
        mine = [r["host"] for r in replicas if r["address"] in listen]
    except (KeyError, TypeError):
        return cluster.get("replica")
    if len(mine) == 1:
        return mine[0]
    raise _fail(
        "hardhouse_spec.cluster: cannot tell which replica this host is "
        + (
            "(none of the replicas' addresses is among its listen_hosts). "
            if not mine
            else f"({', '.join(mine)} all listen here). "
        )
        + "Fix: set hardhouse_cluster_replica in its host data to its replica's host"
    )


def _int(data: Any, name: str, low: int, high: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(f"{name} must be a whole number from {low} to {high}. Fix: set it to e.g. {DATA_DEFAULTS[name]}")
    return value


def _bool(data: Any, name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise _fail(f"{name} must be true or false, not {excerpt(str(value))}. Fix: set it to True or False")
    return value


ON_VERIFY_FAILURE = ("keep", "rollback")


def _choice(data: Any, name: str, choices: tuple[str, ...]) -> str:
    value = data.get(name)
    if value not in choices:
        raise _fail(f"{name} must be one of {', '.join(choices)}. Fix: set it to {DATA_DEFAULTS[name]!r} or the other")
    return str(value)


def _host_path(data: Any, name: str) -> str:
    value = data.get(name)
    problem = host_path_problem(value) if isinstance(value, str) else "is not text"
    if problem is not None:
        raise _fail(f"{name} {problem}. Fix: give a normalized absolute path such as {DATA_DEFAULTS[name]}")
    return str(value)


def _repo(data: Any) -> Mapping[str, str]:
    repo = data.get("hardhouse_clickhouse_repo") or {}
    missing = [k for k in ("url", "key_url", "key_fingerprint", "version") if not repo.get(k)]
    if missing:
        raise _fail(
            f"hardhouse_clickhouse_repo lacks {', '.join(missing)}. "
            "Fix: give the repository URL, its key URL and fingerprint, and the version to pin"
        )
    for key in ("url", "key_url"):
        if not isinstance(repo[key], str) or not URL_PATTERN.fullmatch(repo[key]):
            raise _fail(
                f"hardhouse_clickhouse_repo.{key} is not a plain https URL. "
                "Fix: give https://HOST/PATH without spaces, quotes or control characters"
            )
    if not isinstance(repo["key_fingerprint"], str) or not FINGERPRINT_PATTERN.fullmatch(
        repo["key_fingerprint"].replace(" ", "")
    ):
        raise _fail(
            "hardhouse_clickhouse_repo.key_fingerprint is not a 40-digit hex fingerprint. "
            "Fix: copy it from ClickHouse's install documentation"
        )
    if not isinstance(repo["version"], str) or not VERSION_PATTERN.fullmatch(repo["version"]):
        raise _fail(
            "hardhouse_clickhouse_repo.version is not a package version. Fix: give digits and dots, e.g. 24.8.14.39"
        )
    return repo


def read_settings(data: Any) -> Settings:
    raw_spec = effective_spec(data)
    try:
        spec = load_spec(raw_spec)
    except SpecError as error:
        raise _fail(
            "hardhouse_spec is not valid; nothing was touched:\n"
            + "\n".join(f"  - hardhouse_spec.{p}" if p.path else f"  - {p}" for p in error.problems)
        ) from None
    source = data.get("hardhouse_install_source")
    if source not in ("debian", "clickhouse-repo"):
        raise _fail(f"hardhouse_install_source is {source!r}. Fix: use debian or clickhouse-repo")
    repo = _repo(data) if source == "clickhouse-repo" else None
    verify_address = data.get("hardhouse_verify_address") or spec.listen_hosts[0]
    try:
        if not isinstance(verify_address, str) or ipaddress.ip_address(verify_address).is_unspecified:
            raise _fail(
                f"the deploy machine cannot verify the server at {verify_address}. "
                "Fix: set hardhouse_verify_address to the address it reaches the server at"
            )
    except ValueError:
        raise _fail(
            "hardhouse_verify_address is not an IP address. "
            "Fix: give the address the deploy machine reaches the server at"
        ) from None
    for listen in spec.listen_hosts:
        if "%" in listen:
            raise _fail(
                f"hardhouse_spec.listen_hosts: the deploy cannot check {listen} after going live (a scope id "
                "names an interface of the host, not of the deploy machine). Fix: listen on an address without one"
            )
    # The spec's own paths (TLS files, key files) follow the same host-path rule (hardhouse.spec.fields).
    state_dir, config_dir, data_dir = (
        _host_path(data, name) for name in ("hardhouse_state_dir", "hardhouse_config_dir", "hardhouse_data_dir")
    )
    return Settings(
        spec=spec,
        install_source=source,
        repo=repo,
        apt_cache_time=_int(data, "hardhouse_apt_cache_time", 0, 10**8),
        verify=bool(data.get("hardhouse_verify")),
        on_verify_failure=_choice(data, "hardhouse_on_verify_failure", ON_VERIFY_FAILURE),
        verify_address=verify_address,
        health_timeout=_int(data, "hardhouse_health_timeout", 1, 86400),
        state_dir=state_dir,
        config_dir=config_dir,
        data_dir=data_dir,
        spec_data=raw_spec,
        log_key_files=_key_files(data),
        trust_verified_for=_int(data, "hardhouse_trust_verified_for", 0, 31 * 86400),
        waivers=host_waivers(data),
        rewrite_stored_secrets=_bool(data, "hardhouse_rewrite_stored_secrets"),
        scan_secrets=_bool(data, "hardhouse_scan_secrets"),
    )


WAIVERS_FIX = (
    'Fix: give a list of {"control": ID, "reason": TEXT, "expires": "YYYY-MM-DD", "targets": [HOST, ...]} '
    "(targets optional), or the path of a waivers YAML file"
)


def host_waivers(data: Any) -> tuple[Waiver, ...]:
    """The host's hardhouse_waivers (a list, or a waivers file's path), validated; the deploy's
    audit and `hardhouse audit @INVENTORY --spec-from-inventory` both read them here."""
    value = data.get("hardhouse_waivers")
    if value is None:
        return ()
    try:
        if isinstance(value, str):
            return tuple(load_waivers(value, "hardhouse_waivers"))
        if not isinstance(value, (list, tuple)):
            raise _fail(f"hardhouse_waivers is a {type(value).__name__}, not a list of waivers. {WAIVERS_FIX}")
        return tuple(parse_waivers(list(value)))
    except SpecError as error:
        in_file = isinstance(value, str)
        where = f"the waivers file {excerpt(value)}" if in_file else "hardhouse_waivers"
        lines = [
            f"  - {'' if in_file else 'hardhouse_'}{p}" if p.path else f"  - {p.problem}. Fix: {p.fix}"
            for p in error.problems
        ]
        raise _fail(f"{where} is not valid; nothing was touched:\n" + "\n".join(lines)) from None


def _key_files(data: Any) -> Mapping[str, str] | None:
    value = data.get("hardhouse_log_key_files")
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _fail(
            "hardhouse_log_key_files is not a mapping of variable names to file paths. "
            'Fix: e.g. {"CH_LOGS_KEY": "/secure/ch-logs.key"} (paths on the deploy machine)'
        )
    return dict(value)
