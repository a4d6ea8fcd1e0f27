"""ClickHouse's ports: the spec's name for each, the server's config element, the stock number
and the protocol spoken there. The renderer, the verification and the probe read this table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    name: str  # field under `ports` in the spec
    element: str  # config.xml element
    stock: int | None  # the number a stock server (or its documentation) uses
    protocol: str  # http | native | interserver | mysql | postgresql | grpc
    tls: bool
    what: str  # what it carries, for rendered comments

    @property
    def login(self) -> bool:
        """hardhouse can try a ClickHouse login here (HTTP or native)."""
        return self.protocol in ("http", "native")


PORTS: tuple[Port, ...] = (
    Port("http", "http_port", 8123, "http", False, "plaintext HTTP"),
    Port("native", "tcp_port", 9000, "native", False, "plaintext native protocol"),
    Port("https", "https_port", 8443, "http", True, "HTTP over TLS"),
    Port("native_tls", "tcp_port_secure", 9440, "native", True, "native protocol over TLS"),
    Port(
        "interserver_http",
        "interserver_http_port",
        9009,
        "interserver",
        False,
        "replication traffic, unauthenticated by default",
    ),
    Port("mysql", "mysql_port", 9004, "mysql", False, "MySQL compatibility protocol"),
    Port("postgresql", "postgresql_port", 9005, "postgresql", False, "PostgreSQL compatibility protocol"),
    Port("grpc", "grpc_port", 9100, "grpc", False, "gRPC interface"),
)
BY_NAME: dict[str, Port] = {port.name: port for port in PORTS}

# Prometheus metrics (not a spec port: hardhouse never opens it, the probe looks for it).
METRICS_PORT = 9363
# ZooKeeper's client port, ClickHouse Keeper's and Keeper's TLS one (not ClickHouse's ports:
# the probe looks for the coordination service a cluster's replication trusts).
ZOOKEEPER_PORTS: tuple[int, ...] = (2181, 9181, 9281)
# What the probe tries on a bare host: every documented port, metrics and the coordination ports.
PROBE_PORTS: tuple[int, ...] = (*(p.stock for p in PORTS if p.stock is not None), METRICS_PORT, *ZOOKEEPER_PORTS)
