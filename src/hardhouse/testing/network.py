"""Picking an address range for a test's own Docker network: one no existing network overlaps.
Shared by the container fixtures and the development sandbox."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable


def free_subnet(
    taken: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network], prefix: str, first: int = 0, last: int = 255
) -> ipaddress.IPv4Network:
    """A random /24 `prefix.N.0/24` (first <= N <= last) that overlaps none of `taken`."""
    taken = list(taken)
    candidates = [ipaddress.IPv4Network(f"{prefix}.{n}.0/24") for n in range(first, last + 1)]
    free = [c for c in candidates if not any(c.overlaps(t) for t in taken)]
    if not free:
        raise RuntimeError(f"no free /24 left in {prefix}.{first}-{last}.0; remove unused Docker networks")
    return secrets.choice(free)
