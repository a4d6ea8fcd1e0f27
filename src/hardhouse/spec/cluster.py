"""The spec's cluster section: shards and replicas, Distributed queries' credentials
(remote_servers), the interserver port, and ZooKeeper or Keeper; the models and the rules that
span them (and the TLS, ports and users a cluster relies on).

The server needs these secrets as plaintext (it sends them to its peers), so they are read at
render time from the environment or an owner-only file and go into one rendered file of their
own (hardhouse.render.cluster); the spec only says where they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.hostnames import host_name_problem
from hardhouse.spec.declare import Address, StrictModel, described
from hardhouse.spec.errors import Problem, excerpt, listing
from hardhouse.spec.fields import check_address, check_env_name, check_host_path, check_local_path, check_name, fail
from hardhouse.spec.gates import Gate, refusals
from hardhouse.spec.network import check_port
from hardhouse.spec.users import PasswordSource

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec


def check_host_name(value: str) -> str:
    """A DNS name or an IP address that peers use to reach a node (no port, no scheme)."""
    try:
        check_address(value)
        return value
    except PydanticCustomError:
        pass
    if host_name_problem(value) is not None:
        raise fail(
            f"{excerpt(value)} is neither a host name nor an IP address",
            "write the name the other nodes resolve (ch1.logs.example) or its address (10.0.0.11)",
        )
    return value


class SecretSource(PasswordSource):
    """A plaintext secret the server itself needs: from an environment variable or a file."""

    ENV_EXAMPLE: ClassVar[str] = "CH_INTERSERVER_PASSWORD"

    password_env: str | None = described(None, description="environment variable holding it (read at render time)")
    password_file: str | None = described(
        None, description="file holding it (read at render time; owner-only, at most 4 KiB, as users[].password_file)"
    )

    def given(self) -> bool:
        return self.password_env is not None or self.password_file is not None

    def one_source(self, what: str) -> None:
        if self.password_env is not None and self.password_file is not None:
            raise PydanticCustomError(
                "hardhouse", f"{what}: both password_env and password_file are given", {"fix": "give exactly one"}
            )


class Replica(StrictModel):
    host: str = described(
        description="name (or address) the other nodes reach this replica by; also its replica name and "
        "interserver_https_host"
    )
    address: Address = described(description="the replica's IP address (this node's must be in listen_hosts)")

    @field_validator("host")
    @classmethod
    def valid_host(cls, value: str) -> str:
        return check_host_name(value)


class Shard(StrictModel):
    replicas: list[Replica] = described(description="replicas holding the same data")

    @field_validator("replicas")
    @classmethod
    def some_replicas(cls, value: list[Replica]) -> list[Replica]:
        if not value:
            raise fail("this shard has no replica", "list at least one replica (host and address)")
        return value


class InterserverOld(SecretSource):
    password_env: str | None = described(
        None, description="environment variable holding the previous interserver password"
    )
    user: str = described(description="the previous interserver user, still accepted while every replica rolls")


class Interserver(SecretSource):
    password_env: str | None = described(
        None, description="environment variable holding the interserver password (read at render time)"
    )
    https_port: int = described(
        9010,
        description="interserver port over TLS (interserver_https_port); the plaintext one stays closed",
        why="replicas send table parts and credentials over it; TLS keeps both off the wire",
    )
    user: str = described(description="interserver user (interserver_http_credentials)")
    old: Annotated[
        InterserverOld | None,
        Gate(
            "interserver_credentials_rotation",
            "remove old and change the credentials on every replica at once, or target a newer version",
        ),
    ] = described(
        None,
        description="credentials still accepted during a rotation (needs 22.8+)",
        why="rotate without stopping every replica at once",
    )

    @field_validator("user")
    @classmethod
    def valid_user(cls, value: str) -> str:
        return check_name(value, "interserver user")

    @field_validator("https_port")
    @classmethod
    def valid_port(cls, value: int) -> int:
        return check_port(value)  # type: ignore[return-value]

    @model_validator(mode="after")
    def with_password(self) -> Interserver:
        self.one_source("cluster.interserver")
        if not self.given():
            raise PydanticCustomError(
                "hardhouse",
                "the interserver port has no credentials: anyone reaching it could fetch table parts",
                {"fix": "give password_env or password_file (the interserver password)"},
            )
        return self


class ZooKeeperNode(StrictModel):
    host: str = described(description="ZooKeeper host name or address")
    port: int = described(2181, description="ZooKeeper client port")

    @field_validator("port")
    @classmethod
    def valid_port(cls, value: int) -> int:
        return check_port(value)  # type: ignore[return-value]

    @field_validator("host")
    @classmethod
    def valid_host(cls, value: str) -> str:
        return check_host_name(value)


class ZooKeeper(SecretSource):
    password_env: str | None = described(
        None, description="environment variable holding the identity's digest password (read at render time)"
    )
    nodes: list[ZooKeeperNode] = described(description="ZooKeeper ensemble")
    user: str = described(
        description="digest user of ClickHouse's identity; its znodes get an ACL only this identity passes",
        why="world-readable znodes let anyone rewrite replication metadata",
    )
    root: str | None = described(
        None, description="chroot for ClickHouse's znodes (must exist in ZooKeeper); null: the ensemble's root"
    )

    @field_validator("nodes")
    @classmethod
    def some_nodes(cls, value: list[ZooKeeperNode]) -> list[ZooKeeperNode]:
        if not value:
            raise fail("no ZooKeeper node is listed", "list the ensemble's hosts")
        return value

    @field_validator("user")
    @classmethod
    def valid_user(cls, value: str) -> str:
        return check_name(value, "ZooKeeper user")

    @field_validator("root")
    @classmethod
    def valid_root(cls, value: str | None) -> str | None:
        return None if value is None else check_host_path(value, "/clickhouse")

    @model_validator(mode="after")
    def with_identity(self) -> ZooKeeper:
        self.one_source("cluster.zookeeper")
        if not self.given():
            raise PydanticCustomError(
                "hardhouse",
                "ZooKeeper has no identity: ClickHouse's znodes would be open to anyone",
                {"fix": "give password_env or password_file (the digest password for user)"},
            )
        return self


class Keeper(SecretSource):
    password_env: str | None = described(
        None, description="environment variable holding the identity's digest password (read at render time)"
    )
    port: int = described(9281, description="Keeper client port over TLS (keeper_server tcp_port_secure)")
    raft_port: int = described(9234, description="Keeper raft port between replicas, over TLS (raft secure)")
    user: str = described(description="digest user of ClickHouse's identity in Keeper (as zookeeper.user)")

    @field_validator("user")
    @classmethod
    def valid_user(cls, value: str) -> str:
        return check_name(value, "Keeper user")

    @model_validator(mode="after")
    def with_identity(self) -> Keeper:
        self.one_source("cluster.keeper")
        if not self.given():
            raise PydanticCustomError(
                "hardhouse",
                "Keeper has no identity: ClickHouse's znodes would be open to anyone",
                {"fix": "give password_env or password_file (the digest password for user)"},
            )
        return self

    @field_validator("port", "raft_port")
    @classmethod
    def valid_port(cls, value: int) -> int:
        return check_port(value)  # type: ignore[return-value]


class Cluster(SecretSource):
    password_env: str | None = described(
        None,
        description="environment variable holding cluster.user's password (remote_servers needs the plaintext)",
    )
    name: str = described(description="cluster name in remote_servers (and the {cluster} macro)")
    replica: str = described(
        description="host of the replica this render is for (one of shards[].replicas[].host); the deploy sets it "
        "per node"
    )
    shards: list[Shard] = described(description="shards, each with its replicas")
    user: str | None = described(
        None,
        description="user that Distributed queries log in as on the other nodes (one of users, its password in "
        "password_env/password_file); or use secret_env/secret_file",
    )
    secret_env: str | None = described(
        None, description="environment variable holding the cluster secret (remote_servers secret, 22.8+)"
    )
    secret_file: str | None = described(None, description="file holding the cluster secret (as password_file)")
    secure: bool = described(
        True,
        description="Distributed queries between nodes over native TLS (remote_servers secure, port native_tls)",
        why="query results and credentials cross the network",
    )
    interserver: Interserver | None = described(
        None, description="replication port over HTTPS with credentials; null keeps it closed"
    )
    zookeeper: ZooKeeper | None = described(None, description="ZooKeeper coordination with a digest identity")
    keeper: Annotated[Keeper | None, Gate("keeper", "use cluster.zookeeper, or target a newer clickhouse_version")] = (
        described(None, description="ClickHouse Keeper on the replicas instead of ZooKeeper, over TLS (22.8+)")
    )

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        return check_name(value, "cluster name")

    @field_validator("user")
    @classmethod
    def valid_user(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value, "user name")

    @field_validator("secret_env")
    @classmethod
    def valid_secret_env(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value, "CH_CLUSTER_SECRET")

    @field_validator("secret_file")
    @classmethod
    def valid_secret_file(cls, value: str | None) -> str | None:
        return None if value is None else check_local_path(value)

    @field_validator("shards")
    @classmethod
    def some_shards(cls, value: list[Shard]) -> list[Shard]:
        if not value:
            raise fail("no shard is listed", "list at least one shard with its replicas")
        return value

    def replicas(self) -> list[tuple[int, int, Replica]]:
        """(shard index, replica index, replica) in order."""
        return [(s, r, replica) for s, shard in enumerate(self.shards) for r, replica in enumerate(shard.replicas)]

    def this_replica(self) -> tuple[int, int, Replica] | None:
        return next((found for found in self.replicas() if found[2].host == self.replica), None)

    def has_secret(self) -> bool:
        return self.secret_env is not None or self.secret_file is not None


def checks(spec: HardeningSpec) -> list[Problem]:
    """A replica listed twice, this node's replica missing or unreachable, credentials given
    twice or not at all, the TLS, ports and users the cluster relies on, and version gates."""
    cluster = spec.cluster
    if cluster is None:
        return []
    problems: list[Problem] = []
    version = spec.version
    seen_hosts: dict[str, str] = {}
    seen_addresses: dict[str, str] = {}
    for s, r, replica in cluster.replicas():
        where = f"cluster.shards[{s}].replicas[{r}]"
        for value, seen, field in ((replica.host, seen_hosts, "host"), (replica.address, seen_addresses, "address")):
            if value in seen:
                problems.append(
                    Problem(
                        f"{where}.{field}",
                        f"replica {excerpt(value)} is listed twice (also at {seen[value]})",
                        "list each replica once, in the shard that holds its data",
                    )
                )
            else:
                seen[value] = f"{where}.{field}"
    mine = cluster.this_replica()
    if mine is None:
        problems.append(
            Problem(
                "cluster.replica",
                f"{excerpt(cluster.replica)} is not the host of any replica",
                f"use one of: {listing([r.host for _, _, r in cluster.replicas()], quoted=True)}",
            )
        )
    elif mine[2].address not in spec.listen_hosts:
        problems.append(
            Problem(
                f"cluster.shards[{mine[0]}].replicas[{mine[1]}].address",
                f"this node's address {mine[2].address} is not in listen_hosts, so its peers cannot reach it",
                "add it to listen_hosts",
            )
        )

    if cluster.user is not None and cluster.has_secret():
        problems.append(
            Problem(
                "cluster.secret_env",
                "both a cluster user and a cluster secret are given",
                "give user with password_env/password_file, or secret_env/secret_file, not both",
            )
        )
    if cluster.secret_env is not None and cluster.secret_file is not None:
        problems.append(Problem("cluster.secret_file", "both secret_env and secret_file are given", "give one"))
    if cluster.has_secret() and not versions.has(version, "cluster_secret"):
        field = "cluster.secret_env" if cluster.secret_env is not None else "cluster.secret_file"
        problems.append(
            Problem(
                field,
                versions.needs_message("cluster_secret", version),
                "use cluster.user with password_env (a per-shard user), or target a newer clickhouse_version",
            )
        )
    if cluster.user is None and not cluster.has_secret():
        problems.append(
            Problem(
                "cluster.user",
                "Distributed queries would log in to the other nodes as default, which hardhouse removes",
                "name the user they log in as (cluster.user with password_env/password_file)"
                + (", or give secret_env/secret_file" if versions.has(version, "cluster_secret") else ""),
            )
        )
    if cluster.user is not None:
        if cluster.user not in {user.name for user in spec.users}:
            problems.append(
                Problem(
                    "cluster.user",
                    f"user {cluster.user!r} is not declared under users",
                    "declare it under users with the same password and the other nodes' addresses in its networks",
                )
            )
        if not cluster.given():
            problems.append(
                Problem(
                    "cluster.password_env",
                    "the cluster user has no password source",
                    "give password_env or password_file: remote_servers needs the plaintext to log in",
                )
            )
    elif cluster.given():
        problems.append(
            Problem("cluster.password_env", "a password is given but no cluster.user", "set cluster.user, or remove it")
        )
    if cluster.password_env is not None and cluster.password_file is not None:
        problems.append(Problem("cluster.password_file", "both password_env and password_file are given", "give one"))

    if cluster.secure and spec.ports.native_tls is None:
        problems.append(
            Problem(
                "cluster.secure",
                "Distributed queries go over native TLS but ports.native_tls is closed",
                "open ports.native_tls (every node uses the same port)",
            )
        )
    if not cluster.secure and spec.ports.native is None:
        problems.append(
            Problem(
                "cluster.secure",
                "Distributed queries would use the plaintext native port, which is closed",
                "keep secure: true (native TLS between nodes)",
            )
        )
    if spec.tls is None or spec.tls.ca_certificate is None:
        problems.append(
            Problem(
                "tls.ca_certificate",
                "a cluster needs the CA that signs the nodes' certificates: replicas verify each other with it",
                "set tls.ca_certificate (and tls.certificate, tls.private_key)",
            )
        )

    interserver = cluster.interserver
    if interserver is not None:
        if spec.ports.interserver_http is not None:
            problems.append(
                Problem(
                    "ports.interserver_http",
                    "the plaintext interserver port is open beside cluster.interserver.https_port",
                    "set ports.interserver_http: null; replicas use the HTTPS port",
                )
            )
        taken = {port: name for name, port in spec.ports.open().items()}
        if interserver.https_port in taken:
            problems.append(
                Problem(
                    "cluster.interserver.https_port",
                    f"port {interserver.https_port} is also used by ports.{taken[interserver.https_port]}",
                    "give the interserver port its own number",
                )
            )
        refused = refusals(interserver, "old", version, "cluster.interserver")
        problems += refused
        if not refused and interserver.old is not None and not interserver.old.given():
            problems.append(
                Problem("cluster.interserver.old", "the old credentials have no password source", "give one")
            )
    elif spec.ports.interserver_http is not None:
        problems.append(
            Problem(
                "ports.interserver_http",
                "the interserver port is open without credentials: anyone reaching it could fetch table parts",
                "close it (null) and give cluster.interserver (HTTPS port and credentials)",
            )
        )

    if (
        cluster.zookeeper is not None
        and spec.ports.native is None
        and not versions.has(version, "replication_without_tcp_port")
    ):
        problems.append(
            Problem(
                "ports.native",
                f"ClickHouse {version}'s replication registers the plaintext native port in ZooKeeper and will not "
                "run without it; " + versions.needs_message("replication_without_tcp_port", version),
                "open ports.native (listen_hosts and every user's networks still restrict it; Distributed "
                "queries keep to native TLS), or target a newer clickhouse_version",
            )
        )
    if cluster.zookeeper is not None and cluster.keeper is not None:
        problems.append(
            Problem("cluster.keeper", "both zookeeper and keeper are given", "coordinate through one of them")
        )
    problems += refusals(cluster, "keeper", version, "cluster")
    if cluster.keeper is not None and cluster.keeper.port == cluster.keeper.raft_port:
        problems.append(Problem("cluster.keeper.raft_port", "it equals keeper.port", "give each its own port"))
    return problems
