"""The acceptance suite on containers: ClickHouse in the image under test (local Debian
18.16 by default, HARDHOUSE_CLICKHOUSE_IMAGE otherwise), clients on a Docker network the
test session created. Each claim is checked from a real client over a real socket, and the
key checks are shown to fail when their control is removed."""

from __future__ import annotations

import re
import secrets
import ssl
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from docker.types import EndpointConfig

from hardhouse.clickhouse.driver import ServerException
from hardhouse.testing.assertions import assert_anonymous_refused, assert_tls_only
from hardhouse.testing.clients import http_query, native_query, parse_listening, port_open, tls_handshake
from hardhouse.testing.containers import (
    ClickHouseContainer,
    DockerNetwork,
    docker_network,
)
from hardhouse.testing.plugin import OFFICIAL_LISTEN, HardenedServer, ServerFactory
from tests.helpers import weaken

pytestmark = [pytest.mark.integration, pytest.mark.docker]

FAKE_KEYS = ["sk-live-FAKE0000000000000000000001", "sk-live-FAKE0000000000000000000002"]
PASSWORDS = {
    "HH_ADMIN": secrets.token_urlsafe(24),
    "HH_INGEST": secrets.token_urlsafe(24),
    "HH_ANALYST": secrets.token_urlsafe(24),
}
ALLOWED_CLIENT, OTHER_CLIENT = 200, 201  # address indexes of client containers on the test network
AUTH_CODES = {192, 193, 194, 195, 516}  # 18.16's refusals; 516 on modern servers


def spec(network: DockerNetwork, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "clickhouse_version": "18.16",
        "listen_hosts": ["127.0.0.1"],  # replaced by the container's address
        "tls": {"certificate": "/x/server.crt", "private_key": "/x/server.key"},  # replaced by test material
        "users": [
            {"name": "admin", "password_env": "HH_ADMIN", "networks": [network.gateway]},
            {
                "name": "ingest",
                "password_env": "HH_INGEST",
                "networks": [network.address(ALLOWED_CLIENT)],
                "profile": "writer",
                "databases": ["logs"],
            },
            {"name": "analyst", "password_env": "HH_ANALYST", "networks": [network.gateway], "profile": "readonly"},
        ],
        "profiles": {"writer": {"max_execution_time": 300}, "readonly": {"readonly": 1}},
    }
    data.update(overrides)
    return data


def admin(server: HardenedServer, query: str) -> list[tuple]:  # type: ignore[type-arg]
    return native_query(
        server.address,
        9440,
        query,
        user="admin",
        password=PASSWORDS["HH_ADMIN"],
        tls=True,
        ca=server.tls.ca_certificate,
    )


@pytest.fixture(scope="module")
def data_volume(clickhouse_image_name: str) -> Iterator[str]:
    client = docker.from_env()
    volume = client.volumes.create(f"hardhouse-test-data-{secrets.token_hex(4)}")
    yield volume.name
    volume.remove(force=True)


@pytest.fixture(scope="module")
def incident(clickhouse_network: DockerNetwork, clickhouse_image_name: str, data_volume: str) -> dict[str, Any]:
    """The stock server as the official image runs it (listening on every interface), with
    a log table holding fake API keys, on a data volume the hardened server reuses."""
    address = clickhouse_network.allocate()
    with ClickHouseContainer(
        clickhouse_network, address, [OFFICIAL_LISTEN], image=clickhouse_image_name, data_volume=data_volume
    ) as stock:
        stock.wait_ready([8123, 9000])
        native_query(address, 9000, "CREATE DATABASE logs")
        native_query(
            address, 9000, "CREATE TABLE logs.log_stream (ts DateTime, message String) ENGINE = MergeTree ORDER BY ts"
        )
        for key in FAKE_KEYS:
            native_query(address, 9000, f"INSERT INTO logs.log_stream SELECT now(), 'api_key={key}'")
        return {
            "address": address,
            "show_databases": http_query(address, 8123, "SHOW DATABASES"),
            "select": http_query(address, 8123, "SELECT message FROM logs.log_stream"),
            "native": native_query(address, 9000, "SELECT message FROM logs.log_stream"),
        }


def test_stock_server_leaks_the_log_table_anonymously(incident: dict[str, Any]) -> None:
    assert "logs" in incident["show_databases"].body.split()
    assert all(key in incident["select"].body for key in FAKE_KEYS)
    assert sorted(row[0] for row in incident["native"]) == [f"api_key={key}" for key in FAKE_KEYS]


def test_hardened_server_refuses_anonymous_and_keeps_the_data(
    incident: dict[str, Any], hardened_clickhouse, clickhouse_network: DockerNetwork, data_volume: str
) -> None:  # type: ignore[no-untyped-def]
    server = hardened_clickhouse(
        spec(clickhouse_network), PASSWORDS, data_volume=data_volume, address=incident["address"]
    )
    assert_anonymous_refused(server.target())
    assert not port_open(server.address, 8123) and not port_open(server.address, 9000)
    answer = http_query(
        server.address, 8443, "SELECT message FROM logs.log_stream", tls=True, ca=server.tls.ca_certificate
    )
    assert answer.status == 401 and not any(key in answer.body for key in FAKE_KEYS)
    assert admin(server, "SELECT count() FROM logs.log_stream") == [(len(FAKE_KEYS),)]


@pytest.fixture(scope="module")
def server(
    clickhouse_network: DockerNetwork, clickhouse_image_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HardenedServer]:
    """One hardened server (plaintext ports closed) shared by the read-only checks below."""
    factory = ServerFactory(clickhouse_network, clickhouse_image_name, tmp_path_factory)
    try:
        hardened = factory(spec(clickhouse_network), PASSWORDS)
        admin(hardened, "CREATE DATABASE logs")
        admin(hardened, "CREATE TABLE logs.log_stream (ts DateTime, message String) ENGINE = MergeTree ORDER BY ts")
        admin(hardened, "CREATE TABLE default.secrets (k String) ENGINE = Memory")
        yield hardened
    finally:
        factory.close()


def test_only_tls_ports_listen(server: HardenedServer) -> None:
    assert server.open_ports() == (8443, 9440)
    assert_tls_only(server.target())


def test_listening_sockets_read_from_this_machine_match_the_containers_own_view(server: HardenedServer) -> None:
    from_host = server.container._proc_net_tcp_from_host()
    assert from_host is not None, "the engine runs on this machine: its /proc shows the container's process"
    _, inside = server.container.exec("sh", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null")
    assert parse_listening(from_host) == parse_listening(inside) == server.container.listening()


@pytest.mark.parametrize("port", [8123, 9000, 9009])
def test_closed_ports_refuse_connections(server: HardenedServer, port: int) -> None:
    assert not port_open(server.address, port)


def test_users_work_over_https_and_native_tls(server: HardenedServer) -> None:
    answer = http_query(
        server.address,
        8443,
        "SELECT 1",
        user="analyst",
        password=PASSWORDS["HH_ANALYST"],
        tls=True,
        ca=server.tls.ca_certificate,
    )
    assert (answer.status, answer.body.strip()) == (200, "1")
    assert admin(server, "SELECT 1") == [(1,)]


def test_wrong_password_and_unknown_user_are_refused(server: HardenedServer) -> None:
    for user, password in (("admin", "x" + PASSWORDS["HH_ADMIN"]), ("mallory", PASSWORDS["HH_ADMIN"]), ("default", "")):
        with pytest.raises(ServerException) as refused:
            native_query(
                server.address, 9440, "SELECT 1", user=user, password=password, tls=True, ca=server.tls.ca_certificate
            )
        assert refused.value.code in AUTH_CODES


def test_readonly_user_cannot_write(server: HardenedServer) -> None:
    with pytest.raises(ServerException) as refused:
        native_query(
            server.address,
            9440,
            "INSERT INTO logs.log_stream SELECT now(), 'x'",
            user="analyst",
            password=PASSWORDS["HH_ANALYST"],
            tls=True,
            ca=server.tls.ca_certificate,
        )
    assert refused.value.code == 164  # READONLY


def run_client(network: DockerNetwork, index: int, server: HardenedServer, user: str, password: str, query: str) -> str:
    """An HTTPS query from a client container at a fixed address of the test network."""
    from hardhouse_dev.images import ensure_image

    code = (
        "import base64, os, ssl, urllib.parse, urllib.request, urllib.error\n"
        "auth = base64.b64encode(f\"{os.environ['U']}:{os.environ['P']}\".encode()).decode()\n"
        "url = f\"https://{os.environ['H']}:8443/?\" + urllib.parse.urlencode({'query': os.environ['Q']})\n"
        "request = urllib.request.Request(url, data=b'', headers={'Authorization': 'Basic ' + auth})\n"
        "try:\n"
        "    print(200, urllib.request.urlopen(request, context=ssl._create_unverified_context(), timeout=10)"
        ".read().decode())\n"
        "except urllib.error.HTTPError as error:\n    print(error.code, error.read().decode())\n"
    )
    client = docker.from_env()
    container = client.containers.run(
        ensure_image("host"),
        ["python3", "-c", code],
        detach=True,
        environment={"U": user, "P": password, "H": server.address, "Q": query},
        network=network.name,
        networking_config={network.name: EndpointConfig("1.41", ipv4_address=network.address(index))},
    )
    try:
        container.wait(timeout=60)
        return container.logs().decode()
    finally:
        container.remove(force=True)


def test_user_is_accepted_inside_its_network_and_refused_outside(
    server: HardenedServer, clickhouse_network: DockerNetwork
) -> None:
    inside = run_client(clickhouse_network, ALLOWED_CLIENT, server, "ingest", PASSWORDS["HH_INGEST"], "SELECT 42")
    assert inside.split() == ["200", "42"], inside
    outside = run_client(clickhouse_network, OTHER_CLIENT, server, "ingest", PASSWORDS["HH_INGEST"], "SELECT 42")
    assert outside.startswith("500") and re.search(r"Code: (195|516)", outside), outside
    from_gateway = http_query(
        server.address,
        8443,
        "SELECT 42",
        user="ingest",
        password=PASSWORDS["HH_INGEST"],
        tls=True,
        ca=server.tls.ca_certificate,
    )
    assert from_gateway.error_code in {195, 516}


def test_allow_listed_user_cannot_read_other_databases(
    server: HardenedServer, clickhouse_network: DockerNetwork
) -> None:
    own = run_client(
        clickhouse_network,
        ALLOWED_CLIENT,
        server,
        "ingest",
        PASSWORDS["HH_INGEST"],
        "SELECT count() FROM logs.log_stream",
    )
    assert own.split()[0] == "200", own
    other = run_client(
        clickhouse_network, ALLOWED_CLIENT, server, "ingest", PASSWORDS["HH_INGEST"], "SELECT * FROM default.secrets"
    )
    assert re.search(r"Code: (291|497)", other), other  # DATABASE_ACCESS_DENIED / ACCESS_DENIED


def test_server_is_not_reachable_on_an_unlisted_address(hardened_clickhouse, clickhouse_network: DockerNetwork) -> None:  # type: ignore[no-untyped-def]
    with docker_network("hardhouse-other") as other:
        unlisted = other.allocate()
        server = hardened_clickhouse(spec(clickhouse_network), PASSWORDS, extra_networks={other.name: unlisted})
        assert port_open(server.address, 9440)
        assert not port_open(unlisted, 9440) and not port_open(unlisted, 8443)
        server.container.stop()


def test_plaintext_ports_open_but_authenticated(hardened_clickhouse, clickhouse_network: DockerNetwork) -> None:  # type: ignore[no-untyped-def]
    server = hardened_clickhouse(spec(clickhouse_network, ports={"http": 8123, "native": 9000}), PASSWORDS)
    assert_anonymous_refused(server.target())
    assert http_query(server.address, 8123, "SELECT 1").error_code in AUTH_CODES
    with pytest.raises(ServerException) as refused:
        native_query(server.address, 9000, "SELECT 1")
    assert refused.value.code in AUTH_CODES
    # Open plaintext ports are exactly what assert_tls_only reports.
    with pytest.raises(AssertionError) as report:
        assert_tls_only(server.target())
    assert f"{server.address}:8123 accepts connections without TLS" in str(report.value)
    assert f"{server.address}:9000 accepts connections without TLS" in str(report.value)


def test_locked_default_user(hardened_clickhouse, clickhouse_network: DockerNetwork) -> None:  # type: ignore[no-untyped-def]
    server = hardened_clickhouse(spec(clickhouse_network, default_user="lock"), PASSWORDS)
    with pytest.raises(ServerException) as refused:
        native_query(
            server.address, 9440, "SELECT 1", user="default", password="", tls=True, ca=server.tls.ca_certificate
        )
    assert refused.value.code in {194, 195, 516}
    code, output = server.container.exec("clickhouse-client", "--port", "9000", "-q", "SELECT 1")
    assert code != 0  # not even from inside: no plaintext port, and no password


def test_tls_minimum_1_3_refuses_1_2(hardened_clickhouse, clickhouse_network: DockerNetwork) -> None:  # type: ignore[no-untyped-def]
    data = spec(clickhouse_network)
    data["tls"]["min_protocol"] = "tlsv1_3"
    server = hardened_clickhouse(data, PASSWORDS)
    assert tls_handshake(server.address, 9440, version=ssl.TLSVersion.TLSv1_2) is None
    assert_tls_only(server.target())


def test_helpers_report_the_exposures_of_a_weakened_config(
    hardened_clickhouse, clickhouse_network: DockerNetwork
) -> None:  # type: ignore[no-untyped-def]
    data = spec(clickhouse_network)
    data["users"][1]["networks"] = [str(clickhouse_network.subnet)]  # the network control, widened
    server = hardened_clickhouse(data, PASSWORDS, tamper=weaken)
    with pytest.raises(AssertionError) as anonymous:
        assert_anonymous_refused(server.target())
    assert f"{server.address}:8443 (http over TLS): logged in with no credentials" in str(anonymous.value)
    assert f"{server.address}:9440 (native over TLS): logged in with user default with an empty password" in str(
        anonymous.value
    )
    with pytest.raises(AssertionError) as tls:
        assert_tls_only(server.target())
    assert f"{server.address}:8443 negotiated TLSv1" in str(tls.value)
    assert f"{server.address}:8443 accepted weak cipher suites" in str(tls.value)
    outside = run_client(clickhouse_network, OTHER_CLIENT, server, "ingest", PASSWORDS["HH_INGEST"], "SELECT 42")
    assert outside.split() == ["200", "42"], "with the network widened, the outside client gets in"
