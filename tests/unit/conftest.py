from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest

# Strong random passwords, generated per test run and passed through `environ=`; never
# written to a file or printed.
PASSWORDS = {"CH_INGEST_PASSWORD": secrets.token_urlsafe(24), "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24)}

VALID_SPEC: dict[str, Any] = {
    "clickhouse_version": "24.8",
    "listen_hosts": ["10.0.0.5"],
    "ports": {"http": None, "native": None, "https": 8443, "native_tls": 9440},
    "tls": {
        "certificate": "/etc/clickhouse-server/tls/server.crt",
        "private_key": "/etc/clickhouse-server/tls/server.key",
        "min_protocol": "tlsv1_2",
    },
    "default_user": "remove",
    "users": [
        {"name": "ingest", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.0.0.0/8"], "profile": "writer", "databases": ["logs"]},
        {"name": "analyst", "password_env": "CH_ANALYST_PASSWORD", "networks": ["10.1.2.0/24", "2001:db8::/64"], "profile": "readonly"},
    ],
    "profiles": {"writer": {"max_execution_time": 300}, "readonly": {"readonly": 1}},
}


@pytest.fixture
def spec_dict() -> dict[str, Any]:
    return copy.deepcopy(VALID_SPEC)


@pytest.fixture
def environ() -> dict[str, str]:
    return dict(PASSWORDS)
