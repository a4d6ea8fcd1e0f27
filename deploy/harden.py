"""Harden ClickHouse (and the ZooKeeper it coordinates through) on every host of an inventory.

    pyinfra inventories/sandbox.py deploy/harden.py -y
    pyinfra inventories/production.py deploy/harden.py          # shows the plan, asks first

The steps live in hardhouse.deploy (reusable @deploys: harden_clickhouse(), harden_zookeeper();
harden() runs both, installing every host's packages in one step); the host and group data of the
inventory say what to do (see DATA_DEFAULTS there). A host with `hardhouse_zookeeper` data
runs a hardened ZooKeeper (first: a cluster's replicas need it up); a host with
`hardhouse_spec` runs ClickHouse. Passwords are read here, on the deploy machine, from the
variables or files the spec names, and only their SHA-256 leaves it (a cluster's own secrets,
which the server must send to its peers, go only into its 0640 secrets file).
"""

from hardhouse.deploy import harden

# One install step for every host (ZooKeeper's and the replicas' packages side by side); the
# rest are harden_zookeeper()'s and harden_clickhouse()'s steps (hardhouse.deploy.fleet).
harden()
