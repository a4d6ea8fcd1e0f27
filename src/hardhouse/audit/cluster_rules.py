"""Audit rules for clusters, read from the merged configuration as ClickHouse reads it
(hardhouse.audit.values): remote_servers that cross the network in the clear or log in as
nobody, interserver TLS whose client trusts anyone, and a ZooKeeper (or Keeper) used without an
identity. No finding carries a secret's value."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from hardhouse.audit.merge import ServerTree
from hardhouse.audit.model import Finding
from hardhouse.audit.values import known
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, judges


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _on(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true")


@judges(Tool.AUDIT, "remote-servers-insecure", ControlId.CLUSTER_1)
def remote_servers_insecure(tree: ServerTree) -> Iterator[Finding]:
    values = tree.config_values
    servers = known(values.find("remote_servers"), "remote_servers")
    if servers is None:
        return
    for name, cluster in known(values.keys(servers), "remote_servers"):
        subject = f"remote_servers.{name}"
        has_secret = bool(known(values.text("secret", cluster), subject))
        for shard in known(values.all_named("shard", cluster), subject):
            for replica in known(values.all_named("replica", shard), subject):
                host_element = known(values.find("host", replica), subject)
                host = None if host_element is None else known(values.get(host_element), subject)
                if host is not None and is_loopback(host):
                    continue  # the stock test clusters: never leaves the machine, same server's own users
                where = f"{subject} replica {host if host is not None else '?'}"
                secure = known(values.find("secure", replica), where)
                secure_text = None if secure is None else known(values.get(secure), where)
                if not _on(secure_text):
                    origin = secure.value_origin if secure is not None else replica.origin
                    yield Finding(
                        "remote-servers-insecure",
                        where,
                        secure_text,
                        origin,
                        "Distributed queries to it cross the network in the clear (no <secure>1</secure>)",
                    )
                user = known(values.find("user", replica), where)
                user_text = None if user is None else known(values.get(user), where)
                if not has_secret and (user_text is None or user_text in ("", "default")):
                    yield Finding(
                        "remote-servers-insecure",
                        where,
                        None,
                        user.value_origin if user is not None else replica.origin,
                        "logs in as the default user (no user with a password, no cluster secret)",
                    )


@judges(Tool.AUDIT, "interserver-tls-unverified", ControlId.CLUSTER_2)
def interserver_tls_unverified(tree: ServerTree) -> Iterator[Finding]:
    values = tree.config_values
    port = known(values.text("interserver_https_port"), "interserver_https_port")
    if not (port or "").strip():
        return
    subject = "openSSL.client"
    client = known(values.find("openSSL/client"), subject)
    mode = None if client is None else known(values.find("verificationMode", client), subject)
    handler = None if client is None else known(values.find("invalidCertificateHandler/name", client), subject)
    mode_text = None if mode is None else known(values.get(mode), subject)
    handler_text = None if handler is None else known(values.get(handler), subject)
    if mode is not None and (mode_text or "").strip() == "none":
        yield Finding(
            "interserver-tls-unverified",
            "openSSL.client.verificationMode",
            mode_text,
            mode.value_origin,
            "replicas fetch parts from whoever answers: the peer's certificate is not verified",
        )
    if handler is not None and (handler_text or "").strip() == "AcceptCertificateHandler":
        yield Finding(
            "interserver-tls-unverified",
            "openSSL.client.invalidCertificateHandler",
            handler_text,
            handler.value_origin,
            "an invalid peer certificate is accepted",
        )


@judges(Tool.AUDIT, "zookeeper-anonymous", ControlId.ZK_1)
def zookeeper_anonymous(tree: ServerTree) -> Iterator[Finding]:
    values = tree.config_values
    # Every <zookeeper> with nodes: the stock one (incl, optional) does not merge with a file's
    # own and stays beside it until its include is resolved.
    for zookeeper in known(values.all_named("zookeeper"), "zookeeper"):
        subject = "zookeeper.identity"
        if not known(values.all_named("node", zookeeper), subject):
            continue
        identity = known(values.find("identity", zookeeper), subject)
        if identity is not None and ":" in known(values.get(identity), subject):
            continue
        yield Finding(
            "zookeeper-anonymous",
            subject,
            None,
            identity.value_origin if identity is not None else zookeeper.origin,
            "no digest identity: ClickHouse's znodes are created world-readable and world-writable",
        )


CLUSTER_RULES: dict[str, Callable[[ServerTree], Iterator[Finding]]] = {
    "remote-servers-insecure": remote_servers_insecure,
    "interserver-tls-unverified": interserver_tls_unverified,
    "zookeeper-anonymous": zookeeper_anonymous,
}
