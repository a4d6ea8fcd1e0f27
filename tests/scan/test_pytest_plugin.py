"""The pytest plugin's scan helper on a hardened container (the plugin's own fixture): a team's
test that calls server.assert_no_secrets_at_rest(reader) fails on a log table holding fake
secrets, with counts and never a value, and passes on a clean one."""

from __future__ import annotations

import secrets

import pytest

from hardhouse.testing.clients import native_query
from hardhouse.testing.containers import DockerNetwork
from hardhouse.testing.plugin import HardenedServer
from tests.scan.fixtures import random_parts, secret_lines

pytestmark = [pytest.mark.integration, pytest.mark.docker]

PASSWORDS = {"HH_ADMIN": secrets.token_urlsafe(24), "HH_ANALYST": secrets.token_urlsafe(24)}


def spec(network: DockerNetwork) -> dict[str, object]:
    return {
        "clickhouse_version": "18.16",
        "listen_hosts": ["127.0.0.1"],  # replaced by the container's address
        "tls": {"certificate": "/x/server.crt", "private_key": "/x/server.key"},  # replaced by test material
        "users": [
            {"name": "admin", "password_env": "HH_ADMIN", "networks": [network.gateway]},
            {"name": "analyst", "password_env": "HH_ANALYST", "networks": [network.gateway], "profile": "readonly"},
        ],
        "profiles": {"readonly": {"readonly": 1}},
    }


def admin(server: HardenedServer, query: str) -> None:
    native_query(
        server.address,
        9440,
        query,
        user="admin",
        password=PASSWORDS["HH_ADMIN"],
        tls=True,
        ca=server.tls.ca_certificate,
    )


def test_the_helper_finds_the_secrets_a_log_table_holds(hardened_clickhouse, clickhouse_network: DockerNetwork) -> None:  # type: ignore[no-untyped-def]
    server = hardened_clickhouse(spec(clickhouse_network), PASSWORDS)
    lines = secret_lines()
    admin(server, "CREATE DATABASE logs")
    for table in ("log_stream", "quiet"):
        admin(server, f"CREATE TABLE logs.{table} (ts DateTime, message String) ENGINE = MergeTree ORDER BY ts")
    admin(server, "INSERT INTO logs.quiet SELECT now(), 'user bob logged in'")
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("'", "\\'")
        admin(server, f"INSERT INTO logs.log_stream SELECT now(), '{escaped}'")
    server.assert_no_secrets_at_rest("analyst", ("logs",), tables=("quiet",))
    with pytest.raises(AssertionError) as failed:
        server.assert_no_secrets_at_rest("analyst", ("logs",))
    message = str(failed.value)
    assert "logs.log_stream.message:" in message and f"of {len(lines)} rows examined match api_key" in message
    assert "logs.quiet" not in message
    assert not [part for part in random_parts(lines) if part in message]
