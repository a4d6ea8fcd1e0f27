"""Harden the ZooKeeper that ClickHouse coordinates through, on every host of an inventory
whose data has `hardhouse_zookeeper` (other hosts are left alone).

    pyinfra inventories/production.py deploy/zookeeper.py          # shows the plan, asks first

The steps live in hardhouse.deploy.zookeeper (a reusable @deploy); the host data key
`hardhouse_zookeeper` says what to do (ZOOKEEPER_DEFAULTS in hardhouse.deploy.zookeeper_settings
lists every key with its reason). ClickHouse's identity password is read here, on the deploy
machine, from the variable or file named, and only its ZooKeeper digest leaves it.
"""

from hardhouse.deploy import harden_zookeeper

harden_zookeeper()
