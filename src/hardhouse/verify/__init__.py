"""Verification from outside: what a client on the network sees of a server hardened with a
spec (checks), and the deploy's view of one deployed host, logins included (deployment).

The public names load on first use: the deploy's own process reads who it can act as
(hardhouse.verify.reach) without loading the probe's network clients."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "Check": "hardhouse.verify.checks",
    "report_text": "hardhouse.verify.checks",
    "verify_server": "hardhouse.verify.checks",
}

__all__ = ["Check", "report_text", "verify_server"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'hardhouse.verify' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
