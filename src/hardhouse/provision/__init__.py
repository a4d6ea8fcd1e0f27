"""Log databases provisioned on a live server: the rendered DDL applied idempotently, as an owner.

    desired.py  the spec's databases and tables, read from the rendered sql/ statements
    state.py    what the server has (system.databases, system.tables, system.columns)
    plan.py     desired vs existing: steps (create, add column, change retention) and refusals
    apply.py    the executor: `python -m hardhouse.provision`, JSON in and out

Where the DDL runs: from the deploy machine, not on the host. The deploy machine logs in as
an owner over the server's native TLS port, with the same verified path the deploy's
verification uses (the certificate checked against the operator's CA and the address before
any password is sent; no CA, no login). Run on the host instead, the owner's password would
have to travel to the host and sit in a file, a process's environment or a command line
there (clickhouse-client reads it from one of those), next to the server it protects, and
pyinfra would carry it in a command it may print at -vvv. From the deploy machine the
password is read where the spec names it (password_env or password_file), goes into the TLS
session and nowhere else: not onto a command line, not into a file on the host, not into
any output. The price is reach: an owner's networks must include the deploy machine's
address, and the deploy says so before it touches anything when none does.

The step runs in a subprocess of the deploy (like hardhouse.verify.deployment), outside
pyinfra's gevent-patched process, and lives outside hardhouse.deploy so that the child does
not import pyinfra.
"""

from hardhouse.provision.apply import Outcome, Report, owners_from_here, provision, provision_problems
from hardhouse.provision.desired import DesiredDatabase, DesiredTable, desired_state
from hardhouse.provision.plan import Plan, Refusal, Step, plan
from hardhouse.provision.state import ExistingState, ExistingTable, existing_state, state_queries

__all__ = [
    "DesiredDatabase",
    "DesiredTable",
    "ExistingState",
    "ExistingTable",
    "Outcome",
    "Plan",
    "Refusal",
    "Report",
    "Step",
    "desired_state",
    "existing_state",
    "owners_from_here",
    "plan",
    "provision",
    "provision_problems",
    "state_queries",
]
