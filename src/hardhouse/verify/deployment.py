"""What the deploy checks from the machine running pyinfra once a host is live.

On top of hardhouse.verify.checks (every open port open, anonymous refused on each, old TLS
refused, the stock ports closed), this adds the per-user view from where the deploy runs:
users whose networks include the deploy machine's address must log in over TLS with their
password; users whose networks do not must be refused (a stolen password is useless from
elsewhere). At least one user must log in, or the deploy cannot claim the server is usable.
For log databases, each reader's and writer's rights are then proven as that user
(hardhouse.verify.privileges, HH-DATA-1); users this machine cannot act as are listed as
not checked from here (JSON: "not_checked"), neither passed nor failed. A cluster's
replica is then judged as one (hardhouse.verify.cluster: interserver, Distributed queries,
replication to its peers, ZooKeeper).

Secrets: a real password is sent only to a server whose certificate validated against the
CA the operator named (`ca`), and only where the login is expected to succeed. Without a CA
no password is sent and the login checks fail with the fix. A refusal is proven with a wrong,
random password: ClickHouse checks the client's address before the password (on 18.16 an
address outside the user's networks is refused with code 195 whatever the password, and a
wrong password from inside with 193), so the network restriction is proven without the
secret; modern servers answer 516 to both, which proves the refusal but not its cause.

Passwords are read here, on the deploy machine, from the variables and files the spec
names; they are never printed. The pyinfra deploy runs this module as a subprocess
(`python -m hardhouse.verify.deployment`, a JSON request on stdin, a JSON answer on stdout),
which keeps the TLS scanner and asyncio clients out of pyinfra's gevent-patched process.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hardhouse.childproc import Refused
from hardhouse.clickhouse import codes
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, register
from hardhouse.helper_requests import VerifyRequest
from hardhouse.reach import in_networks, readable_passwords, source_address
from hardhouse.spec import HardeningSpec, SpecError, User, load_spec
from hardhouse.verify.checks import Check, login_as, report_text, verify_server
from hardhouse.verify.cluster import cluster_checks, replicas_of
from hardhouse.verify.privileges import LOG_RIGHTS, log_rights_checks
from hardhouse.verify.replicas import Replicas

TLS_KINDS = ("native_tls", "https")
LOGINS_AT_ONCE = 8  # users whose logins are checked at the same time
# A user outside its networks is refused (the lines name the user and this machine's address).
REFUSED_OUTSIDE_NETWORKS = register(Tool.VERIFY, "user refused from outside its networks", ControlId.NET_1)


def _tls_port(spec: HardeningSpec) -> tuple[str, int] | None:
    open_ports = spec.ports.open()
    for kind in TLS_KINDS:
        if kind in open_ports:
            return kind, open_ports[kind]
    return None


def verify_deployment(
    address: str,
    spec: HardeningSpec,
    *,
    ca: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Check]:
    """Every check for one deployed server, seen from this machine at `address`."""
    environ = os.environ if environ is None else environ
    # The checks that need no secret (the TLS scan is most of their time) run beside the logins.
    with ThreadPoolExecutor(max_workers=1) as pool:
        server = pool.submit(verify_server, address, spec, ca=ca)
        users = _user_checks(address, spec, ca, environ)
        return server.result() + users


def _user_checks(address: str, spec: HardeningSpec, ca: Path | None, environ: Mapping[str, str]) -> list[Check]:
    """Logins as the spec's users from here (inside and outside their networks) and the log users' rights."""
    checks: list[Check] = []
    tls = _tls_port(spec)
    if tls is None:
        return checks + [Check(address, "an authorized user logs in over TLS", False, "the spec opens no TLS port")]
    kind, port = tls
    endpoint = f"{address}:{port} ({kind})"
    if ca is None:
        return checks + [
            Check(
                endpoint,
                "users log in only from their networks",
                False,
                "not checked: without a CA to verify the server's certificate, a password could go to an impostor. "
                "Fix: name the CA that signed the server certificate (hardhouse_tls_files.verify_ca)",
                REFUSED_OUTSIDE_NETWORKS,
            )
        ]
    passwords, unreadable = readable_passwords(spec, environ)
    here = source_address(address)

    def login_check(user: User) -> tuple[Check | None, bool]:
        """The user's login from here (its password known), or its refusal from outside its
        networks; and whether it logged in."""
        if not in_networks(here, user):
            return _refusal_check(address, port, kind, user, here, ca, endpoint), False
        name = f"user {user.name} logs in from {here}"
        if user.name in unreadable:
            return Check(endpoint, name, False, f"not checked: {unreadable[user.name]}"), False
        if user.name not in passwords:
            return None, False  # a hash only, or a certificate user: nobody here knows the secret
        result = login_as(address, port, kind, user.name, passwords[user.name], ca)
        detail = "logged in over TLS" if result.accepted else f"refused: {result.detail}"
        return Check(endpoint, name, result.accepted, detail), result.accepted

    # Each user's login at the same time as the others' (each user once: a per-user limit on
    # concurrent queries is never met by the checks themselves), reported in the spec's order.
    with ThreadPoolExecutor(max_workers=max(1, min(LOGINS_AT_ONCE, len(spec.users)))) as pool:
        found = list(pool.map(login_check, spec.users))
    checks += [check for check, _ in found if check is not None]
    logged_in = sum(accepted for _, accepted in found)
    if logged_in == 0:
        names = ", ".join(u.name for u in spec.users if in_networks(here, u) and u.name in passwords)
        why = (
            f"no user whose password this machine can read lists {here} in its networks"
            if not names
            else f"{names} could not log in"
        )
        checks.append(Check(endpoint, "an authorized user logs in over TLS", False, why))
    # On a cluster the first row the log rights checks write is followed to the other replicas,
    # and judged again by the cluster's replication lines (hardhouse.verify.replicas).
    replicas = replicas_of(address, spec, ca, passwords)
    checks += _log_rights(address, spec, ca, passwords, unreadable, here, replicas)
    if spec.cluster is not None:
        # The replicas were all live before this step: replication and the peers can be proven.
        checks += cluster_checks(address, spec, ca, environ, passwords, unreadable, here, replicas)
    return checks


def _log_rights(
    address: str,
    spec: HardeningSpec,
    ca: Path,
    passwords: Mapping[str, str],
    unreadable: Mapping[str, str],
    here: str | None,
    replicas: Replicas | None,
) -> list[Check]:
    """Each log user's rights (hardhouse.verify.privileges), over native TLS."""
    if not spec.log_databases:
        return []
    if spec.ports.native_tls is None:
        return [
            Check(
                address,
                "log readers and writers hold only their rights",
                True,
                "not checked from here: the checks log in over native TLS and ports.native_tls is closed",
                LOG_RIGHTS,
                checked=False,
            )
        ]
    return log_rights_checks(address, spec.ports.native_tls, spec, ca, passwords, unreadable, here, replicas)


def _refusal_check(address: str, port: int, kind: str, user: User, here: str | None, ca: Path, endpoint: str) -> Check:
    """A user outside its networks is refused: proven with a wrong password, never the real one."""
    result = login_as(address, port, kind, user.name, "hardhouse-wrong-" + secrets.token_urlsafe(18), ca)
    name = f"user {user.name} refused from {here}"
    if result.accepted:
        return Check(endpoint, name, False, "a wrong password logged in", REFUSED_OUTSIDE_NETWORKS)
    if result.code == codes.IP_ADDRESS_NOT_ALLOWED:
        return Check(
            endpoint,
            name,
            True,
            f"refused before any password check (code 195): {here} is outside its networks",
            REFUSED_OUTSIDE_NETWORKS,
        )
    if result.code in (codes.WRONG_PASSWORD, codes.REQUIRED_PASSWORD):
        return Check(
            endpoint,
            name,
            False,
            f"the server checked the password (code {result.code}), so {here} is inside its networks",
            REFUSED_OUTSIDE_NETWORKS,
        )
    if result.code == codes.AUTHENTICATION_FAILED:
        return Check(
            endpoint,
            name,
            True,
            "refused (code 516; this server does not say whether the address or the password failed)",
            REFUSED_OUTSIDE_NETWORKS,
        )
    return Check(endpoint, name, False, f"no ClickHouse refusal: {result.detail}", REFUSED_OUTSIDE_NETWORKS)


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """Kind "verify" (hardhouse.helper_requests.VerifyRequest) -> {"ok", "checks", "not_checked"}."""
    request = VerifyRequest.from_body(body)
    checks = verify_deployment(request.address, load_spec(request.spec), ca=request.ca_path)
    # Lines not checked from here go apart: they are neither passed nor failed.
    return {
        "ok": all(c.ok for c in checks),
        "checks": [c.as_dict() for c in checks if c.checked],
        "not_checked": [c.as_dict() for c in checks if not c.checked],
    }


def main() -> int:
    """stdin: the body of a VerifyRequest; stdout: its answer as JSON (or the report with --text)."""
    try:
        request = VerifyRequest.from_json(sys.stdin)
        spec = load_spec(request.spec)
    except (Refused, SpecError) as error:
        print(f"hardhouse.verify.deployment: {error}", file=sys.stderr)
        return 2
    if "--text" in sys.argv:
        checks = verify_deployment(request.address, spec, ca=request.ca_path)
        print(report_text(checks))
        return 0 if all(c.ok for c in checks) else 1
    result = answer(request.body())
    json.dump(result, sys.stdout)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
