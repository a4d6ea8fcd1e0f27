"""Harden ClickHouse on every host of an inventory.

    pyinfra inventories/sandbox.py deploy/harden.py -y
    pyinfra inventories/production.py deploy/harden.py          # shows the plan, asks first

The steps live in hardhouse.deploy (a reusable @deploy); the host and group data of the
inventory say what to do (see DATA_DEFAULTS there). Passwords are read here, on the deploy
machine, from the variables or files the spec names, and only their SHA-256 leaves it.
"""

from hardhouse.deploy import harden_clickhouse

harden_clickhouse()
