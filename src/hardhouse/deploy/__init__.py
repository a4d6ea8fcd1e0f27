"""The pyinfra deploy: settings from host data, payloads, plans, facts, operations, the
host-side script, and the @deploy that ties them together (hardhouse.deploy.harden)."""

from hardhouse.deploy.harden import harden_clickhouse
from hardhouse.deploy.settings import DATA_DEFAULTS, HardhouseDeployError

__all__ = ["DATA_DEFAULTS", "HardhouseDeployError", "harden_clickhouse"]
