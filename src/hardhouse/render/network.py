"""The network section's files: where the server listens, which ports are open, and TLS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardhouse.clickhouse.ports import PORTS
from hardhouse.clickhouse.tls import STRONG_CIPHERS, disabled_protocols

if TYPE_CHECKING:
    from hardhouse.render.inputs import RenderInput

# How many stock listen_host entries a render can remove (the official image adds two).
LISTEN_REMOVE_SLOTS = 8


def listen(given: RenderInput) -> dict[str, Any]:
    return {"listen_hosts": given.spec.listen_hosts, "remove_slots": LISTEN_REMOVE_SLOTS}


def ports(given: RenderInput) -> dict[str, Any]:
    return {
        "ports": [
            {"element": port.element, "why": port.what, "number": getattr(given.spec.ports, port.name)}
            for port in PORTS
        ]
    }


def tls(given: RenderInput) -> dict[str, Any] | None:
    spec = given.spec
    if spec.tls is None or not spec.tls_ports_open():
        return None
    return {
        "tls": spec.tls,
        "disabled_protocols": disabled_protocols(spec.tls.min_protocol),
        "cipher_list": STRONG_CIPHERS,
    }
