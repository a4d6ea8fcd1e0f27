"""Verification from outside: what a client on the network sees of a server hardened with a
spec (checks), the deploy's view of one deployed host, logins included (deployment), a
reader's and a writer's rights (privileges) and a cluster's (cluster). Who the deploy machine
can log in as is hardhouse.reach, shared with the provisioning."""

from hardhouse.verify.checks import Check, report_text, verify_server

__all__ = ["Check", "report_text", "verify_server"]
