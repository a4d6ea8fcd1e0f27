"""Nodes of a cluster talk to each other over authenticated, verified TLS: distributed queries and
the replicas' part exchange."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.CLUSTER_1,
        "Distributed queries between nodes authenticated over TLS",
        Severity.HIGH,
        "`remote_servers` replicas without `secure` send queries, results and passwords in the clear, "
        "and without a user (or the cluster secret) they log in as `default`. Nodes talk over native "
        "TLS as a named user whose password, like the cluster secret, lives only in the secrets file.",
        (f"{DOCS}/engines/table-engines/special/distributed", f"{SERVER_SETTINGS}#remote_servers"),
        ("cluster.secure", "cluster.user", "cluster.password_env", "cluster.secret_env", "cluster.shards"),
        templates=("cluster_secrets",),
    ),
    Control(
        ControlId.CLUSTER_2,
        "Replicas exchange parts only over verified TLS",
        Severity.HIGH,
        "Replicas fetch table parts, with the interserver credentials, from the host a peer registers. "
        "Over `interserver_https_port` with a client that trusts only the cluster's CA, neither the "
        "parts nor the credentials can be read or redirected on the way.",
        (f"{SERVER_SETTINGS}#interserver_https_port", f"{SERVER_SETTINGS}#openssl"),
        ("cluster.interserver.https_port", "cluster.replica", "tls.ca_certificate"),
        templates=("cluster",),
    ),
)
