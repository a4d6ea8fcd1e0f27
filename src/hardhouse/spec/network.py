"""The spec's network section: where the server listens (listen_hosts), which ports are open
(ports) and the TLS they use (tls); their models, and the rules that span them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse.spec.declare import Address, StrictModel, described
from hardhouse.spec.errors import Problem, excerpt
from hardhouse.spec.fields import HOST_PATH_RULE, check_host_path, fail, listens_everywhere
from hardhouse.spec.gates import Gate, declares_gate, refusals

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec


def check_port(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 65535:
        raise fail(f"{excerpt(value)} is not a TCP port", "use a number from 1 to 65535, or null to close it")
    return value


def _listen_hosts(value: list[str]) -> list[str]:
    if not value:
        raise fail(
            "no listen address is given",
            'list the addresses clients reach the server on, e.g. ["10.0.0.5"]',
        )
    if len(set(value)) != len(value):
        raise fail("an address is listed twice", "list each address once")
    return value


ListenHosts = Annotated[list[Address], AfterValidator(_listen_hosts)]


class Ports(StrictModel):
    http: int | None = described(
        None,
        description="plaintext HTTP port (stock 8123)",
        why="plaintext leaks credentials and data; closed unless asked for",
    )
    native: int | None = described(
        None,
        description="plaintext native-protocol port (stock 9000)",
        why="plaintext leaks credentials and data; closed unless asked for",
    )
    https: int | None = described(8443, description="HTTPS port", why="the HTTP interface, over TLS")
    native_tls: int | None = described(
        9440, description="native protocol over TLS", why="the native interface, over TLS"
    )
    interserver_http: int | None = described(
        None,
        description="replication port (stock 9009)",
        why="unauthenticated by default; single servers do not need it",
    )
    mysql: Annotated[int | None, Gate("mysql_port", "set ports.mysql: null, or target a newer clickhouse_version")] = (
        described(
            None,
            description="MySQL compatibility port (stock 9004 on modern versions)",
            why="a second way in with its own auth quirks; closed unless asked for",
        )
    )
    postgresql: Annotated[
        int | None, Gate("postgresql_port", "set ports.postgresql: null, or target a newer clickhouse_version")
    ] = described(
        None,
        description="PostgreSQL compatibility port (stock 9005 on modern versions)",
        why="a second way in with its own auth quirks; closed unless asked for",
    )
    grpc: Annotated[int | None, Gate("grpc_port", "set ports.grpc: null, or target a newer clickhouse_version")] = (
        described(
            None,
            description="gRPC port",
            why="a second way in; closed unless asked for",
        )
    )

    @field_validator("*")
    @classmethod
    def port_range(cls, value: int | None) -> int | None:
        return check_port(value)

    def open(self) -> dict[str, int]:
        return {name: port for name, port in self.model_dump().items() if port is not None}


class Tls(StrictModel):
    certificate: str = described(
        description=f"server certificate (PEM), path on the ClickHouse host ({HOST_PATH_RULE})"
    )
    private_key: str = described(description="its private key (PEM), path on the ClickHouse host (same rule)")
    ca_certificate: str | None = described(
        None,
        description="CA bundle (PEM) used to verify clients; required when verify_clients is true",
    )
    min_protocol: Literal["tlsv1_2", "tlsv1_3"] = described(
        "tlsv1_2",
        description="oldest TLS version accepted",
        why="TLS 1.0/1.1 are broken or deprecated (RFC 8996)",
    )
    verify_clients: bool = described(
        False,
        description="require a client certificate signed by ca_certificate",
        why="passwords already authenticate; mTLS is an extra layer to opt into",
    )

    @field_validator("certificate", "private_key", "ca_certificate")
    @classmethod
    def plain_host_path(cls, value: str | None) -> str | None:
        return None if value is None else check_host_path(value)

    @model_validator(mode="after")
    def ca_for_client_verification(self) -> Tls:
        if self.verify_clients and not self.ca_certificate:
            raise PydanticCustomError(
                "hardhouse",
                "verify_clients is true but no ca_certificate is given",
                {
                    "fix": (
                        "set tls.ca_certificate to the CA that signs client certificates, or set verify_clients: false"
                    )
                },
            )
        return self


def checks(spec: HardeningSpec) -> list[Problem]:
    """Every interface listened on, every port closed or taken twice, a port the target lacks,
    a TLS port without its certificate."""
    problems: list[Problem] = []
    for index, host in enumerate(spec.listen_hosts):
        if listens_everywhere(host) and not spec.allow_all_interfaces:
            problems.append(
                Problem(
                    f"listen_hosts[{index}]",
                    f"{host} listens on every interface",
                    "list the specific addresses clients use, or set allow_all_interfaces: true if that is intended",
                )
            )
    open_ports = spec.ports.open()
    if not open_ports:
        problems.append(
            Problem(
                "ports",
                "every port is closed, so nobody can reach the server",
                "open at least https or native_tls",
            )
        )
    seen: dict[int, str] = {}
    for name, port in open_ports.items():
        if port in seen:
            problems.append(
                Problem(
                    f"ports.{name}",
                    f"port {port} is also used by ports.{seen[port]}",
                    "give each interface its own port",
                )
            )
        seen[port] = name
        if declares_gate(spec.ports, name):
            problems += refusals(spec.ports, name, spec.version, "ports")
    if spec.tls_ports_open() and spec.tls is None:
        problems.append(
            Problem(
                "tls",
                "a TLS port (https or native_tls) is open but no certificate and key are given",
                "add tls.certificate and tls.private_key, or close ports.https and ports.native_tls",
            )
        )
    return problems
