"""`hardhouse probe` against real servers on loopback: Debian's stock ClickHouse 18.16 (the
incident's exposed state, with a `log_stream` table of fake API keys), the same server
hardened by hardhouse, a fleet mixing both, a closed port, a non-ClickHouse HTTP server and
a plain TCP service. Every verdict is the one an outside client gets."""

from __future__ import annotations

import http.server
import json
import secrets
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hardhouse.ca import write_server_material
from hardhouse.cli.probe import probe_command
from hardhouse.probe import ProbeOptions, probe_endpoint_sync
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.testing.clients import native_query
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import require
from tests.render.test_live_18_16 import SERVE, spec_for

pytestmark = [pytest.mark.integration, pytest.mark.live]

STOCK = "127.0.0.1"  # the stock server listens where Debian's config says: loopback
OTHERS = "127.0.0.3"  # the non-ClickHouse services, alone on their address
FAKE_KEYS = ["sk-live-FAKE0000000000000000000001", "sk-live-FAKE0000000000000000000002"]


@dataclass
class Fleet:
    stock: dict[str, int]
    https: int
    native_tls: int
    ca: Path
    web: int
    tcp: int
    closed: int


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(probe_command, ["--no-progress", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def run_json(*args: str) -> tuple[int, dict[str, Any]]:
    code, output = run("--json", *args)
    return code, json.loads(output)


def by_address(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["address"]: e for e in document["endpoints"]}


@pytest.fixture(scope="module")
def stock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    ports = {"http": free_port(), "native": free_port(), "interserver": free_port()}
    server = LocalClickHouse(tmp_path_factory.mktemp("probe-stock"))
    server.use_stock_ports(**ports)
    server.start([(STOCK, ports["http"]), (STOCK, ports["native"])])
    with server:
        native_query(STOCK, ports["native"], "CREATE DATABASE logs")
        native_query(
            STOCK,
            ports["native"],
            "CREATE TABLE logs.log_stream (ts DateTime, message String, api_key String) ENGINE = MergeTree ORDER BY ts",
        )
        native_query(
            STOCK, ports["native"], "CREATE TABLE default.page_views (ts DateTime, path String) ENGINE = Memory"
        )
        for key in FAKE_KEYS:
            # INSERT ... SELECT: 18.16 waits for a data block after INSERT ... VALUES over native.
            native_query(STOCK, ports["native"], f"INSERT INTO logs.log_stream SELECT now(), 'chat line', '{key}'")
        yield ports


@pytest.fixture(scope="module")
def hardened_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    work = tmp_path_factory.mktemp("probe-hardened")
    tls = write_server_material(work / "tls", [SERVE])
    https, native_tls = free_port(SERVE), free_port(SERVE)
    environ = {name: secrets.token_urlsafe(24) for name in ("HH_ADMIN", "HH_INGEST", "HH_ANALYST")}
    server = LocalClickHouse(work)
    server.install(render(load_spec(spec_for(tls, https, native_tls)), environ))
    server.start([(SERVE, https), (SERVE, native_tls)])
    with server:
        yield https, native_tls, tls.ca_certificate


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Banner(socketserver.BaseRequestHandler):
    """A plain TCP service that greets first, like SSH or SMTP."""

    def handle(self) -> None:
        try:
            self.request.sendall(b"220 mail.internal ESMTP ready\r\n")
            self.request.settimeout(3)
            if self.request.recv(4096):
                self.request.sendall(b"500 5.5.1 command unrecognized\r\n")
        except OSError:
            pass


@pytest.fixture(scope="module")
def other_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, int]]:
    root = tmp_path_factory.mktemp("www")
    (root / "index.html").write_text("<h1>not a database</h1>")
    web = socketserver.ThreadingTCPServer((OTHERS, 0), lambda *a: _Quiet(*a, directory=str(root)))
    tcp = socketserver.ThreadingTCPServer((OTHERS, 0), _Banner)
    for server in (web, tcp):
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    with socket.socket() as unused:
        unused.bind((OTHERS, 0))  # bound but never listening: connections are refused
        try:
            yield web.server_address[1], tcp.server_address[1], unused.getsockname()[1]
        finally:
            for server in (web, tcp):
                server.shutdown()
                server.server_close()


@pytest.fixture(scope="module")
def fleet(
    stock_server: dict[str, int], hardened_server: tuple[int, int, Path], other_services: tuple[int, int, int]
) -> Fleet:
    https, native_tls, ca = hardened_server
    web, tcp, closed = other_services
    return Fleet(stock_server, https, native_tls, ca, web, tcp, closed)


def test_stock_server_exposes_both_plaintext_ports_and_its_log_table(stock_server: dict[str, int]) -> None:
    http, native = f"{STOCK}:{stock_server['http']}", f"{STOCK}:{stock_server['native']}"
    code, document = run_json(http, native)
    assert code == 1 and document["exposed"] is True
    endpoints = by_address(document)
    for address, service in ((http, "clickhouse-http"), (native, "clickhouse-native")):
        endpoint = endpoints[address]
        assert (endpoint["service"], endpoint["version"], endpoint["severity"]) == (service, "18.16.1", "critical")
        assert "anonymous-access" in {f["rule"] for f in endpoint["findings"]}
        tables = {t["database"] + "." + t["name"]: t for t in endpoint["inventory"]["tables"]}
        log_stream = tables["logs.log_stream"]
        assert log_stream["sensitive"] and log_stream["rows"] == len(FAKE_KEYS)
        assert log_stream["sensitive_columns"] == ["message", "api_key"] and log_stream["sensitive_reason"] == "log"
        assert tables["default.page_views"]["rows"] == 0 and not tables["default.page_views"]["sensitive"]
        flagged = [f for f in endpoint["findings"] if f["rule"] == "sensitive-data-readable"]
        assert [f["data"]["table"] for f in flagged] == ["logs.log_stream"]
    # who got in: nobody at all over HTTP, `default` with no password over native, and the stock `readonly` user
    assert {login["who"] for login in endpoints[http]["logins"] if login["accepted"]} == {
        "no credentials",
        "readonly/(empty)",
    }
    assert {login["who"] for login in endpoints[native]["logins"] if login["accepted"]} == {
        "user default with an empty password",
        "readonly/(empty)",
    }
    assert not any(key in json.dumps(document) for key in FAKE_KEYS), "the probe must never read row contents"


def test_stock_server_table_names_the_table_and_the_data_is_untouched(stock_server: dict[str, int]) -> None:
    code, text = run(STOCK, "--ports", f"{stock_server['http']},{stock_server['native']},{stock_server['interserver']}")
    assert code == 1
    lines = text.splitlines()
    assert lines[1].startswith("critical") and lines[2].startswith("critical")
    assert all("sensitive: logs.log_stream (message, api_key)" in line for line in lines[1:3])
    assert "clickhouse-interserver" in text
    assert native_query(STOCK, stock_server["native"], "SELECT count() FROM logs.log_stream") == [(len(FAKE_KEYS),)]


def test_hardened_server_is_clean(hardened_server: tuple[int, int, Path]) -> None:
    https, native_tls, ca = hardened_server
    code, document = run_json(f"{SERVE}:{https}", f"{SERVE}:{native_tls}", "--ca", str(ca))
    assert code == 0 and document["exposed"] is False
    for endpoint in document["endpoints"]:
        assert (
            endpoint["clickhouse"]
            and endpoint["tls"]
            and endpoint["service"] in {"clickhouse-https", "clickhouse-native-tls"}
        )
        assert not [login for login in endpoint["logins"] if login["accepted"]]
        assert {login["code"] for login in endpoint["logins"]} <= {192, 193}  # unknown user / wrong password
        posture = endpoint["tls_posture"]
        assert posture["scanner"] == "sslyze" and posture["accepted_versions"] == ["TLSv1.2", "TLSv1.3"]
        assert posture["weak_suites"] == [] and posture["certificate"]["trusted"] is True
        assert posture["certificate"]["hostname_match"] is True and not posture["certificate"]["self_signed"]
        # at most a low leak (a version named in a refusal); with --ca the chain is judged and passes
        assert {f["severity"] for f in endpoint["findings"]} <= {"low"}
        assert "certificate-not-validated" not in {note["id"] for note in endpoint["notes"]}


def test_hardened_server_closed_stock_ports(hardened_server: tuple[int, int, Path]) -> None:
    code, document = run_json(SERVE, "--ports", "8123,9000,9009")
    assert code == 0 and {e["state"] for e in document["endpoints"]} == {"closed"}


def test_mixed_fleet(fleet: Fleet, tmp_path: Path) -> None:
    targets = tmp_path / "fleet.txt"
    targets.write_text(
        "# the fleet: one stock server, one hardened, and neighbours\n"
        f"{STOCK}:{fleet.stock['http']}\n{STOCK}:{fleet.stock['native']}\n"
        f"{SERVE}:{fleet.https}\n{SERVE}:{fleet.native_tls}\n"
        f"{OTHERS}:{fleet.web}\n{OTHERS}:{fleet.tcp}\n{OTHERS}:{fleet.closed}\n"
    )
    code, document = run_json(f"@{targets}")
    assert code == 1 and document["summary"]["endpoints"] == 7 and document["summary"]["exposed"] == 2
    order = [e["address"] for e in document["endpoints"]]
    assert set(order[:2]) == {f"{STOCK}:{fleet.stock['http']}", f"{STOCK}:{fleet.stock['native']}"}  # worst first
    endpoints = by_address(document)
    # hardened: no finding; without --ca its private CA's chain is a note, not judged against HH-TLS-3
    hardened = endpoints[f"{SERVE}:{fleet.https}"]
    assert hardened["severity"] is None and hardened["findings"] == []
    assert "certificate-not-validated" in {note["id"] for note in hardened["notes"]}
    assert endpoints[f"{OTHERS}:{fleet.closed}"]["state"] == "closed"
    assert order[-1] == f"{OTHERS}:{fleet.closed}"
    code, output = run("--sarif", str(targets))
    sarif = json.loads(output)
    results = sarif["runs"][0]["results"]
    assert code == 1 and {(r["ruleId"], r["properties"]["check"]) for r in results} >= {
        ("HH-AUTH-1", "anonymous-access"),
        ("HH-DATA-1", "sensitive-data-readable"),
        ("HH-PORT-1", "plaintext-port"),
    }
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {targets.as_posix()}


def test_other_services_on_probed_ports_are_not_clickhouse(fleet: Fleet) -> None:
    code, document = run_json(OTHERS, "--ports", f"{fleet.web},{fleet.tcp},{fleet.closed}")
    assert code == 0
    endpoints = by_address(document)
    web, tcp, closed = (endpoints[f"{OTHERS}:{port}"] for port in (fleet.web, fleet.tcp, fleet.closed))
    assert (web["state"], web["service"], web["clickhouse"], web["findings"]) == ("open", "http", False, [])
    assert web["banner"].startswith("SimpleHTTP")
    assert (tcp["state"], tcp["service"], tcp["clickhouse"], tcp["findings"]) == ("open", "unknown", False, [])
    assert tcp["banner"].startswith("220 mail.internal")
    assert (closed["state"], closed["clickhouse"]) == ("closed", False)


def test_library_call_matches_the_command(stock_server: dict[str, int]) -> None:
    report = probe_endpoint_sync(STOCK, stock_server["native"], ProbeOptions(enumerate=False, credentials=()))
    assert (
        report.clickhouse and [f.rule for f in report.findings][:1] == ["anonymous-access"] and report.inventory is None
    )
