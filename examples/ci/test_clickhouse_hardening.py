"""Copy into your repository: proves, against a real ClickHouse in a container, that the
server your spec produces refuses anonymous access on every open port and speaks only TLS.

    HARDHOUSE_SPEC=clickhouse/spec.yaml pytest test_clickhouse_hardening.py

Needs `pip install "hardhouse[pytest]"` (the `hardened_clickhouse` fixture comes with it) and a
Docker engine. The passwords your spec names are read from the environment; for this check
any strong random value will do. HARDHOUSE_CLICKHOUSE_IMAGE picks the server image
(e.g. clickhouse/clickhouse-server:24.8); without it the fixture skips and says so.
"""

import os

from hardhouse.testing.assertions import assert_anonymous_refused, assert_tls_only

SPEC = os.environ.get("HARDHOUSE_SPEC", "clickhouse/spec.yaml")


def test_no_anonymous_access_on_any_port(hardened_clickhouse):
    server = hardened_clickhouse(SPEC)
    assert_anonymous_refused(server.target())


def test_every_port_is_tls_only(hardened_clickhouse):
    server = hardened_clickhouse(SPEC)
    assert_tls_only(server.target())
