"""The pyinfra deploy: settings from host data, payloads, plans, facts, operations, the
host-side script, and the @deploy that ties them together (hardhouse.deploy.harden).

The public names load on first use: the deploy's helper child (hardhouse.deploy.service)
lives in this package and must not pay for importing pyinfra."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "harden_clickhouse": "hardhouse.deploy.harden",
    "harden_zookeeper": "hardhouse.deploy.zookeeper",
    "DATA_DEFAULTS": "hardhouse.deploy.settings",
    "HardhouseDeployError": "hardhouse.deploy.settings",
}

__all__ = ["DATA_DEFAULTS", "HardhouseDeployError", "harden_clickhouse", "harden_zookeeper"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'hardhouse.deploy' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
