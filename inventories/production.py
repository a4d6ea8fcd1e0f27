"""Production: three log-database hosts. The policy is shared (group_data/all.py),
production's differences are in group_data/production.py; each host here states only where
it is.

    # From the CI secret store; nothing here is a secret.
    export CH_INGEST_PASSWORD=... CH_ANALYST_PASSWORD=... CH_ADMIN_PASSWORD_FILE=/run/secrets/ch-admin
    export CLICKHOUSE_APT_URL=... CLICKHOUSE_APT_KEY_URL=... CLICKHOUSE_APT_KEY_FINGERPRINT=...
    export HARDHOUSE_PKI_DIR=/run/secrets/pki                 # HOST.crt, HOST.key, ca.crt
    pyinfra inventories/production.py deploy/harden.py        # review the plan, then confirm
    pyinfra inventories/production.py deploy/harden.py --limit ch-prod-1   # one host first

Not exercised on this project's machines: ClickHouse's repository is not reachable there.
Literal on purpose: `hardhouse probe inventories/production.py` reads it without running it.
"""

clickhouse_production = [
    ("ch-prod-1", {"ssh_hostname": "10.10.0.11", "hardhouse_listen_hosts": ["10.10.0.11"]}),
    ("ch-prod-2", {"ssh_hostname": "10.10.0.12", "hardhouse_listen_hosts": ["10.10.0.12"]}),
    ("ch-prod-3", {"ssh_hostname": "10.10.0.13", "hardhouse_listen_hosts": ["10.10.0.13"]}),
]
