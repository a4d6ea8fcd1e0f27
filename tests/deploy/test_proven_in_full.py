"""hardhouse.deploy.proven_in_full: the hint, read from the inventory before any host is
planned, that some host will be proven in full (its helper child then loads that proof at
once)."""

from __future__ import annotations

import types
from typing import Any

import pytest

from hardhouse.deploy import proven_in_full


def inventory(*datas: dict[str, Any]) -> list[Any]:
    return [types.SimpleNamespace(data=data) for data in datas]


@pytest.mark.parametrize(
    ("datas", "expected"),
    [
        (({"hardhouse_trust_verified_for": 0},), True),
        (({}, {"hardhouse_spec": {"cluster": {"name": "logs"}}}), True),
        (({"hardhouse_trust_verified_for": 86400}, {"hardhouse_spec": {"version": "18.16"}}), False),
        (({},), False),
        # Not what the settings accept: no hint (the settings refuse it as the host is planned).
        (({"hardhouse_trust_verified_for": "0"}, {"hardhouse_spec": "cluster"}), False),
        ((), False),
    ],
)
def test_the_hint(datas: tuple[dict[str, Any], ...], expected: bool) -> None:
    assert proven_in_full(inventory(*datas)) is expected
