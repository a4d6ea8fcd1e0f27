"""Verification from outside: what a client on the network sees of a server hardened with a
spec (checks), and the deploy's view of one deployed host, logins included (deployment)."""

from hardhouse.verify.checks import Check, report_text, verify_server

__all__ = ["Check", "report_text", "verify_server"]
