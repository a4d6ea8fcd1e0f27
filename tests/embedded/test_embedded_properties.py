"""Property: any spec the renderer tests generate loads into ClickHouse 26.9's own parser
(chdb-core) with no error and no passwordless login, DDL and encrypted disks included.

The generator is the one from tests/spec/test_properties.py, with one change: its random
profile settings are replaced by real ClickHouse settings, because a server refuses a
profile naming a setting it does not have (that is validated, not generated, input).
Each example costs one engine start per user plus two (about 0.5 s), hence few examples.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardhouse.embedded import validate_embedded
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.spec.users import password_hash_for
from tests.spec.test_properties import specs

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

REAL_SETTINGS = st.sampled_from(
    [
        {"max_execution_time": 300},
        {"max_memory_usage": 10_000_000_000, "use_uncompressed_cache": False},
        {"log_comment": "hardhouse <&> property test"},
        {},
    ]
)


@st.composite
def loadable_specs(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(specs())
    for name, profile in data["profiles"].items():
        read_only = "readonly" in profile and str(profile["readonly"]) in {"1", "2"} or name == "hh_reader"
        data["profiles"][name] = {**draw(REAL_SETTINGS), **({"readonly": 1} if read_only or name == "readonly" else {})}
    return data


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(loadable_specs())
def test_any_generated_spec_loads_in_clickhouse_without_a_passwordless_login(data: dict[str, Any]) -> None:
    spec = load_spec(data)
    report = validate_embedded(render(spec, environ={}))

    assert report.errors == [], report.errors
    assert report.ok and report.passwordless == []
    assert report.users == sorted([u.name for u in spec.users] + (["default"] if spec.default_user == "lock" else []))
    kinds = {"sha256": "sha256_password", "scram_sha256": "scram_sha256_password", "certificate": "ssl_certificate"}
    for login in report.logins:
        assert not login.passwordless, login
        if login.name != "default":
            user = next(u for u in spec.users if u.name == login.name)
            assert login.auth_type == [kinds[password_hash_for(spec, user)]], login
