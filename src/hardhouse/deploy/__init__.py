"""The pyinfra deploy: settings from host data, payloads, plans, facts, operations, the
host-side script, and the @deploy that ties them together (hardhouse.deploy.harden).

The public names load on first use: the deploy's helper child (hardhouse.deploy.service)
lives in this package and must not pay for importing pyinfra."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "harden": "hardhouse.deploy.fleet",
    "harden_clickhouse": "hardhouse.deploy.harden",
    "harden_zookeeper": "hardhouse.deploy.zookeeper",
    "DATA_DEFAULTS": "hardhouse.deploy.settings",
    "HardhouseDeployError": "hardhouse.deploy.settings",
}

__all__ = ["DATA_DEFAULTS", "HardhouseDeployError", "harden", "harden_clickhouse", "harden_zookeeper"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'hardhouse.deploy' has no attribute {name!r}")
    if name in ("harden", "harden_clickhouse"):
        _start_helper()
    if name in ("harden", "harden_clickhouse", "harden_zookeeper"):
        _lighten_pyinfra_bookkeeping()
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def _lighten_pyinfra_bookkeeping() -> None:
    """Inside a pyinfra run, before the deploy's operations are called: pyinfra then finds each
    operation's order without reading a source line per frame (hardhouse.deploy.call_stack),
    and checks arguments against types worked out once (hardhouse.deploy.operation_arguments)."""
    from pyinfra.context import ctx_state

    if ctx_state.isset():
        from hardhouse.deploy import call_stack, operation_arguments

        call_stack.install()
        operation_arguments.install()


def _start_helper() -> None:
    """Start the deploy's helper child (hardhouse.deploy.child) as pyinfra loads a deploy file
    that hardens ClickHouse, before the deploy's own imports: the child's imports and its TLS
    scanner's then overlap pyinfra's loading and planning, and it is ready when the first host
    is checked from outside (a verifying run checks every host from outside, a trusted one too;
    a run that neither verifies nor provisions leaves it idle until the run ends). Only inside
    a pyinfra run: a test that imports the deploy starts nothing."""
    from pyinfra.context import ctx_state

    if ctx_state.isset():
        from hardhouse.deploy.child import SERVICE

        SERVICE.start()
        if proven_in_full(ctx_state.get().inventory):
            SERVICE.submit("load", {})


def proven_in_full(inventory: Any) -> bool:
    """Whether a host of this run trusts no stamp (a trust period of 0, a cluster spec), read
    from the inventory before any host is planned, so that the helper child loads the full
    proof at once, while pyinfra connects. A hint only: each host's settings decide, and a host
    they find not trusted unchanged has it loaded as its state is read
    (hardhouse.deploy.snapshot.read_host_state)."""
    for member in inventory:
        data = member.data
        spec = data.get("hardhouse_spec")
        if data.get("hardhouse_trust_verified_for") == 0 or (isinstance(spec, dict) and spec.get("cluster")):
            return True
    return False
