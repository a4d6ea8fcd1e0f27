"""Who can reach the server and through which door: each user only from its networks, listen
addresses named, plaintext and interserver ports closed or authenticated, metrics not open."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, INCIDENT, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.NET_1,
        "Each user only from its networks",
        Severity.HIGH,
        "A stolen password is useless from an address the user may not log in from. Every user "
        "names its networks; any-address networks need `allow_any_network: true`.",
        (f"{DOCS}/operations/settings/settings-users#user-namenetworks",),
        ("users[].networks", "users[].allow_any_network", "default_user"),
        templates=("users", "stock_users"),
    ),
    Control(
        ControlId.LISTEN_1,
        "Listen only on named addresses",
        Severity.HIGH,
        "`listen_host` 0.0.0.0 or :: (the official Docker image's own config.d file) serves every "
        "interface, including ones nobody meant to expose. The spec names the addresses.",
        (f"{SERVER_SETTINGS}#listen_host",),
        ("listen_hosts", "allow_all_interfaces"),
        templates=("listen",),
    ),
    Control(
        ControlId.PORT_1,
        "Plaintext client ports closed",
        Severity.MEDIUM,
        "Passwords and query results cross the network in the clear on 8123 (HTTP), 9000 (native), "
        "9004 (MySQL), 9005 (PostgreSQL) and gRPC. Clients use 8443 and 9440 over TLS.",
        (INCIDENT, f"{DOCS}/operations/network-ports", f"{DOCS}/guides/sre/configuring-ssl"),
        ("ports.http", "ports.native", "ports.mysql", "ports.postgresql", "ports.grpc"),
        templates=("ports",),
    ),
    Control(
        ControlId.PORT_2,
        "Interserver port closed or authenticated",
        Severity.HIGH,
        "The interserver HTTP port (9009) hands table parts, the log rows themselves, to whoever asks "
        "unless `interserver_http_credentials` are set; a standalone server does not need it open.",
        (f"{SERVER_SETTINGS}#interserver_http_credentials",),
        ("ports.interserver_http", "cluster.interserver"),
        templates=("ports", "cluster_secrets"),
    ),
    Control(
        ControlId.PORT_3,
        "Metrics endpoint not open to everyone",
        Severity.LOW,
        "The Prometheus endpoint (9363) answers without credentials and tells an attacker about "
        "tables, queries and load.",
        (f"{SERVER_SETTINGS}#prometheus",),
        (),
    ),
)
