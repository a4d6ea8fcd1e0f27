"""Deciding what a step must do: pure functions of what should be and what is, unit-tested
without a host."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hardhouse.clickhouse.ports import BY_NAME
from hardhouse.deploy.contract import HEALTH_TCP, HEALTH_TLS
from hardhouse.deploy.facts import HostFiles, PathState
from hardhouse.deploy.payloads import ManagedFile, Payload
from hardhouse.spec import HardeningSpec


def health_targets(spec: HardeningSpec) -> list[str]:
    """Where the host itself checks the server: every listen address, every TLS port."""
    open_ports = spec.ports.open()
    tls_ports = [number for name, number in open_ports.items() if BY_NAME[name].tls]
    kind, ports = (HEALTH_TLS, tls_ports) if tls_ports else (HEALTH_TCP, list(open_ports.values()))
    targets = []
    for listen in spec.listen_hosts:
        address = ipaddress.ip_address(listen)
        mapped = getattr(address, "ipv4_mapped", None)
        if address.is_unspecified or (mapped is not None and mapped.is_unspecified):
            # Listening everywhere: the host checks itself on loopback.
            address = ipaddress.ip_address("::1" if address.version == 6 and mapped is None else "127.0.0.1")
        targets += [f"{kind}:{address}:{port}" for port in ports]
    return targets


def files_to_upload(payloads: list[Payload], found: HostFiles) -> tuple[list[Payload], list[Payload]]:
    """(payloads whose content differs or is missing, payloads whose owner/mode differ)."""
    upload, fix = [], []
    for payload in payloads:
        state = found.paths.get(payload.path, PathState("M"))
        if state.kind != "F" or state.digest != payload.digest:
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
    if kinds & {"config", "certificate", "private_key", "ca_certificate", "keys", "keys_hook"}:
        return Activation("restart", changed, "server settings, TLS material or keys changed")
    if kinds:
        return Activation("reload", changed, "only users.d changed")
    return Activation(None, (), "the live files already match")
