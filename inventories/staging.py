"""Staging: two log-database hosts, hardened like production but with certificates from an
internal CA on the deploy machine and Debian's own ClickHouse packages.

    export CH_INGEST_PASSWORD=... CH_ANALYST_PASSWORD=...   # from your secret store, never a file in git
    export HARDHOUSE_PKI_DIR=/srv/pki/staging               # HOST.crt, HOST.key and ca.crt per host
    pyinfra inventories/staging.py deploy/harden.py          # shows the plan and asks before changing anything
    pyinfra inventories/staging.py debug-inventory           # the merged data of each host

Group data (the tuple's second item) applies to every host; host data (each host's
mapping) adds what differs per host. The keys are documented with their defaults in
hardhouse.deploy.DATA_DEFAULTS. Passwords are named, never written: the spec points at
environment variables, read and hashed on the deploy machine at deploy time.
"""

import os

PKI = os.environ.get("HARDHOUSE_PKI_DIR", "/srv/pki/staging")


def spec(address: str) -> dict:
    """The v1 spec for one host: it listens on its own address only."""
    return {
        "clickhouse_version": "18.16",  # Debian bookworm's server; say "24.8" etc. for ClickHouse's packages
        "listen_hosts": [address],
        "ports": {"http": None, "native": None, "https": 8443, "native_tls": 9440},
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
            "min_protocol": "tlsv1_2",
        },
        "default_user": "remove",
        "users": [
            # Log shippers write from the application subnet.
            {"name": "ingest", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.20.1.0/24"], "profile": "writer", "databases": ["logs"]},
            # Analysts read from the office VPN.
            {"name": "analyst", "password_env": "CH_ANALYST_PASSWORD", "networks": ["10.99.0.0/16"], "profile": "readonly"},
        ],
        "profiles": {"writer": {"max_execution_time": 300}, "readonly": {"readonly": 1}},
    }


def host(name: str, address: str) -> tuple:
    return (name, {
        "ssh_hostname": address,
        "hardhouse_spec": spec(address),
        "hardhouse_tls_files": {
            "certificate": f"{PKI}/{name}.crt",
            "private_key": f"{PKI}/{name}.key",
            "verify_ca": f"{PKI}/ca.crt",  # this machine verifies the servers against it
        },
    })


clickhouse_staging = (
    [host("ch-staging-1", "10.20.0.11"), host("ch-staging-2", "10.20.0.12")],
    {
        # SSH as an unprivileged deploy user with sudo (uploads wait in its private ~/.hardhouse-upload).
        "ssh_user": "deploy",
        "_sudo": True,
        "hardhouse_install_source": "debian",
        "hardhouse_tls_source": "files",
        # The deploy machine sits in the application subnet: ingest logs in from it over TLS,
        # analyst is refused from it (both are checked after every deploy).
        "hardhouse_verify": True,
        "hardhouse_health_timeout": 60,
    },
)
