"""Production: ClickHouse from ClickHouse's own apt repository (signing key fingerprint
checked, version pinned), certificates from the organisation's CA, secrets from the
environment of the deploy job.

    # From the CI secret store; nothing here is a secret.
    export CH_INGEST_PASSWORD=... CH_ANALYST_PASSWORD=... CH_ADMIN_PASSWORD_FILE=/run/secrets/ch-admin
    # ClickHouse's repository, its key and that key's fingerprint, as ClickHouse's install
    # documentation gives them (kept out of the repository on purpose: check them there).
    export CLICKHOUSE_APT_URL=... CLICKHOUSE_APT_KEY_URL=... CLICKHOUSE_APT_KEY_FINGERPRINT=...
    export HARDHOUSE_PKI_DIR=/run/secrets/pki                 # HOST.crt, HOST.key, ca.crt
    pyinfra inventories/production.py deploy/harden.py        # review the plan, then confirm
    pyinfra inventories/production.py deploy/harden.py --limit ch-prod-1   # one host first

Not exercised on this project's machines: ClickHouse's repository is not reachable there.
`pyinfra ... --dry` against a host shows the operations it would run (the integration tests
do this with the sandbox).
"""

import os

PKI = os.environ.get("HARDHOUSE_PKI_DIR", "/run/secrets/pki")
VERSION = "24.8.14.39"  # an LTS; upgrades are a reviewed change to this line


def spec(address: str) -> dict:
    return {
        "clickhouse_version": "24.8",
        "listen_hosts": [address],
        "ports": {"http": None, "native": None, "https": 8443, "native_tls": 9440},
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
            "ca_certificate": "/etc/clickhouse-server/tls/ca.crt",
            "min_protocol": "tlsv1_3",
        },
        "default_user": "remove",
        "users": [
            {"name": "ingest", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.10.1.0/24"], "profile": "writer", "databases": ["logs"]},
            {"name": "analyst", "password_env": "CH_ANALYST_PASSWORD", "networks": ["10.99.0.0/16"], "profile": "readonly"},
            # The deploy job's own login for the post-deploy check, from the deploy runners only.
            {"name": "deploy_check", "password_file": os.environ.get("CH_ADMIN_PASSWORD_FILE", "/run/secrets/ch-admin"), "networks": ["10.0.5.0/28"], "profile": "readonly"},
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
            "ca_certificate": f"{PKI}/ca.crt",  # shipped as tls.ca_certificate
            "verify_ca": f"{PKI}/ca.crt",
        },
    })


clickhouse_production = (
    [host("ch-prod-1", "10.10.0.11"), host("ch-prod-2", "10.10.0.12"), host("ch-prod-3", "10.10.0.13")],
    {
        "ssh_user": "deploy",
        "_sudo": True,
        "ssh_strict_host_key_checking": "yes",  # host keys come from the fleet's known_hosts
        "hardhouse_install_source": "clickhouse-repo",
        "hardhouse_clickhouse_repo": {
            "url": os.environ.get("CLICKHOUSE_APT_URL", ""),
            "key_url": os.environ.get("CLICKHOUSE_APT_KEY_URL", ""),
            "key_fingerprint": os.environ.get("CLICKHOUSE_APT_KEY_FINGERPRINT", ""),
            "version": VERSION,
        },
        "hardhouse_tls_source": "files",
        # Production restarts get longer to come back (large tables load their parts).
        "hardhouse_health_timeout": 180,
    },
)
