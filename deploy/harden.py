"""Harden ClickHouse (and the ZooKeeper it coordinates through) on every host of an inventory.

    pyinfra inventories/sandbox.py deploy/harden.py -y
    pyinfra inventories/production.py deploy/harden.py          # shows the plan, asks first

The steps live in hardhouse.deploy (reusable @deploys); the host and group data of the
inventory say what to do (see DATA_DEFAULTS there). A host with `hardhouse_zookeeper` data
runs a hardened ZooKeeper (first: a cluster's replicas need it up); a host with
`hardhouse_spec` runs ClickHouse. Passwords are read here, on the deploy machine, from the
variables or files the spec names, and only their SHA-256 leaves it (a cluster's own secrets,
which the server must send to its peers, go only into its 0640 secrets file).
"""

from pyinfra import host

from hardhouse.deploy import harden_clickhouse, harden_zookeeper

# pyinfra runs the hosts' steps side by side (step n of each host together): the replicas may
# go live before ZooKeeper is up (18.16 starts without it); their replicated tables are created
# near the end, after ZooKeeper's fewer steps are done (a failed ZooKeeper host makes that
# creation fail, naming ZooKeeper).
harden_zookeeper()  # no-op on a host without hardhouse_zookeeper
if host.data.get("hardhouse_spec") is not None or host.data.get("hardhouse_zookeeper") is None:
    harden_clickhouse()  # without either key this fails the host, saying hardhouse_spec is missing
