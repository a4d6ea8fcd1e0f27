"""The deploy's host data: every key with its default and reason, read and checked before
anything is touched."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyinfra import host
from pyinfra.api import DeployError

from hardhouse.deploy.contract import APPLY_SCRIPT
from hardhouse.spec import HardeningSpec, SpecError, load_spec

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


class HardhouseDeployError(DeployError):
    """Host data the deploy cannot work with; raised before anything is touched."""



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

