"""What the deploy proves about one replica of a cluster once every replica is live.

Each replica is judged from the deploy machine, after the whole cluster went live (the deploy
runs this with its other checks, as one of its last steps):

  * interserver (HH-PORT-2, HH-CLUSTER-2): a real part request that fetches nothing (a part of
    a replica no table has) over the interserver HTTPS port is refused with 401 without
    credentials and is not refused with them; the stock plaintext port (9009) is checked
    closed with the other stock ports (hardhouse.verify.checks);
  * Distributed queries (HH-CLUSTER-1): system.clusters defines the cluster on the native TLS
    port only, and a query through it (`cluster(...)`, never the local replica) is answered;
  * replication: a row marked `hardhouse-verify-<random>` written here as a log database's
    owner is read back on every other replica of this shard, then deleted (ALTER TABLE ...
    DELETE, waited for on every replica), so readers are left nothing. The row is the first
    one the log rights or redaction checks write (followed to the peers by
    hardhouse.verify.replicas); where they wrote none, an owner inserts one into the first
    log table for this check alone;
  * ZooKeeper (HH-ZK-1): an anonymous session can neither list ClickHouse's root znode nor
    create under it (tried as an ephemeral znode, which ends with the session, so even an
    accepted attempt leaves nothing).

Secrets: the owner's and the interserver password go only to a server whose certificate
validated against the operator's CA, for the address it is reached at. No ZooKeeper secret
is sent at all (its client port has no TLS on 18.16). What cannot be checked from here (no
owner can log in from this machine, no log table to replicate, ZooKeeper unreachable) is a
"not checked from here" line, never a pass.
"""

from __future__ import annotations

import base64
import http.client
import secrets
import ssl
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.native import ServerError, Session, Unreachable
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, register
from hardhouse.probe.scanner import INTERSERVER_PART_REQUEST
from hardhouse.probe.wire.zookeeper import NO_AUTH, NO_NODE, ZooKeeperClient, ZooKeeperError
from hardhouse.reach import owners_among
from hardhouse.render.cluster import read_source
from hardhouse.spec import HardeningSpec
from hardhouse.verify.checks import Check
from hardhouse.verify.privileges import MARK_PREFIX, insert_marked, marker_column
from hardhouse.verify.replicas import REPLICATION_WAIT, Followed, Replicas, wait_for
from hardhouse.verifying_tls import verifying_context

ANSWER_LIMIT = 64 * 1024  # bytes read of an interserver answer
TIMEOUT = 10.0

# The checks made here that prove a control, each registered against it. The replication
# lines prove the cluster works and belong to none.
PART_REQUEST_REFUSED = register(Tool.VERIFY, "a part request without credentials is refused", ControlId.PORT_2)
INTERSERVER_CREDENTIALS_ACCEPTED = register(
    Tool.VERIFY, "the interserver credentials are accepted", ControlId.CLUSTER_2
)
CLUSTER_ON_TLS_ONLY = register(Tool.VERIFY, "the cluster is defined on the native TLS port only", ControlId.CLUSTER_1)
CLUSTER_QUERY_ANSWERED = register(
    Tool.VERIFY, "a query through the cluster is answered by every shard", ControlId.CLUSTER_1
)
ZOOKEEPER_ANONYMOUS_REFUSED = register(
    Tool.VERIFY, "an anonymous ZooKeeper session can neither read nor write ClickHouse's root", ControlId.ZK_1
)


def cluster_checks(
    address: str,
    spec: HardeningSpec,
    ca: Path,
    environ: Mapping[str, str],
    passwords: Mapping[str, str],
    unreadable: Mapping[str, str],
    here: str | None,
    replicas: Replicas | None = None,
) -> list[Check]:
    """Every cluster check for the replica at `address` (spec.cluster names which one it is);
    `replicas`: those the log rights checks followed their first row to (replicas_of)."""
    assert spec.cluster is not None
    checks = _interserver(address, spec, ca, environ) + _zookeeper(spec)
    owners, problems = owners_among(spec, here, passwords, unreadable)
    if not owners or spec.ports.native_tls is None:
        why = ("; ".join(problems) or "the spec has no log_databases") if not owners else "ports.native_tls is closed"
        return checks + [
            Check(
                address,
                "Distributed queries and replication work",
                True,
                f"not checked from here: they run as a log database owner over native TLS ({why})",
                CLUSTER_QUERY_ANSWERED,
                checked=False,
            )
        ]
    remote = _may_use_remote(spec, owners)
    if remote:
        user = next(iter(remote.values()))
        distributed = _distributed(address, spec, ca, user, passwords[user])
    else:
        distributed = [
            Check(
                address,
                f"a query through cluster {spec.cluster.name} is answered",
                True,
                "not checked from here: cluster() needs the REMOTE grant, which no owner holds "
                "(name remote in an owner's users[].table_functions)",
                CLUSTER_QUERY_ANSWERED,
                checked=False,
            )
        ]
    followed = replicas.followed if replicas is not None else None
    return checks + distributed + _replication(address, spec, ca, owners, passwords, followed)


def replicas_of(address: str, spec: HardeningSpec, ca: Path, passwords: Mapping[str, str]) -> Replicas | None:
    """The replica at `address` and its shard's others, for the proof's first marked row to be
    followed to (None: no cluster, no native TLS port, or a shard of one replica)."""
    if spec.cluster is None or spec.ports.native_tls is None:
        return None
    peers = _peers(spec)
    return Replicas(address, peers, spec.ports.native_tls, ca, passwords) if peers else None


def _peers(spec: HardeningSpec) -> list[str]:
    """The addresses of the other replicas of this replica's shard."""
    assert spec.cluster is not None
    mine = spec.cluster.this_replica()
    assert mine is not None
    return [r.address for r in spec.cluster.shards[mine[0]].replicas if r.host != mine[2].host]


def _may_use_remote(spec: HardeningSpec, owners: dict[str, str]) -> dict[str, str]:
    """The owners whose rights let them query through cluster(): where users.d takes grants,
    only those naming remote among their table functions (hardhouse.spec.rights)."""
    if not versions.has(spec.version, "users_xml_grants"):
        return owners
    named = {user.name for user in spec.users if "remote" in user.table_functions}
    return {database: name for database, name in owners.items() if name in named}


# -- interserver ---------------------------------------------------------------------------------
def interserver_status(address: str, port: int, ca: Path, credentials: tuple[str, str] | None) -> int | str:
    """The HTTP status of a part request that fetches nothing, or why there is none. The TLS
    handshake verifies the certificate against `ca` before credentials are sent."""
    connection = http.client.HTTPSConnection(address, port, timeout=TIMEOUT, context=verifying_context(ca))
    headers = {}
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        connection.request("GET", INTERSERVER_PART_REQUEST, headers=headers)
        response = connection.getresponse()
        response.read(ANSWER_LIMIT)
        return response.status
    except ssl.SSLCertVerificationError as error:
        return f"its certificate did not verify against the CA ({error.verify_message}); no credentials sent"
    except (OSError, http.client.HTTPException) as error:
        return f"no answer: {error}"
    finally:
        connection.close()


def _interserver(address: str, spec: HardeningSpec, ca: Path, environ: Mapping[str, str]) -> list[Check]:
    interserver = spec.cluster.interserver if spec.cluster else None
    if interserver is None:
        return []  # closed: the stock port's check (verify.checks) covers it
    endpoint = f"{address}:{interserver.https_port} (interserver https)"
    anonymous = interserver_status(address, interserver.https_port, ca, None)
    shown = "401" if anonymous == 401 else f"answered {anonymous}" if isinstance(anonymous, int) else anonymous
    checks = [Check.of(PART_REQUEST_REFUSED, endpoint, anonymous == 401, shown)]
    password, problem = read_source(interserver, "cluster.interserver", interserver.user, environ)
    if password is None:
        detail = f"not checked: {problem.problem if problem else 'no password'}"
        checks.append(Check.of(INTERSERVER_CREDENTIALS_ACCEPTED, endpoint, False, detail))
        return checks
    status = interserver_status(address, interserver.https_port, ca, (interserver.user, password))
    accepted = isinstance(status, int) and status != 401
    detail = f"answered {status} (not 401)" if accepted else f"refused: {status}"
    checks.append(Check.of(INTERSERVER_CREDENTIALS_ACCEPTED, endpoint, accepted, detail))
    return checks


# -- Distributed queries and replication ---------------------------------------------------------
def _distributed(address: str, spec: HardeningSpec, ca: Path, user: str, password: str) -> list[Check]:
    cluster = spec.cluster
    assert cluster is not None and spec.ports.native_tls is not None
    endpoint = f"{address}:{spec.ports.native_tls} (native_tls)"
    name = cluster.name
    try:
        with Session(address, spec.ports.native_tls, user, password, ca) as session:
            rows = session.rows(f"SELECT DISTINCT port FROM system.clusters WHERE cluster = '{name}'")
            # Through the cluster, never the local replica: every shard answers over the network.
            answered = session.rows(
                f"SELECT count() AS n FROM cluster('{name}', system.one)",
                settings={"prefer_localhost_replica": 0, "skip_unavailable_shards": 0},
            )
    except (ServerError, Unreachable) as error:
        return [
            Check(endpoint, f"a query through cluster {name} is answered", False, str(error), CLUSTER_QUERY_ANSWERED)
        ]
    ports = sorted(int(r["port"]) for r in rows)
    wanted = spec.ports.native_tls if cluster.secure else spec.ports.native
    shards = len(cluster.shards)
    return [
        Check(
            endpoint,
            f"cluster {name} is defined on the {'native TLS' if cluster.secure else 'native'} port only",
            ports == [wanted],
            f"system.clusters ports: {', '.join(map(str, ports)) or 'none (no such cluster)'}",
            CLUSTER_ON_TLS_ONLY,
        ),
        Check(
            endpoint,
            f"a query through cluster {name} is answered by every shard",
            answered == [{"n": shards}],
            f"{answered[0]['n'] if answered else 0} of {shards} shards answered",
            CLUSTER_QUERY_ANSWERED,
        ),
    ]


def _replication(
    address: str,
    spec: HardeningSpec,
    ca: Path,
    owners: Mapping[str, str],
    passwords: Mapping[str, str],
    followed: Followed | None = None,
) -> list[Check]:
    """A marked row written here, as the owner of its log database, read on every peer, then
    deleted: the one the log rights checks `followed`, else one written here for this check."""
    assert spec.cluster is not None and spec.ports.native_tls is not None
    port = spec.ports.native_tls
    endpoint = f"{address}:{port} (native_tls)"
    peers = _peers(spec)
    # A table of a database whose owner logs in from here, with a String column to mark a row in.
    target = next(
        (
            (db_name, t_name, column)
            for db_name in owners
            for t_name in spec.log_databases[db_name].tables
            if (column := marker_column(spec, db_name, t_name)) is not None
        ),
        None,
    )
    name = "a row written here is read on every other replica of its shard"
    if not peers:
        return [Check(endpoint, name, True, "not checked: this shard has one replica", checked=False)]
    if followed is not None:
        return _replication_lines(endpoint, name, peers, followed, "the log rights checks' marked row")
    if target is None:
        why = "not checked from here: no log table with a String column to mark a row in"
        return [Check(endpoint, name, True, why, checked=False)]
    db_name, t_name, column = target
    user = owners[db_name]
    table = f"{db_name}.{t_name}"
    time_column = spec.log_databases[db_name].tables[t_name].time_column
    mark = MARK_PREFIX + secrets.token_hex(8)
    count = f"SELECT count() AS n FROM {table} WHERE {column} = '{mark}'"
    written = Followed(table)
    try:
        with ExitStack() as stack:
            sessions = {
                at: stack.enter_context(Session(at, port, user, passwords[user], ca)) for at in [address, *peers]
            }
            sessions[address].execute(insert_marked(table, time_column, column, mark))
            try:
                written.missing = wait_for({peer: sessions[peer] for peer in peers}, count, 1)
            finally:
                sessions[address].execute(f"ALTER TABLE {table} DELETE WHERE {column} = '{mark}'")
                written.removed = True
            written.left = wait_for(sessions, count, 0)
    except (ServerError, Unreachable) as error:
        return [Check(endpoint, name, False, str(error))]
    return _replication_lines(endpoint, name, peers, written, "a marked row")


def _replication_lines(endpoint: str, name: str, peers: list[str], row: Followed, what: str) -> list[Check]:
    """The two replication lines, judged from one marked row followed to the peers."""
    if row.error is not None:
        return [Check(endpoint, name, False, f"{what} in {row.table} could not be looked for: {row.error}")]
    reached = Check(
        endpoint,
        name,
        not row.missing,
        f"{what} in {row.table} reached {', '.join(peers)}"
        if not row.missing
        else f"{what} in {row.table} was not on {', '.join(row.missing)} after {REPLICATION_WAIT:.0f}s",
    )
    if not row.removed:
        return [reached, Check(endpoint, "the marked row is deleted again on every replica", False, "not deleted")]
    return [
        reached,
        Check(
            endpoint,
            "the marked row is deleted again on every replica",
            not row.left,
            "deleted everywhere" if not row.left else f"still on {', '.join(row.left)}",
        ),
    ]


# -- ZooKeeper ------------------------------------------------------------------------------------
def _zookeeper(spec: HardeningSpec) -> list[Check]:
    zookeeper = spec.cluster.zookeeper if spec.cluster else None
    if zookeeper is None:
        return []
    root = zookeeper.root or "/clickhouse"
    checks = []
    for node in zookeeper.nodes:
        endpoint = f"{node.host}:{node.port} (zookeeper)"
        name = f"an anonymous session can neither read nor write {root}"
        try:
            with ZooKeeperClient(node.host, node.port, timeout=TIMEOUT, deadline=3 * TIMEOUT) as anonymous:
                probe = f"{root}/{MARK_PREFIX}{secrets.token_hex(8)}"
                outcomes = [
                    _refused(anonymous.get_children, root),
                    _refused(lambda path: anonymous.create(path, ephemeral=True), probe),
                ]
        except (OSError, ZooKeeperError) as error:
            skipped = Check(endpoint, name, True, f"not checked from here: {error}", ZOOKEEPER_ANONYMOUS_REFUSED, False)
            checks.append(skipped)
            continue
        refused = all(o == "refused" for o in outcomes)
        detail = (
            "list and create refused (NoAuth)"
            if refused
            else f"list: {outcomes[0]}; create (ephemeral, gone with the session): {outcomes[1]}"
        )
        checks.append(Check(endpoint, name, refused, detail, ZOOKEEPER_ANONYMOUS_REFUSED))
    return checks


def _refused(attempt: Callable[[str], object], path: str) -> str:
    try:
        attempt(path)
    except ZooKeeperError as error:
        if error.code == NO_AUTH:
            return "refused"
        if error.code == NO_NODE:
            return "ClickHouse's path does not exist, so anyone may create it with a world ACL"
        return f"ZooKeeper error {error.code}"
    return "accepted"
