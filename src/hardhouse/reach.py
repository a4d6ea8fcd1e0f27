"""Who the deploy machine can act as: its own source address towards a server, the passwords
it can read, which users list that address in their networks, and which owner of each log
database it can log in as.

Shared by the deploy's verification (hardhouse.verify) and by the log database provisioning
(hardhouse.provision), which all log in from the deploy machine; neither imports the other.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping

from hardhouse.render.credentials import read_secret
from hardhouse.spec import HardeningSpec, User


def source_address(address: str) -> str | None:
    """The local address this machine uses to reach `address` (no packet is sent)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((address, 9))
        except OSError:
            return None
        return str(sock.getsockname()[0])


def readable_passwords(spec: HardeningSpec, environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(user -> password, user -> why it cannot be read here) for users with a password source;
    users given by hash alone are in neither (nobody here knows their password)."""
    passwords, unreadable = {}, {}
    for index, user in enumerate(spec.users):
        if user.password_env is None and user.password_file is None:
            continue
        secret, problem = read_secret(user, f"users[{index}]", environ)
        if problem is None and secret:
            passwords[user.name] = secret
        else:
            unreadable[user.name] = str(problem) if problem else "the password is empty"
    return passwords, unreadable


def in_networks(address: str | None, user: User) -> bool:
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in user.parsed_networks())


def why_not(user: User, here: str | None, passwords: Mapping[str, str], unreadable: Mapping[str, str]) -> str | None:
    """None when the deploy machine can log in as `user`; else the reason, in words."""
    if here is None:
        return "the deploy machine has no route to the server"
    if not in_networks(here, user):
        return f"its networks do not include {here}"
    if user.name in unreadable:
        return f"its password cannot be read here ({unreadable[user.name]})"
    if user.name not in passwords:
        return "it has no password this machine can read (a hash or a certificate only)"
    return None


def first_reachable(
    spec: HardeningSpec,
    names: Iterable[str],
    here: str | None,
    passwords: Mapping[str, str],
    unreadable: Mapping[str, str],
) -> tuple[str | None, list[str]]:
    """The first of `names` the deploy machine can log in as, or None and why each cannot."""
    users = {user.name: user for user in spec.users}
    reasons = []
    for name in names:
        reason = why_not(users[name], here, passwords, unreadable)
        if reason is None:
            return name, []
        reasons.append(f"{name}: {reason}")
    return None, reasons


def owners_among(
    spec: HardeningSpec, here: str | None, passwords: Mapping[str, str], unreadable: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """(log database -> the owner the deploy machine logs in as, problems), for a caller that has
    read the passwords already (hardhouse.provision.owners_from_here reads them)."""
    chosen, problems = {}, []
    for name, db in spec.log_databases.items():
        owner, reasons = first_reachable(spec, db.owners, here, passwords, unreadable)
        if owner is not None:
            chosen[name] = owner
            continue
        why = "; ".join(reasons) if reasons else "it has no owners"
        problems.append(
            f"log database {name}: no owner can log in from the deploy machine ({here or 'no route'}) to create it "
            f"({why}). Fix: add {here or 'the deploy machine'} (the deploy machine's address) to the networks of "
            f"one of log_databases.{name}.owners (with a password_env or password_file readable here), or name such "
            "an owner"
        )
    return chosen, problems
