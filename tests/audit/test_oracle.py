"""ClickHouse is the oracle, permanently: a few hundred adversarial trees (tests/audit/adversarial.py)
are each judged by the audit and started by Debian's 18.16 in a network namespace of its own
(tests/audit/oracle.py), where what it binds and whom it lets in are observed from real HTTP
clients at chosen source addresses. Any disagreement that could turn a FAIL into a PASS fails:

* the server binds an address the audit's reading of listen_host does not give (a wildcard
  above all), or the audit gives one the server does not bind;
* the server listens on a port the audit does not report open;
* the server lets in a user the audit does not know, without a password where the audit says
  it has one, or from a source address the audit says its networks refuse;
* and, as the verdict a user sees: a tree the server runs open (a wildcard bind, a passwordless
  login) passes the control that should have caught it.

Where the audit says it cannot decide (UNDECIDED), the comparison of that part is skipped: an
undecided control already fails closed. The run prints how many trees were compared, how many
the server refused to start, how many it ran open, and the disagreements found on the way
(stricter-than-modelled ones are counted, not failed). More trees:
HARDHOUSE_ORACLE_TREES=2000 scripts/test tests/audit/test_oracle.py -s
"""

from __future__ import annotations

import ipaddress
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hardhouse.audit.merge import ConfigTreeError, Dialect, ServerTree, read_server_tree
from hardhouse.audit.model import AuditReport, Status
from hardhouse.audit.run import audit_tree
from hardhouse.audit.users import User, users
from hardhouse.audit.values import Unknown
from hardhouse.clickhouse import addresses
from hardhouse.testing.local_server import server_binary
from tests.audit.adversarial import ENVIRONMENT, PASSWORD, GeneratedTree, generate
from tests.audit.oracle import HTTP_PORT, Observation, observe
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.live]

TREES = int(os.environ.get("HARDHOUSE_ORACLE_TREES", "240"))
SEED = 20261206
WORKERS = 6
SOURCES = ("127.0.0.1", "127.0.0.77", "::1")
ALWAYS_TRIED = ("default", "alice", "bob", "carol", "alice[1]", "bob[1]", "carol[1]")
WILDCARDS = {ipaddress.ip_address(a) for a in ("0.0.0.0", "::", "::ffff:0.0.0.0")}


@dataclass
class Compared:
    tree: GeneratedTree
    dangerous: list[str] = field(default_factory=list)  # could turn a FAIL into a PASS
    stricter: list[str] = field(default_factory=list)  # the server refuses what the audit admits
    started: bool = False
    open: bool = False


def _model(tree: GeneratedTree) -> tuple[ServerTree | None, AuditReport | None, str]:
    try:
        read = read_server_tree(tree.etc, Dialect.V18, assume_no_default_include=True)
        report = audit_tree(tree.etc, dialect=Dialect.V18, assume_no_default_include=True)
    except ConfigTreeError as error:
        return None, None, str(error)
    return read, report, ""


def _status(report: AuditReport, control: str) -> Status:
    return next(result.status for result in report.controls if result.id == control)


def _model_listen(read: ServerTree) -> set[object] | Unknown:
    values = read.config_values
    hosts = values.all_named("listen_host")
    if isinstance(hosts, Unknown):
        return hosts
    if not hosts:
        return {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    found: set[object] = set()
    for element in hosts:
        text = values.get(element)
        if isinstance(text, Unknown):
            return text
        address = addresses.listen_address(text)
        if address is None:
            if not addresses.is_loopback_name(text):
                return Unknown(f"a name {text!r}", "")
            found.add("localhost")
        else:
            found.add(address)
    return found


def compare(tree: GeneratedTree, seen: Observation) -> Compared:
    out = Compared(tree, started=seen.started)
    read, report, error = _model(tree)
    if not seen.started:
        return out  # the server refused the tree: it serves nothing, whatever the audit said
    if read is None or report is None:
        out.dangerous.append(f"the server started but the audit refused the tree: {error}")
        return out
    bound = {ipaddress.ip_address(a) for a, p in seen.listening if p == HTTP_PORT}
    wildcard = bool(bound & WILDCARDS)
    passwordless_in = [k for k, status in seen.logins.items() if status == 200 and k[2] == ""]
    out.open = wildcard or bool(passwordless_in)
    # The verdicts a user sees.
    if wildcard and _status(report, "HH-LISTEN-1") == Status.PASS:
        out.dangerous.append(f"the server binds {sorted(map(str, bound))} and HH-LISTEN-1 passed")
    if passwordless_in and _status(report, "HH-AUTH-1") == Status.PASS:
        out.dangerous.append(f"the server lets in {passwordless_in} without a password and HH-AUTH-1 passed")
    # listen_host, read as the server reads it.
    modelled = _model_listen(read)
    if not isinstance(modelled, Unknown):
        for address in bound:
            if address not in modelled and not ("localhost" in modelled and address.is_loopback):
                out.dangerous.append(f"the server binds {address}; the audit reads listen_host as {modelled}")
        for address in (m for m in modelled if m != "localhost"):
            if address not in bound:
                out.stricter.append(f"the audit reads listen_host {address}, the server does not bind it")
    # Ports: every one the server listens on is reported open (or undecided).
    reported = {
        finding.value.strip() if finding.value else ""
        for result in report.controls
        if result.id == "HH-PORT-1"
        for finding in result.findings
    }
    for port in {p for _, p in seen.listening}:
        if str(port) not in reported and "0" not in reported and _status(report, "HH-PORT-1") != Status.UNDECIDED:
            out.dangerous.append(f"the server listens on port {port}; the audit reports {sorted(reported)}")
    _compare_users(read, seen, out)
    return out


def _compare_users(read: ServerTree, seen: Observation, out: Compared) -> None:
    modelled = users(read.users_values, Dialect.V18)
    if isinstance(modelled, Unknown):
        return
    by_name: dict[str, User] = {user.name: user for user in modelled}
    for (name, source, password), status in seen.logins.items():
        user = by_name.get(name)
        admits = None
        if user is not None and not isinstance(user.networks, Unknown):
            admits = user.networks.admits(ipaddress.ip_address(source))
        if status != 200:
            if user is not None and admits is True and password == PASSWORD and _known_password(user):
                out.stricter.append(f"{name} from {source}: refused, the audit's networks admit it")
            continue
        if user is None:
            out.dangerous.append(f"the server lets in {name!r} from {source}; the audit knows no such user")
            continue
        if admits is False:
            out.dangerous.append(f"the server lets in {name} from {source}; the audit's networks refuse it")
        if password == "" and not isinstance(user.methods, Unknown):
            empties = [m.empty for m in user.methods]
            if not any(e is True or isinstance(e, Unknown) for e in empties):
                out.dangerous.append(f"the server lets in {name} without a password; the audit says it has one")


def _known_password(user: User) -> bool:
    return not isinstance(user.methods, Unknown) and any(
        m.tag == "password" and m.value == PASSWORD for m in user.methods
    )


def _tries(tree: GeneratedTree) -> list[tuple[str, str, str]]:
    names = set(ALWAYS_TRIED)
    read, _, _ = _model(tree)
    if read is not None:
        modelled = users(read.users_values, Dialect.V18)
        if not isinstance(modelled, Unknown):
            names |= {user.name for user in modelled}
    return [(name, source, password) for name in sorted(names) for source in SOURCES for password in ("", PASSWORD)]


def run_oracle(base: Path, count: int, seed: int = SEED) -> list[Compared]:
    trees = [generate(seed + n, base / f"t{n}") for n in range(count)]

    def one(tree: GeneratedTree) -> Compared:
        return compare(tree, observe(tree.etc, _tries(tree), environment=ENVIRONMENT))

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, trees))


def summary(results: list[Compared], elapsed: float) -> str:
    started = [r for r in results if r.started]
    return (
        f"{len(results)} trees compared with clickhouse-server 18.16 in {elapsed:.0f}s: {len(started)} started, "
        f"{sum(r.open for r in results)} served open, {sum(len(r.dangerous) for r in results)} disagreements that "
        f"could turn a FAIL into a PASS, {sum(len(r.stricter) for r in results)} where the server is stricter"
    )


def test_the_audit_never_passes_what_clickhouse_18_16_runs_open(tmp_path: Path) -> None:
    require(server_binary() is not None, "clickhouse-server (Debian's 18.16) is not installed")
    require(not Path("/etc/metrika.xml").exists(), "/etc/metrika.xml exists: ClickHouse would include it")
    started = time.monotonic()
    results = run_oracle(tmp_path, TREES)
    print(summary(results, time.monotonic() - started))
    bad = [r for r in results if r.dangerous]
    report = "\n\n".join(
        f"seed {r.tree.seed}: " + "; ".join(r.dangerous) + "\n  planted: " + "\n  ".join(r.tree.planted)
        for r in bad[:5]
    )
    assert not bad, f"{len(bad)} trees where the audit and ClickHouse disagree:\n{report}"
    assert sum(r.started for r in results) >= len(results) // 2, "most generated trees should start"
    assert sum(r.open for r in results) >= len(results) // 10, "the generator should produce open servers"
