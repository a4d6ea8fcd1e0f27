"""A replicated 18.16 pair and a ZooKeeper on loopback addresses, rendered from one cluster spec.

Each pair is two real Debian ClickHouse 18.16 processes (one spec, `cluster.replica` naming the
node) and Debian's ZooKeeper 3.8. The same checks run against a hardened pair and against a pair
whose rendered files were weakened by hand (no interserver credentials, no ZooKeeper identity,
Distributed queries over the plaintext native port): the hardened pair passes every check, and
the weakened one fails exactly the checks of the controls it lacks, so none of them can pass
vacuously.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.clickhouse.driver import ServerException
from hardhouse.controls.severity import Severity
from hardhouse.probe import ProbeOptions, probe_endpoint_sync
from hardhouse.probe.transport import tls_context
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec
from hardhouse.testing.clients import http_query, listening_sockets, native_client, native_query, port_open
from hardhouse.testing.local_server import LocalClickHouse, server_binary
from hardhouse.testing.zookeeper import NO_AUTH, LocalZooKeeper, ZooKeeperClient, ZooKeeperError, zookeeper_installed
from hardhouse.verify import cluster as cluster_verify
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.live]

ZK_ADDRESS = "127.0.0.20"
CLIENT = "127.0.0.1"  # where the tests' own clients come from (the admin user's network)
ENV = ("HH_ADMIN", "HH_CLUSTER", "HH_INTERSERVER", "HH_ZK")
# 18.16: unknown user (default removed) 192, password required 194; HTTP 401 or 500 with the code.
ANONYMOUS_REFUSED = {192, 194}
TABLE_PATH = "/clickhouse/tables/{cluster}/{shard}/events"


def free_on(addresses: list[str], count: int) -> list[int]:
    """`count` port numbers free on every address (the nodes share their port numbers)."""
    found: list[int] = []
    while len(found) < count:
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for address in addresses[1:]:
                with socket.socket() as other:
                    other.bind((address, port))
        except OSError:
            continue
        if port not in found:
            found.append(port)
    return found


def cluster_spec(name: str, nodes: list[str], replica: str, tls: TlsFiles, ports: dict[str, int], zk_port: int) -> dict:
    return {
        "clickhouse_version": "18.16",
        "listen_hosts": [replica],
        # 18.16's replication needs the plaintext native port (the spec refuses a cluster without it there).
        "ports": {"https": ports["https"], "native_tls": ports["native_tls"], "native": ports["native"]},
        "tls": {
            "certificate": str(tls.certificate),
            "private_key": str(tls.private_key),
            "ca_certificate": str(tls.ca_certificate),
        },
        "users": [
            {"name": "admin", "password_env": "HH_ADMIN", "networks": [CLIENT]},
            # Distributed queries from the other node arrive from lo's primary address or the node's own.
            {"name": "cluster", "password_env": "HH_CLUSTER", "networks": [CLIENT, *nodes]},
        ],
        "cluster": {
            "name": name,
            "replica": replica,
            "shards": [{"replicas": [{"host": node, "address": node} for node in nodes]}],
            "user": "cluster",
            "password_env": "HH_CLUSTER",
            "interserver": {
                "https_port": ports["interserver"],
                "user": "replication",
                "password_env": "HH_INTERSERVER",
            },
            "zookeeper": {
                "nodes": [{"host": ZK_ADDRESS, "port": zk_port}],
                "user": "clickhouse",
                "password_env": "HH_ZK",
            },
        },
    }


def weaken_cluster(files: list[RenderedFile], ports: dict[str, int]) -> list[RenderedFile]:
    """By hand, what the spec refuses: no interserver credentials, the plaintext interserver port
    open, no ZooKeeper identity, Distributed queries over the plaintext native port."""
    out = []
    for file in files:
        if file.path.endswith(("cluster-secrets.xml", "cluster.xml", "ports.xml")):
            root = etree.fromstring(file.content.encode())
            for path in ("interserver_http_credentials", "zookeeper/identity", "interserver_http_port[@remove]"):
                for element in root.findall(path):
                    element.getparent().remove(element)
            for replica in root.iterfind("remote_servers//replica"):
                replica.remove(replica.find("secure"))
                replica.find("port").text = str(ports["native"])
            # 18.16 refuses both interserver ports at once: the HTTPS one becomes plaintext HTTP.
            for element in root.iterfind("interserver_https_port"):
                element.tag, element.text = "interserver_http_port", str(ports["interserver_http"])
            for element in root.iterfind("interserver_https_host"):
                element.tag = "interserver_http_host"
            file = dataclasses.replace(file, content=etree.tostring(root, encoding="unicode"))
        out.append(file)
    return out


@dataclass
class Pair:
    name: str
    nodes: list[str]
    servers: dict[str, LocalClickHouse]
    tls: TlsFiles
    ports: dict[str, int]
    zk_port: int
    environ: dict[str, str]

    def native(self, node: str, query: str, settings: dict | None = None) -> list[tuple]:
        client = native_client(
            node,
            self.ports["native_tls"],
            user="admin",
            password=self.environ["HH_ADMIN"],
            tls=True,
            ca=self.tls.ca_certificate,
        )
        try:
            return client.execute(query, settings=settings or {})  # type: ignore[no-any-return]
        finally:
            client.disconnect()

    def interserver_status(self, node: str, with_credentials: bool, tls: bool = True) -> int | None:
        """A real interserver request that fetches nothing (an endpoint no table serves);
        None when the port is closed."""
        connection: http.client.HTTPConnection
        if tls:
            port = self.ports["interserver"]
            connection = http.client.HTTPSConnection(
                node, port, timeout=10, context=tls_context(self.tls.ca_certificate)
            )
        else:
            port = self.ports["interserver_http"]
            connection = http.client.HTTPConnection(node, port, timeout=10)
        if not port_open(node, port):
            return None
        headers = {}
        if with_credentials:
            token = base64.b64encode(f"replication:{self.environ['HH_INTERSERVER']}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            connection.request("POST", "/?endpoint=hardhouse-probe&compress=false", headers=headers)
            response = connection.getresponse()
            response.read(65536)
            return response.status
        finally:
            connection.close()

    def znode(self) -> str:
        return f"/clickhouse/tables/{self.name}/01/events"


def start_pair(work: Path, name: str, nodes: list[str], tamper: bool = False):  # type: ignore[no-untyped-def]
    tls = write_server_material(work / "tls", nodes)
    numbers = free_on(nodes, 5)
    ports = dict(zip(("https", "native_tls", "interserver", "native", "interserver_http"), numbers, strict=True))
    zk_port = free_on([ZK_ADDRESS], 1)[0]
    environ = {name_: secrets.token_urlsafe(24) for name_ in ENV}
    zookeeper = LocalZooKeeper(work / "zookeeper", ZK_ADDRESS, zk_port)
    servers: dict[str, LocalClickHouse] = {}
    try:
        zookeeper.start()
        for node in nodes:
            spec = load_spec(cluster_spec(name, nodes, node, tls, ports, zk_port))
            files = render(spec, environ)
            if tamper:
                files = weaken_cluster(files, ports)
            server = LocalClickHouse(work / node)
            server.install(files)
            servers[node] = server
        for node, server in servers.items():
            wanted = [(node, ports["https"]), (node, ports["native_tls"]), (node, ports["native"])]
            server.start(wanted)
        pair = Pair(name, nodes, servers, tls, ports, zk_port, environ)
        create = (
            f"CREATE TABLE events (ts DateTime, message String) ENGINE = ReplicatedMergeTree('{TABLE_PATH}', "
            "'{replica}') PARTITION BY toYYYYMM(ts) ORDER BY ts"
        )
        for node in nodes:
            pair.native(node, create)
            pair.native(node, "CREATE TABLE marker (node String) ENGINE = MergeTree ORDER BY node")
            pair.native(node, f"CREATE TABLE marker_all AS marker ENGINE = Distributed({name}, default, marker)")
        yield pair
    finally:
        # The pair's data is thrown away: 18.16 spends about ten seconds shutting a replicated
        # table down, so each replica gets two before it is killed, both at once.
        for server in servers.values():
            if server.process is not None and server.process.poll() is None:
                server.process.terminate()
        for server in servers.values():
            server.stop(grace=2)
        zookeeper.stop()


def failures(pair: Pair) -> set[str]:
    """Each check of the cluster controls, judged from outside; the names of those that fail."""
    failed: set[str] = set()
    first, second = pair.nodes

    # Replication works: rows inserted on one replica are read on the other.
    pair.native(first, "INSERT INTO events SELECT now(), 'inserted on the first replica'")
    deadline = time.monotonic() + 30
    while pair.native(second, "SELECT count() FROM events") != [(1,)]:
        if time.monotonic() > deadline:
            failed.add("replication")
            break
        time.sleep(0.2)

    # Every open interserver port refuses a request without credentials (and serves one with them).
    for node in pair.nodes:
        for tls in (True, False):
            status = pair.interserver_status(node, with_credentials=False, tls=tls)
            if status is not None and status != 401:
                failed.add("interserver refuses without credentials")
            if status is not None and pair.interserver_status(node, with_credentials=True, tls=tls) == 401:
                failed.add("interserver serves with credentials")

    # The plaintext interserver port is closed: each node listens on its HTTPS, native TLS and
    # interserver HTTPS ports, and on the plaintext native port 18.16's replication needs, only.
    for node, server in pair.servers.items():
        expected = {(node, pair.ports[p]) for p in ("https", "native_tls", "interserver", "native")}
        if listening_sockets(server.pid) != expected:
            failed.add("plaintext interserver port closed")

    # A Distributed query crosses to the other node, and its cluster is defined on native TLS.
    pair.native(first, f"INSERT INTO marker SELECT '{first}'")
    across = pair.native(
        second, "SELECT node FROM marker_all", settings={"prefer_localhost_replica": 0, "load_balancing": "in_order"}
    )
    if across != [(first,)]:
        failed.add("distributed query across nodes")
    for node in pair.nodes:
        defined = pair.native(node, f"SELECT DISTINCT port FROM system.clusters WHERE cluster = '{pair.name}'")
        if defined != [(pair.ports["native_tls"],)]:
            failed.add("distributed over native TLS")

    # ZooKeeper: ClickHouse's znodes refuse an anonymous reader and writer; the identity reads them.
    with ZooKeeperClient(ZK_ADDRESS, pair.zk_port) as anonymous:
        for attempt in (
            lambda: anonymous.get_children(pair.znode()),
            lambda: anonymous.get_data(f"{pair.znode()}/replicas/{first}/host"),
            lambda: anonymous.create(f"{pair.znode()}/planted"),
        ):
            try:
                attempt()
                failed.add("zookeeper refuses anonymous")
            except ZooKeeperError as error:
                if error.code != NO_AUTH:
                    raise
    with ZooKeeperClient(ZK_ADDRESS, pair.zk_port) as identified:
        identified.add_auth("digest", f"clickhouse:{pair.environ['HH_ZK']}")
        if sorted(identified.get_children(f"{pair.znode()}/replicas")) != sorted(pair.nodes):
            failed.add("zookeeper identity reads")
        # the ACL ClickHouse applied: only the digest of its identity, nothing for the world
        if {scheme for _, scheme, _ in identified.get_acl(pair.znode())} != {"digest"}:
            failed.add("zookeeper refuses anonymous")

    # Anonymous ClickHouse access is refused on every node, natively and over HTTPS.
    for node in pair.nodes:
        try:
            native_query(
                node,
                pair.ports["native_tls"],
                "SELECT 1",
                user="default",
                password="",
                tls=True,
                ca=pair.tls.ca_certificate,
            )
            failed.add("anonymous refused")
        except ServerException as error:
            if error.code not in ANONYMOUS_REFUSED:
                failed.add("anonymous refused")
        answer = http_query(node, pair.ports["https"], "SELECT 1", tls=True, ca=pair.tls.ca_certificate)
        if answer.status == 200 or answer.error_code not in ANONYMOUS_REFUSED:
            failed.add("anonymous refused")
    return failed


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    require(zookeeper_installed(), "Debian's zookeeper is not installed")
    yield from start_pair(tmp_path_factory.mktemp("hardened"), "logs", ["127.0.0.11", "127.0.0.12"])


@pytest.fixture(scope="module")
def weakened(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    require(zookeeper_installed(), "Debian's zookeeper is not installed")
    yield from start_pair(tmp_path_factory.mktemp("weakened"), "weak", ["127.0.0.13", "127.0.0.14"], tamper=True)


def test_a_hardened_pair_replicates_and_refuses_every_anonymous_path(hardened: Pair) -> None:
    assert failures(hardened) == set()


def test_the_same_checks_catch_a_weakened_pair(weakened: Pair) -> None:
    assert failures(weakened) == {
        "interserver refuses without credentials",
        # 18.16 answers 401 to credentials it has none of: a replica with credentials cannot fetch there.
        "interserver serves with credentials",
        "plaintext interserver port closed",
        "distributed over native TLS",
        "zookeeper refuses anonymous",
    }


def test_the_secrets_file_is_the_only_one_with_a_secret(hardened: Pair) -> None:
    server = hardened.servers[hardened.nodes[0]]
    config_d = server.etc / "config.d"
    secret_values = [value for key, value in hardened.environ.items() if key != "HH_ADMIN"]
    holders = {p.name for p in config_d.iterdir() if any(v in p.read_text() for v in secret_values)}
    assert holders == {"zz-hardhouse-cluster-secrets.xml"}
    assert (config_d / "zz-hardhouse-cluster-secrets.xml").stat().st_mode & 0o777 == 0o640
    users_d = server.etc / "users.d"
    assert not any(v in p.read_text() for p in users_d.iterdir() for v in hardened.environ.values())


# The probe, from outside, against the same pairs: the interserver port and ZooKeeper.
PROBE = ProbeOptions(timeout=3.0, deadline=30.0, tls_scan=False, credentials=())


def test_the_probe_finds_the_hardened_pairs_back_doors_shut(hardened: Pair) -> None:
    node = hardened.nodes[0]
    interserver = probe_endpoint_sync(node, hardened.ports["interserver"], PROBE)
    assert interserver.service == "clickhouse-interserver-tls"
    # the part request without credentials is refused: the port answers, and asks for them (HH-PORT-2 holds)
    assert interserver.interserver_status == 401
    assert interserver.findings == [] and [n.id for n in interserver.notes] == ["interserver-asks-credentials"]
    assert probe_endpoint_sync(node, hardened.ports["interserver_http"], PROBE).state == "closed"
    zookeeper = probe_endpoint_sync(ZK_ADDRESS, hardened.zk_port, PROBE)
    assert zookeeper.service == "zookeeper" and zookeeper.zookeeper is not None
    # ClickHouse made its znodes with its identity's digest ACL: only / lists, the world gets nothing
    assert zookeeper.zookeeper.readable == {"/": 2}
    assert zookeeper.zookeeper.refused["/clickhouse"] == "no-auth" and zookeeper.zookeeper.world == {}
    assert zookeeper.findings == [] and [n.id for n in zookeeper.notes] == ["zookeeper-answers"]


def test_the_probe_reports_the_weakened_pairs_back_doors(weakened: Pair) -> None:
    node = weakened.nodes[0]
    interserver = probe_endpoint_sync(node, weakened.ports["interserver_http"], PROBE)
    assert interserver.service == "clickhouse-interserver"
    assert interserver.interserver_status == 200  # 18.16 without credentials: 200 and an empty body
    (finding,) = interserver.findings
    assert (finding.rule, finding.severity, finding.control) == (
        "interserver-unauthenticated",
        Severity.HIGH,
        "HH-PORT-2",
    )
    assert "serves without credentials" in finding.message and interserver.exposed()
    zookeeper = probe_endpoint_sync(ZK_ADDRESS, weakened.zk_port, PROBE)
    assert zookeeper.zookeeper is not None
    readable = zookeeper.zookeeper.readable
    assert readable["/clickhouse"] >= 1 and readable["/clickhouse/tables"] == 1  # the cluster's name
    writable = {f.data["path"] for f in zookeeper.findings if f.rule == "zookeeper-znodes-writable"}
    assert {"/clickhouse", "/clickhouse/tables"} <= writable
    assert zookeeper.exposed()


# The deploy's own cluster checks (hardhouse.verify.cluster), run as the deploy runs them.
def deploy_checks(pair: Pair) -> dict[str, list[bool]]:
    """Check name -> outcomes across both nodes (interserver, ZooKeeper, Distributed queries)."""
    outcomes: dict[str, list[bool]] = {}
    for node in pair.nodes:
        spec = load_spec(cluster_spec(pair.name, pair.nodes, node, pair.tls, pair.ports, pair.zk_port))
        found = (
            cluster_verify._interserver(node, spec, pair.tls.ca_certificate, pair.environ)
            + cluster_verify._zookeeper(spec)
            + cluster_verify._distributed(node, spec, pair.tls.ca_certificate, "admin", pair.environ["HH_ADMIN"])
        )
        for check in found:
            assert check.checked, check
            outcomes.setdefault(check.check.replace(pair.name, "NAME"), []).append(check.ok)
    return outcomes


def test_the_deploys_cluster_checks_pass_on_the_hardened_pair(hardened: Pair) -> None:
    outcomes = deploy_checks(hardened)
    assert outcomes == {
        "a part request without credentials is refused": [True, True],
        "the interserver credentials are accepted": [True, True],
        "an anonymous session can neither read nor write /clickhouse": [True, True],
        "cluster NAME is defined on the native TLS port only": [True, True],
        "a query through cluster NAME is answered by every shard": [True, True],
    }


def test_the_deploys_cluster_checks_fail_on_the_weakened_pair(weakened: Pair) -> None:
    outcomes = deploy_checks(weakened)
    # No interserver HTTPS port (plaintext instead), world-open znodes, Distributed in the clear;
    # a query through the cluster still works (over the plaintext port).
    assert outcomes == {
        "a part request without credentials is refused": [False, False],
        "the interserver credentials are accepted": [False, False],
        "an anonymous session can neither read nor write /clickhouse": [False, False],
        "cluster NAME is defined on the native TLS port only": [False, False],
        "a query through cluster NAME is answered by every shard": [True, True],
    }
