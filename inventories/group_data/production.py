"""What production does differently (applies to the hosts of inventories/production.py):
ClickHouse's own apt repository (signing key fingerprint checked, version pinned), TLS 1.3
only with client certificates verifiable against the organisation's CA, the production
subnets, and a login for the deploy job's own post-deploy check. Secrets come from the
deploy job's environment (see the inventory's docstring)."""

import os

_PKI = os.environ.get("HARDHOUSE_PKI_DIR", "/run/secrets/pki")

hardhouse_install_source = "clickhouse-repo"
hardhouse_clickhouse_repo = {
    # ClickHouse's repository, its key and that key's fingerprint, as ClickHouse's install
    # documentation gives them (kept out of the repository on purpose: check them there).
    "url": os.environ.get("CLICKHOUSE_APT_URL", ""),
    "key_url": os.environ.get("CLICKHOUSE_APT_KEY_URL", ""),
    "key_fingerprint": os.environ.get("CLICKHOUSE_APT_KEY_FINGERPRINT", ""),
    "version": "24.8.14.39",  # an LTS; upgrades are a reviewed change to this line
}
hardhouse_spec_overrides = {
    "tls": {
        "certificate": "/etc/clickhouse-server/tls/server.crt",
        "private_key": "/etc/clickhouse-server/tls/server.key",
        "ca_certificate": "/etc/clickhouse-server/tls/ca.crt",
        "min_protocol": "tlsv1_3",
    },
    "users": [
        {
            "name": "ingest",
            "password_env": "CH_INGEST_PASSWORD",
            "networks": ["10.10.1.0/24"],
            "profile": "writer",
            "databases": ["logs"],
        },
        {"name": "analyst", "password_env": "CH_ANALYST_PASSWORD", "networks": ["10.99.0.0/16"], "profile": "readonly"},
        # The deploy job's own login for the post-deploy check, from the deploy runners only.
        {
            "name": "deploy_check",
            "password_file": os.environ.get("CH_ADMIN_PASSWORD_FILE", "/run/secrets/ch-admin"),
            "networks": ["10.0.5.0/28"],
            "profile": "readonly",
        },
    ],
}
hardhouse_tls_source = "files"
hardhouse_tls_files = {
    "certificate": f"{_PKI}/{{host}}.crt",
    "private_key": f"{_PKI}/{{host}}.key",
    "ca_certificate": f"{_PKI}/ca.crt",  # shipped as tls.ca_certificate
    "verify_ca": f"{_PKI}/ca.crt",
}
# Production restarts take longer to come back (large tables load their parts).
hardhouse_health_timeout = 180
ssh_user = "deploy"
_sudo = True
ssh_strict_host_key_checking = "yes"  # host keys come from the fleet's known_hosts
