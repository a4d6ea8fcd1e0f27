"""Data every inventory in this directory shares (pyinfra loads group_data/all.py for all
hosts; an inventory's own group data and host data override it, key by key).

The hardening policy lives here once: which ports are open, where the TLS files go, the fate
of the stock default user, the users and their profiles. Each environment states only what
differs (group_data/staging.py, group_data/production.py: hardhouse_spec_overrides), and each
host only its address (hardhouse_listen_hosts). `pyinfra inventories/staging.py
debug-inventory` shows the merged data of every host. Every key is documented with its
default in hardhouse.deploy.settings.DATA_DEFAULTS.
"""

hardhouse_spec = {
    "clickhouse_version": "24.8",
    "listen_hosts": ["127.0.0.1"],  # each host states its own (hardhouse_listen_hosts)
    "ports": {"http": None, "native": None, "https": 8443, "native_tls": 9440},
    "tls": {
        "certificate": "/etc/clickhouse-server/tls/server.crt",
        "private_key": "/etc/clickhouse-server/tls/server.key",
        "min_protocol": "tlsv1_2",
    },
    "default_user": "remove",
    # Passwords are named, never written: read from the deploy machine's environment and hashed there.
    "users": [
        {
            "name": "ingest",
            "password_env": "CH_INGEST_PASSWORD",
            "networks": ["10.0.1.0/24"],
            "profile": "writer",
            "databases": ["logs"],
        },
        {"name": "analyst", "password_env": "CH_ANALYST_PASSWORD", "networks": ["10.99.0.0/16"], "profile": "readonly"},
    ],
    "profiles": {"writer": {"max_execution_time": 300}, "readonly": {"readonly": 1}},
}
# Restarts wait this long for the server to come back before rolling back.
hardhouse_health_timeout = 60
