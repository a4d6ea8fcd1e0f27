"""What staging does differently (applies to the hosts of inventories/staging.py): Debian's own
ClickHouse, the staging subnets, certificates from the staging PKI on the deploy machine."""

import os

_PKI = os.environ.get("HARDHOUSE_PKI_DIR", "/srv/pki/staging")

hardhouse_install_source = "debian"
hardhouse_spec_overrides = {
    "clickhouse_version": "18.16",  # Debian bookworm's server
    "users": [
        # Log shippers write from the application subnet; the deploy machine sits there too,
        # so ingest logs in from it over TLS after every deploy and analyst is refused.
        {
            "name": "ingest",
            "password_env": "CH_INGEST_PASSWORD",
            "networks": ["10.20.1.0/24"],
            "profile": "writer",
            "databases": ["logs"],
        },
        {"name": "analyst", "password_env": "CH_ANALYST_PASSWORD", "networks": ["10.99.0.0/16"], "profile": "readonly"},
    ],
}
hardhouse_tls_source = "files"
# {host} is each host's inventory name. verify_ca: the deploy machine verifies every server
# against it before it sends a password.
hardhouse_tls_files = {
    "certificate": f"{_PKI}/{{host}}.crt",
    "private_key": f"{_PKI}/{{host}}.key",
    "verify_ca": f"{_PKI}/ca.crt",
}
ssh_user = "deploy"
_sudo = True
