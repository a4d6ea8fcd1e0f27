"""Rules of the cluster section that span fields (a replica listed twice, this node's replica,
version gates, the TLS and users the cluster relies on); each problem names the field."""

from __future__ import annotations

from hardhouse.clickhouse import versions
from hardhouse.spec.errors import Problem, excerpt, listing
from hardhouse.spec.model import HardeningSpec


def cluster_checks(spec: HardeningSpec) -> list[Problem]:
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
        if interserver.old is not None:
            if not versions.has(version, "interserver_credentials_rotation"):
                problems.append(
                    Problem(
                        "cluster.interserver.old",
                        versions.needs_message("interserver_credentials_rotation", version),
                        "remove old and change the credentials on every replica at once, or target a newer version",
                    )
                )
            elif not interserver.old.given():
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
    if cluster.keeper is not None:
        if not versions.has(version, "keeper"):
            problems.append(
                Problem(
                    "cluster.keeper",
                    versions.needs_message("keeper", version),
                    "use cluster.zookeeper, or target a newer clickhouse_version",
                )
            )
        if cluster.keeper.port == cluster.keeper.raft_port:
            problems.append(Problem("cluster.keeper.raft_port", "it equals keeper.port", "give each its own port"))
    return problems
