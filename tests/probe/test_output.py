"""What `hardhouse probe` prints: the table (worst first), JSON, SARIF 2.1.0 and exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from hardhouse.cli.probe import probe_command
from hardhouse.controls import BY_ID
from hardhouse.probe import (
    WHAT_IS_SENT,
    DataInventory,
    EndpointReport,
    Finding,
    LoginResult,
    Note,
    ScanReport,
    Severity,
    TableInfo,
    render_json,
    render_sarif,
    render_text,
)


def exposed_endpoint(source: str | None = None) -> EndpointReport:
    endpoint = EndpointReport(
        "10.0.0.5", 8123, source, state="open", service="clickhouse-http", clickhouse=True, version="18.16.1"
    )
    endpoint.logins = [
        LoginResult(
            "http", False, None, None, True, "SELECT version() answered", status=200, version="18.16.1", clickhouse=True
        )
    ]
    endpoint.inventory = DataInventory(
        "http as no credentials",
        ["default", "logs"],
        [
            TableInfo(
                "logs", "log_stream", "MergeTree", 1200000, ["ts", "message", "api_key"], ["message", "api_key"], "log"
            ),
        ],
    )
    endpoint.findings = [
        Finding.of("anonymous-access", "no credentials can run queries over plaintext clickhouse-http"),
        Finding.of(
            "sensitive-data-readable",
            "logs.log_stream (1200000 rows) is readable",
            table="logs.log_stream",
            rows=1200000,
        ),
        Finding.of("plaintext-port", "clickhouse-http takes passwords and data over plaintext"),
    ]
    return endpoint


def hardened_endpoint() -> EndpointReport:
    endpoint = EndpointReport(
        "10.0.0.6", 9440, state="open", service="clickhouse-native-tls", clickhouse=True, tls=True
    )
    endpoint.logins = [LoginResult("native", True, "default", "", False, "code 192", code=192, clickhouse=True)]
    endpoint.notes = [Note.of("certificate-not-validated", "chain does not validate (no --ca)")]
    endpoint.findings = [Finding.of("version-disclosure", "a refused login still names the server version (18.16)")]
    return endpoint


def scan_report(*endpoints: EndpointReport, fail_on: Severity = Severity.HIGH) -> ScanReport:
    return ScanReport(["10.0.0.0/29"], list(endpoints), "2026-11-25T00:00:00+00:00", 1.5, fail_on)


def test_table_lists_worst_first_one_line_per_endpoint() -> None:
    closed = EndpointReport("10.0.0.7", 9000, state="closed")
    other = EndpointReport("10.0.0.8", 80, state="open", service="http", banner="nginx")
    text = render_text(scan_report(hardened_endpoint(), closed, other, exposed_endpoint()))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["SEVERITY", "ENDPOINT", "STATE"]
    assert (
        lines[1].startswith("critical")
        and "10.0.0.5:8123" in lines[1]
        and "sensitive: logs.log_stream (message, api_key)" in lines[1]
    )
    assert lines[2].startswith("low") and "10.0.0.6:9440" in lines[2] and "note: certificate-not-validated" in lines[2]
    assert "not ClickHouse: nginx" in lines[3]
    assert "10.0.0.7" not in text and "1 closed not listed" in text and "EXPOSED" in text
    assert "10.0.0.7:9000" in render_text(scan_report(closed), show_closed=True)


def test_threshold_decides_exposure() -> None:
    assert scan_report(exposed_endpoint()).exposed
    assert not scan_report(hardened_endpoint()).exposed
    assert scan_report(hardened_endpoint(), fail_on=Severity.LOW).exposed


def test_notes_are_reported_but_never_rank_or_fail_an_endpoint() -> None:
    endpoint = hardened_endpoint()
    endpoint.findings = []
    assert endpoint.severity is None and not scan_report(endpoint, fail_on=Severity.INFO).exposed
    (note,) = json.loads(render_json(scan_report(endpoint)))["endpoints"][0]["notes"]
    assert note == {"id": "certificate-not-validated", "message": "chain does not validate (no --ca)"}
    assert "    - [note] certificate-not-validated: chain does not validate" in render_text(
        scan_report(endpoint), verbose=True
    )
    assert render_sarif(scan_report(endpoint))["runs"][0]["results"] == []


def test_json_report() -> None:
    document = json.loads(render_json(scan_report(hardened_endpoint(), exposed_endpoint())))
    assert document["exposed"] is True and document["summary"]["exposed"] == 1
    first = document["endpoints"][0]
    assert first["address"] == "10.0.0.5:8123" and first["severity"] == "critical"
    assert first["inventory"]["total_rows"] == 1200000 and first["inventory"]["tables"][0]["sensitive"] is True
    assert first["logins"][0]["who"] == "no credentials"
    assert [f["rule"] for f in first["findings"]][:2] == ["anonymous-access", "sensitive-data-readable"]


def test_json_never_prints_a_password() -> None:
    endpoint = exposed_endpoint()
    endpoint.logins.append(LoginResult("native", False, "admin", "admin", True, "Hello answered", clickhouse=True))
    login = json.loads(render_json(scan_report(endpoint)))["endpoints"][0]["logins"][1]
    assert login["password"] == "(default list)" and login["who"] == "admin/admin"


def test_sarif_shape(tmp_path: Path) -> None:
    targets = tmp_path / "fleet.txt"
    targets.write_text("10.0.0.5\n")
    sarif = render_sarif(scan_report(exposed_endpoint(str(targets)), hardened_endpoint()))
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(BY_ID) and len({r["id"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
        assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
    results = run["results"]
    assert len(results) == 4
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        # one verdict: a result is as severe as its control, the level SARIF's rule for it declares
        assert result["level"] == rules[result["ruleIndex"]]["defaultConfiguration"]["level"]
        assert result["message"]["text"]
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert result["locations"][0]["logicalLocations"][0]["name"] in {"10.0.0.5:8123", "10.0.0.6:9440"}
        assert len(result["partialFingerprints"]["endpointFinding/v1"]) == 64
    first = results[0]
    assert first["ruleId"] == "HH-AUTH-1" and first["level"] == "error"
    assert first["properties"]["check"] == "anonymous-access"
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == targets.as_posix()
    last = results[-1]
    assert last["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "clickhouse://10.0.0.6:9440"
    assert len({r["partialFingerprints"]["endpointFinding/v1"] for r in results}) == len(results)


# ---------------------------------------------------------------- the command


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(probe_command, list(args))
    return result.exit_code, result.output


def closed_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def test_help_says_what_is_sent() -> None:
    code, output = run("--help")
    assert code == 0
    for sent in (
        "GET /ping",
        "SELECT version()",
        "native Hello",
        "PostgreSQL SSLRequest",
        "readonly=1",
        "sslyze",
        "never answered",
        "default/clickhouse",
        "ConnectRequest",
        "DataPartsExchange",
        "dirs,",
        "Nothing is created or written",
    ):
        assert sent in output, sent
    assert "What it sends" in WHAT_IS_SENT


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["10.0.0.0/8"], id="range over the cap"),
        pytest.param(["host:99999"], id="bad port"),
        pytest.param(["127.0.0.1:1", "--json", "--sarif"], id="two formats"),
        pytest.param(["--ports", "80,x", "127.0.0.1"], id="bad port list"),
        pytest.param([], id="no target"),
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    code, _ = run(*args)
    assert code == 2


def test_closed_port_exits_0_in_every_format(tmp_path: Path) -> None:
    sock, port = closed_port()
    with sock:
        code, text = run(f"127.0.0.1:{port}", "--show-closed")
        assert code == 0 and "closed" in text
        code, text = run(f"127.0.0.1:{port}", "--json")
        assert code == 0 and json.loads(text)["endpoints"][0]["state"] == "closed"
        out = tmp_path / "probe.sarif"
        code, _ = run(f"127.0.0.1:{port}", "--sarif", "-o", str(out))
        assert code == 0 and json.loads(out.read_text())["runs"][0]["results"] == []


def test_an_unreachable_host_does_not_stop_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    real = asyncio.open_connection

    async def open_connection(host: str, port: int, **kwargs: object) -> object:
        if host == "db7.fleet.internal":  # simulated: no test resolves a name or leaves loopback
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await real(host, port, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("hardhouse.probe.transport.asyncio.open_connection", open_connection)
    sock, port = closed_port()
    with sock:
        code, text = run("db7.fleet.internal:9000", f"127.0.0.1:{port}", "--json")
    states = {e["address"]: e["state"] for e in json.loads(text)["endpoints"]}
    assert code == 0 and states == {"db7.fleet.internal:9000": "unreachable", f"127.0.0.1:{port}": "closed"}


def test_findings_carry_their_control() -> None:
    document = json.loads(render_json(scan_report(exposed_endpoint())))
    (endpoint,) = document["endpoints"]
    assert {(f["control"], f["rule"]) for f in endpoint["findings"]} >= {("HH-AUTH-1", "anonymous-access")}
    assert "HH-AUTH-1 anonymous-access" in render_text(scan_report(exposed_endpoint()), verbose=True)


def test_waived_findings_stay_in_every_report_but_do_not_fail_the_scan(tmp_path: Path) -> None:
    import datetime as dt

    from hardhouse.controls.waivers import load_waivers
    from hardhouse.probe.waive import apply_waivers

    waivers_file = tmp_path / "waivers.yaml"
    waivers_file.write_text(
        "waivers:\n"
        "  - {control: HH-AUTH-1, reason: honeypot on purpose, expires: 2099-01-01, targets: ['10.0.0.5:8123']}\n"
        "  - {control: HH-DATA-1, reason: fake data only, expires: 2099-01-01, targets: ['10.0.0.5']}\n"
        "  - {control: HH-PORT-1, reason: lapsed, expires: 2020-01-01}\n"
    )
    report = scan_report(exposed_endpoint())
    assert report.exposed
    apply_waivers(report, load_waivers(waivers_file), dt.date(2026, 11, 29))
    assert not report.exposed
    (endpoint,) = json.loads(render_json(report))["endpoints"]
    waived = {f["rule"]: f.get("waived") for f in endpoint["findings"]}
    assert waived == {"anonymous-access": True, "sensitive-data-readable": True, "plaintext-port": False}
    text = render_text(report, verbose=True)
    assert "anonymous-access: no credentials can run queries" in text and "waived until 2099-01-01" in text
    assert "waiver EXPIRED on 2020-01-01: lapsed" in text
    results = render_sarif(report)["runs"][0]["results"]
    assert {r["ruleId"]: "suppressions" in r for r in results} == {
        "HH-AUTH-1": True,
        "HH-DATA-1": True,
        "HH-PORT-1": False,
    }


def test_a_bad_waivers_file_is_a_usage_error_before_anything_is_probed(tmp_path: Path) -> None:
    bad = tmp_path / "waivers.yaml"
    bad.write_text("waivers:\n  - {control: HH-PORT-1, reason: x}\n")
    result = CliRunner().invoke(probe_command, ["127.0.0.1:1", "--waivers", str(bad)])
    assert result.exit_code == 2 and "waivers[0].expires" in result.output
