"""Audit rules for clusters, read from the merged configuration: remote_servers that cross the
network in the clear or log in as nobody, interserver TLS whose client trusts anyone, and a
ZooKeeper (or Keeper) used without an identity. No finding carries a secret's value."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from hardhouse.audit.merge import ServerTree
from hardhouse.audit.model import Finding


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def remote_servers_insecure(tree: ServerTree) -> Iterator[Finding]:
    root = tree.config.root
    servers = root.find("remote_servers")
    if servers is None:
        return
    for cluster in servers.elements():
        has_secret = bool(cluster.find("secret") is not None and cluster.find("secret").text)  # type: ignore[union-attr]
        for shard in cluster.elements("shard"):
            for replica in shard.elements("replica"):
                host = replica.find("host")
                if host is not None and is_loopback(host.text):
                    continue  # the stock test clusters: never leaves the machine, same server's own users
                where = f"remote_servers.{cluster.tag} replica {host.text if host is not None else '?'}"
                secure = replica.find("secure")
                if secure is None or secure.text not in ("1", "true"):
                    origin = secure.value_origin if secure is not None else replica.origin
                    yield Finding(
                        "remote-servers-insecure",
                        where,
                        secure.text if secure is not None else None,
                        origin,
                        "Distributed queries to it cross the network in the clear (no <secure>1</secure>)",
                    )
                user = replica.find("user")
                if not has_secret and (user is None or user.text in ("", "default")):
                    yield Finding(
                        "remote-servers-insecure",
                        where,
                        None,
                        user.value_origin if user is not None else replica.origin,
                        "logs in as the default user (no user with a password, no cluster secret)",
                    )


def interserver_tls_unverified(tree: ServerTree) -> Iterator[Finding]:
    root = tree.config.root
    port = root.find("interserver_https_port")
    if port is None or not port.text:
        return
    client = root.find("openSSL/client")
    mode = client.find("verificationMode") if client is not None else None
    handler = client.find("invalidCertificateHandler/name") if client is not None else None
    if mode is not None and mode.text == "none":
        yield Finding(
            "interserver-tls-unverified",
            "openSSL.client.verificationMode",
            mode.text,
            mode.value_origin,
            "replicas fetch parts from whoever answers: the peer's certificate is not verified",
        )
    if handler is not None and handler.text == "AcceptCertificateHandler":
        yield Finding(
            "interserver-tls-unverified",
            "openSSL.client.invalidCertificateHandler",
            handler.text,
            handler.value_origin,
            "an invalid peer certificate is accepted",
        )


def zookeeper_anonymous(tree: ServerTree) -> Iterator[Finding]:
    # Every <zookeeper> with nodes: the stock one (incl, optional) does not merge with a file's
    # own and stays beside it until its include is resolved.
    for zookeeper in tree.config.root.elements("zookeeper"):
        if not zookeeper.elements("node"):
            continue
        identity = zookeeper.find("identity")
        if identity is not None and ":" in identity.text:
            continue
        yield Finding(
            "zookeeper-anonymous",
            "zookeeper.identity",
            None,
            identity.value_origin if identity is not None else zookeeper.origin,
            "no digest identity: ClickHouse's znodes are created world-readable and world-writable",
        )


CLUSTER_RULES: dict[str, Callable[[ServerTree], Iterator[Finding]]] = {
    "remote-servers-insecure": remote_servers_insecure,
    "interserver-tls-unverified": interserver_tls_unverified,
    "zookeeper-anonymous": zookeeper_anonymous,
}
