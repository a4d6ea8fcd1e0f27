"""pytest plugin (registered as `hardhouse`): fixtures that start ClickHouse in a container
from a hardening spec, for this project's tests and for teams' own pipelines.

    def test_my_spec(hardened_clickhouse):
        server = hardened_clickhouse("deploy/clickhouse.yaml")
        assert_anonymous_refused(server.target())
        assert_tls_only(server.target())

The spec is adapted to the test container: it listens on the container's address and uses
freshly issued test TLS material; everything else (ports, users, networks) is the spec's.
Configuration (nothing is changed at import; every setting has a documented source):
* the image: HARDHOUSE_CLICKHOUSE_IMAGE, else `--hardhouse-image`, else the ini option
  `hardhouse_clickhouse_image` (e.g. clickhouse/clickhouse-server:24.8); without one the
  fixtures skip and say how to set it. A conftest.py may override the `clickhouse_image_name`
  fixture instead (this project's tests build a Debian image locally).
* `hardhouse_disable_ryuk = true` (ini): tell testcontainers not to start its reaper (which
  needs a registry to pull from); the fixtures remove what they start either way.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.probe.worker import discard_spare, prewarm
from hardhouse.render import RenderedFile, render
from hardhouse.spec import HardeningSpec, load_spec
from hardhouse.spec.errors import SpecError
from hardhouse.spec.source import decode_spec, parse_spec_text, read_spec_bytes
from hardhouse.testing.assertions import Target
from hardhouse.testing.containers import IMAGE_VARIABLE, TLS_DIR, ClickHouseContainer, DockerNetwork, docker_network

# How the official image opens the server to the network; kept in so a render must undo it.
OFFICIAL_LISTEN = RenderedFile(
    "config.d/docker_related_config.xml", "<clickhouse>\n    <listen_host>0.0.0.0</listen_host>\n</clickhouse>\n", 0o644
)


@dataclass
class HardenedServer:
    container: ClickHouseContainer
    spec: HardeningSpec
    tls: TlsFiles
    passwords: dict[str, str] = field(repr=False)

    @property
    def address(self) -> str:
        return self.container.address

    def open_ports(self) -> tuple[int, ...]:
        """Every port reachable from outside the container, read from its own /proc.

        Loopback listeners are left out: nobody outside can reach them (Docker's embedded
        DNS resolver listens on 127.0.0.11 in every container of a user-defined network).
        """
        return tuple(
            sorted({port for host, port in self.container.listening() if not ipaddress.ip_address(host).is_loopback})
        )

    def assert_no_secrets_at_rest(self, user: str, databases: tuple[str, ...] = (), **options: Any) -> None:
        """hardhouse.testing.assertions.assert_no_secrets_at_rest as `user` (a reader the spec
        declares, its password from the environment the server was started with) on the
        server's native TLS port, its certificate checked against the test CA."""
        from hardhouse.testing.assertions import assert_no_secrets_at_rest

        port = self.spec.ports.native_tls
        if port is None:
            raise AssertionError("the spec closes the native TLS port: the scan logs in over native TLS")
        assert_no_secrets_at_rest(
            self.address, port, user, self.passwords[user], self.tls.ca_certificate, databases=databases, **options
        )

    def target(self) -> Target:
        minimum = (
            ssl.TLSVersion.TLSv1_3
            if self.spec.tls and self.spec.tls.min_protocol == "tlsv1_3"
            else ssl.TLSVersion.TLSv1_2
        )
        return Target(self.address, self.open_ports(), self.tls.ca_certificate, minimum)


def adapt_spec(spec: Mapping[str, Any], address: str) -> dict[str, Any]:
    """The spec as the test container needs it: its address, its TLS paths."""
    adapted = copy.deepcopy(dict(spec))
    adapted["listen_hosts"] = [address]
    if isinstance(adapted.get("tls"), dict):  # anything else is the spec's error to report
        adapted["tls"].update(certificate=f"{TLS_DIR}/server.crt", private_key=f"{TLS_DIR}/server.key")
        if adapted["tls"].get("ca_certificate"):
            adapted["tls"]["ca_certificate"] = f"{TLS_DIR}/ca.crt"
    return adapted


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hardhouse", "hardened ClickHouse fixtures")
    group.addoption(
        "--hardhouse-image",
        dest="hardhouse_image",
        default=None,
        help=f"ClickHouse image for the hardened_clickhouse fixture (or {IMAGE_VARIABLE})",
    )
    parser.addini("hardhouse_clickhouse_image", "ClickHouse image for the hardened_clickhouse fixture", default="")
    parser.addini(
        "hardhouse_disable_ryuk",
        "do not start testcontainers' reaper (no registry to pull it from)",
        type="bool",
        default=False,
    )


def docker_available() -> str | None:
    """None when a Docker engine answers, else the reason it does not."""
    try:
        import docker

        client = docker.from_env()
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001 - any failure means "no engine here"
        return f"no Docker engine answers: {error}"
    return None


def _require_docker() -> None:
    reason = docker_available()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def clickhouse_image_name(pytestconfig: pytest.Config) -> str:
    """The ClickHouse image under test, from the environment, the command line or the ini file."""
    _require_docker()
    image = (
        os.environ.get(IMAGE_VARIABLE)
        or pytestconfig.getoption("hardhouse_image")
        or pytestconfig.getini("hardhouse_clickhouse_image")
    )
    if not image:
        pytest.skip(
            f"no ClickHouse image configured: set {IMAGE_VARIABLE} (e.g. clickhouse/clickhouse-server:24.8), "
            "--hardhouse-image or the ini option hardhouse_clickhouse_image"
        )
    return str(image)


@pytest.fixture(scope="session")
def clickhouse_network(clickhouse_image_name: str, pytestconfig: pytest.Config) -> Iterator[DockerNetwork]:
    """A Docker network of the test session's own, with a fixed subnet."""
    if pytestconfig.getini("hardhouse_disable_ryuk"):
        from testcontainers.core.config import testcontainers_config

        testcontainers_config.ryuk_disabled = True
    with docker_network() as network:
        yield network
    # The session is over: a spare worker child the factories started and no check used ends now.
    discard_spare()


def spec_and_files(
    spec: str | Path | Mapping[str, Any], address: str, environ: Mapping[str, str]
) -> tuple[HardeningSpec, list[RenderedFile]]:
    """The spec (a YAML path, read bounded like `hardhouse render --spec`, or a mapping) for this
    address, and its rendered files. A spec the user's test got wrong (an unset password
    variable, a bad field) fails the test with one line naming each field and its fix, not a
    traceback into hardhouse."""
    try:
        if isinstance(spec, (str, Path)):
            data = parse_spec_text(decode_spec(read_spec_bytes(spec, "spec file", "hardened_clickhouse"), spec), spec)
        else:
            data = spec
        if not isinstance(data, Mapping):
            pytest.fail(
                f"hardened_clickhouse: the spec is a {type(data).__name__}, not a mapping of fields", pytrace=False
            )
        loaded = load_spec(adapt_spec(data, address))
        return loaded, render(loaded, environ)
    except SpecError as error:
        problems = "; ".join(str(problem) for problem in error.problems)
        pytest.fail(f"hardened_clickhouse: the spec is not valid: {problems}", pytrace=False)


class ServerFactory:
    """Starts hardened servers on one network; close() removes every one it started."""

    def __init__(self, network: DockerNetwork, image: str, tmp_path_factory: pytest.TempPathFactory):
        self.network, self.image, self.tmp_path_factory = network, image, tmp_path_factory
        self.started: list[ClickHouseContainer] = []

    def __call__(
        self,
        spec: str | Path | Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        *,
        tamper: Callable[[list[RenderedFile]], list[RenderedFile]] = lambda files: files,
        data_volume: str | None = None,
        address: str | None = None,
        extra_networks: dict[str, str] | None = None,
    ) -> HardenedServer:
        """Start a container hardened with spec (a YAML path or a mapping).

        environ supplies the passwords the spec names (default: os.environ); tamper may
        alter the rendered files first (to show that a check catches a weakened config).
        """
        # The TLS checks that usually follow run in a worker child: start it now, so that its
        # start-up overlaps the container's.
        prewarm()
        address = address or self.network.allocate()
        environ = dict(os.environ if environ is None else environ)
        loaded, rendered = spec_and_files(spec, address, environ)
        tls = write_server_material(self.tmp_path_factory.mktemp("tls"), [address])
        files = tamper([OFFICIAL_LISTEN, *rendered])
        container = ClickHouseContainer(
            self.network, address, files, tls, image=self.image, data_volume=data_volume, extra_networks=extra_networks
        )
        self.started.append(container)
        container.start()
        container.wait_ready(list(loaded.ports.open().values()))
        passwords = {
            u.name: environ[u.password_env] for u in loaded.users if u.password_env and u.password_env in environ
        }
        return HardenedServer(container, loaded, tls, passwords)

    def close(self) -> None:
        import docker.errors

        for container in self.started:
            try:
                container.stop()
            except docker.errors.NotFound:
                pass  # already removed by the test


@pytest.fixture
def hardened_clickhouse(
    clickhouse_network: DockerNetwork, clickhouse_image_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    """Factory: start a container hardened with a spec (path or dict); removed after the test."""
    factory = ServerFactory(clickhouse_network, clickhouse_image_name, tmp_path_factory)
    yield factory
    factory.close()
