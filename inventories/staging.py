"""Staging: two log-database hosts. The policy is shared (group_data/all.py), staging's
differences are in group_data/staging.py; each host here states only where it is.

    export CH_INGEST_PASSWORD=... CH_ANALYST_PASSWORD=...   # from your secret store, never a file in git
    export HARDHOUSE_PKI_DIR=/srv/pki/staging               # HOST.crt, HOST.key and ca.crt per host
    pyinfra inventories/staging.py deploy/harden.py          # shows the plan and asks before changing anything
    pyinfra inventories/staging.py debug-inventory           # the merged data of each host

Literal on purpose: `hardhouse probe inventories/staging.py` reads it without running it.
"""

clickhouse_staging = [
    ("ch-staging-1", {"ssh_hostname": "10.20.0.11", "hardhouse_listen_hosts": ["10.20.0.11"]}),
    ("ch-staging-2", {"ssh_hostname": "10.20.0.12", "hardhouse_listen_hosts": ["10.20.0.12"]}),
]
