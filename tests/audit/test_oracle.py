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
import json
import os
import shutil
import subprocess
import sys
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
from tests.audit.oracle import HTTP_PORT, Observation, in_own_namespace, observe, proc_sockets
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


# The audit's reading of a tree (None when it refuses the tree, with why) and its verdict.
Model = tuple[ServerTree | None, AuditReport | None, str]


def _model(tree: GeneratedTree) -> Model:
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


def compare(tree: GeneratedTree, seen: Observation, model: Model) -> Compared:
    out = Compared(tree, started=seen.started)
    read, report, error = model
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
            answered = status is not None  # None: no socket on that address family to try
            if answered and user is not None and admits is True and password == PASSWORD and _known_password(user):
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


def _tries(read: ServerTree | None) -> list[tuple[str, str, str]]:
    names = set(ALWAYS_TRIED)
    if read is not None:
        modelled = users(read.users_values, Dialect.V18)
        if not isinstance(modelled, Unknown):
            names |= {user.name for user in modelled}
    return [(name, source, password) for name in sorted(names) for source in SOURCES for password in ("", PASSWORD)]


def run_oracle(base: Path, count: int, seed: int = SEED) -> list[Compared]:
    trees = [generate(seed + n, base / f"t{n}") for n in range(count)]

    def one(tree: GeneratedTree) -> Compared:
        model = _model(tree)
        return compare(tree, observe(tree.etc, _tries(model[0]), environment=ENVIRONMENT), model)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, trees))


def shown(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """The run's counts in every log, CI's included (pytest captures plain prints)."""
    with capsys.disabled():
        print(f"\n{line}")


def summary(results: list[Compared], elapsed: float) -> str:
    started = [r for r in results if r.started]
    return (
        f"{len(results)} trees compared with clickhouse-server 18.16 in {elapsed:.0f}s: {len(started)} started, "
        f"{sum(r.open for r in results)} served open, {sum(len(r.dangerous) for r in results)} disagreements that "
        f"could turn a FAIL into a PASS, {sum(len(r.stricter) for r in results)} where the server is stricter"
    )


def test_the_audit_never_passes_what_clickhouse_18_16_runs_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require(server_binary() is not None, "clickhouse-server (Debian's 18.16) is not installed")
    require(not Path("/etc/metrika.xml").exists(), "/etc/metrika.xml exists: ClickHouse would include it")
    started = time.monotonic()
    results = run_oracle(tmp_path, TREES)
    shown(capsys, summary(results, time.monotonic() - started))
    bad = [r for r in results if r.dangerous]
    report = "\n\n".join(
        f"seed {r.tree.seed}: " + "; ".join(r.dangerous) + "\n  planted: " + "\n  ".join(r.tree.planted)
        for r in bad[:5]
    )
    assert not bad, f"{len(bad)} trees where the audit and ClickHouse disagree:\n{report}"
    assert sum(r.started for r in results) >= len(results) // 2, "most generated trees should start"
    assert sum(r.open for r in results) >= len(results) // 10, "the generator should produce open servers"


# --- modern ClickHouse (chdb-core 26.9): its users as system.users lists them --------------
#
# The embedded engine loads the same users.xml, users.d/ and conf.d/ with ClickHouse's own
# ConfigProcessor and UsersConfigAccessStorage. It has no per-user network enforcement and no
# listener of its own here, so what is compared is what it parsed: every user it lists, whether
# it admits any address (host_ip ::/0 or a /0, ::ffff:0:0/96, host_names_like '%', a regexp it
# turned into any host) and whether it logs in without a password (auth_type no_password). Its
# session logs in as a passwordless `default` from ::1, which every tree gets from a users.d file
# of its own (and which is not compared). A tree it refuses to load serves nothing.

MODERN_TREES = int(os.environ.get("HARDHOUSE_ORACLE_MODERN_TREES", "120"))
SESSION_USER = (
    '<clickhouse><users><default replace="1"><no_password/><networks><ip>::1</ip></networks>'
    "<access_management>1</access_management><profile>default</profile><quota>default</quota></default>"
    "</users></clickhouse>\n"
)
MODERN_SCRIPT = """
import json, sys, chdb
for config in sys.argv[1:]:
    try:
        session = chdb.connect(":memory:?config-file=" + config)
        rows = session.query(
            "SELECT name, auth_type, host_ip, host_names_regexp, host_names_like FROM system.users", "JSONEachRow"
        ).data()
        session.close()
        print(json.dumps([json.loads(row) for row in rows.splitlines() if row.strip()]))
    except Exception as error:
        print(json.dumps("refused: " + str(error)[:200]))
    sys.stdout.flush()
"""


def modern_tree(tree: GeneratedTree) -> Path:
    """The generated tree as a modern server's: the same users files, a config.xml of its own."""
    etc = tree.etc.parent / "modern" / "etc"
    shutil.copytree(tree.etc, etc, symlinks=True)
    shutil.rmtree(etc / "config.d")
    (etc / "config.d").mkdir()
    (etc / "users.d" / "00-session.xml").write_text(SESSION_USER)
    data = tree.etc.parent / "modern" / "data"
    (etc / "config.xml").write_text(
        f"<clickhouse><path>{data}/</path><tmp_path>{data}/tmp/</tmp_path>"
        f"<users_config>{etc / 'users.xml'}</users_config></clickhouse>\n"  # clickhouse-local: absolute
    )
    return etc


def _any_row(row: dict[str, object]) -> bool:
    ips = [str(ip) for ip in row.get("host_ip") or []]  # type: ignore[union-attr]
    if any(ip.endswith("/0") or ip == "::ffff:/96" for ip in ips):
        return True
    return "%" in (row.get("host_names_like") or []) or ".*" in (row.get("host_names_regexp") or [])  # type: ignore[operator]


def compare_modern(etc: Path, answer: object) -> list[str]:
    if isinstance(answer, str):
        return []  # modern ClickHouse refuses the tree: it serves nothing
    try:
        read = read_server_tree(etc, Dialect.MODERN, assume_no_default_include=True)
    except ConfigTreeError as error:
        return [f"26.9 loads the tree; the audit refuses it: {error}"]
    modelled = users(read.users_values, Dialect.MODERN)
    if isinstance(modelled, Unknown):
        return []
    by_name = {user.name: user for user in modelled}
    found = []
    for row in answer:  # type: ignore[union-attr]
        name = str(row["name"])
        if name == "default":
            continue
        user = by_name.get(name)
        if user is None:
            found.append(f"26.9 has a user {name!r} the audit does not know")
            continue
        if _any_row(row) and not isinstance(user.networks, Unknown):
            if user.networks.everyone is None and not any(e.any_reason for e in user.networks.entries):
                found.append(f"26.9 admits {name} from any address; the audit's networks do not ({row})")
        if "no_password" in (row.get("auth_type") or []) and not isinstance(user.methods, Unknown):
            if not any(m.empty is True or isinstance(m.empty, Unknown) for m in user.methods):
                found.append(f"26.9 lets {name} in without a password; the audit says it has one")
    return found


@pytest.mark.chdb
def test_the_audit_reads_users_as_modern_clickhouse_26_9_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("chdb")
    trees = [generate(SEED + 100_000 + n, tmp_path / f"m{n}") for n in range(MODERN_TREES)]
    modern = [modern_tree(tree) for tree in trees]
    empty = tmp_path / "cwd"  # clickhouse-local would pick up a config.xml from its working directory
    empty.mkdir()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MODERN_SCRIPT, *(str(etc / "config.xml") for etc in modern)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=empty,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(answers) == len(modern), done.stderr[-3000:]
    loaded = sum(not isinstance(answer, str) for answer in answers)
    bad = [
        (tree, found)
        for tree, etc, answer in zip(trees, modern, answers, strict=True)
        if (found := compare_modern(etc, answer))
    ]
    shown(
        capsys,
        f"{len(modern)} users trees compared with chdb-core 26.9 in {time.monotonic() - started:.0f}s: "
        f"{loaded} loaded, {sum(len(found) for _, found in bad)} disagreements that could turn a FAIL into a PASS",
    )
    report = "\n\n".join(
        f"seed {tree.seed}: " + "; ".join(found) + "\n  planted: " + "\n  ".join(tree.planted)
        for tree, found in bad[:5]
    )
    assert not bad, f"{len(bad)} trees where the audit and 26.9 disagree:\n{report}"
    assert loaded >= len(modern) // 3, "most generated trees should load"


# --- modern ClickHouse (chdb-core 26.9) on the network: what listen_host binds -------------
#
# clickhouse-local in chdb-core 26.9 opens the configured listeners (SYSTEM START LISTEN, see
# ../shared ENVIRONMENT.md): started in a network namespace of its own with a generated tree's
# config.d/ and conf.d/ files, the addresses it binds are compared with the audit's modern
# reading of listen_host (upper-case .XML files, `${}`, glibc's numeric forms included).

LISTEN_TREES = int(os.environ.get("HARDHOUSE_ORACLE_LISTEN_TREES", "48"))
LISTEN_SCRIPT = """
import os, sys, chdb
os.chdir(sys.argv[1])  # clickhouse-local reads ./config.xml
chdb._chdb.query(
    "SYSTEM START LISTEN HTTP; SELECT sleepEachRow(1) FROM numbers(30) SETTINGS max_block_size=1 FORMAT Null",
    "TabSeparated",
)
"""
LISTEN_SESSION_USERS = (
    "<clickhouse><profiles><default/></profiles><quotas><default/></quotas><users><default><no_password/>"
    "<networks><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users></clickhouse>\n"
)


def modern_listen_tree(tree: GeneratedTree) -> Path:
    etc = tree.etc.parent / "modern-listen" / "etc"
    etc.mkdir(parents=True)
    for directory in ("config.d", "conf.d"):
        shutil.copytree(tree.etc / directory, etc / directory, symlinks=True)
    if (tree.etc / "inc").exists():
        shutil.copytree(tree.etc / "inc", etc / "inc", symlinks=True)
    (etc / "config.d" / "50-users.xml").unlink(missing_ok=True)  # the users file is this test's own
    (etc / "users.xml").write_text(LISTEN_SESSION_USERS)
    data = etc.parent / "data"
    (etc / "config.xml").write_text(
        f"<clickhouse><path>{data}/</path><http_port>{HTTP_PORT}</http_port><listen_host>127.0.0.1</listen_host>"
        f"<users_config>{etc / 'users.xml'}</users_config></clickhouse>\n"
    )
    return etc


def bound_by_26_9(etc: Path, timeout: float = 20.0) -> set[tuple[str, int]] | None:
    """The sockets 26.9 listens on with this tree, or None when it does not open its listener."""
    process = subprocess.Popen(
        in_own_namespace(sys.executable, "-c", LISTEN_SCRIPT, str(etc)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **ENVIRONMENT},
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            found = proc_sockets(process.pid)
            if any(port == HTTP_PORT for _, port in found):
                time.sleep(0.2)  # every listen_host is bound in one go; let the last one land
                return proc_sockets(process.pid)
            time.sleep(0.05)
        return None
    finally:
        process.kill()
        process.wait()


@pytest.mark.chdb
def test_the_audit_reads_listen_host_as_modern_clickhouse_26_9_binds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("chdb")
    trees = [generate(SEED + 200_000 + n, tmp_path / f"l{n}") for n in range(LISTEN_TREES)]
    started = time.monotonic()
    etcs = [modern_listen_tree(tree) for tree in trees]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(bound_by_26_9, etcs))
    bad = []
    for tree, etc, bound in zip(trees, etcs, answers, strict=True):
        if bound is None:
            continue  # 26.9 refused the tree: nothing listens
        addresses_bound = {ipaddress.ip_address(a) for a, p in bound if p == HTTP_PORT}
        try:
            read = read_server_tree(etc, Dialect.MODERN, assume_no_default_include=True)
        except ConfigTreeError as error:
            bad.append((tree, f"26.9 listens; the audit refuses the tree: {error}"))
            continue
        modelled = _model_listen(read)
        if isinstance(modelled, Unknown):
            continue
        for address in addresses_bound:
            if address not in modelled and not ("localhost" in modelled and address.is_loopback):
                bad.append((tree, f"26.9 binds {address}; the audit reads listen_host as {modelled}"))
    listening = sum(answer is not None for answer in answers)
    shown(
        capsys,
        f"{len(trees)} listen trees compared with chdb-core 26.9 serving in {time.monotonic() - started:.0f}s: "
        f"{listening} listened, {len(bad)} disagreements that could turn a FAIL into a PASS",
    )
    report = "\n\n".join(f"seed {t.seed}: {why}\n  planted: " + "\n  ".join(t.planted) for t, why in bad[:5])
    assert not bad, report
    assert listening >= len(trees) // 3, "most generated trees should listen"
