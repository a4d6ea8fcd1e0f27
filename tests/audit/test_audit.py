"""`hardhouse audit` on trees nobody wrote for hardhouse: Debian's own 18.16 tree, the official
Docker image's listen file dropped into it, a hardened render dropped into it, and drift
planted by hand in files that merge after hardhouse's. Each finding must name the control and
the file:line a user would open; exit codes, JSON, SARIF, waivers and secrets are checked as a
CI job would see them."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hardhouse.audit.rules import RULES
from hardhouse.cli import main
from hardhouse.controls.registry import Tool, registered
from hardhouse.render import render, write_files
from hardhouse.spec import load_spec
from tests.helpers import PASSWORDS, VALID_SPEC, stock_tree

# The file the official clickhouse/clickhouse-server image ships (docker_related_config.xml).
DOCKER_LISTEN = """<clickhouse>
     <!-- Listen wildcard address to allow accepting connections from other containers and host network. -->
    <listen_host>::</listen_host>
    <listen_host>0.0.0.0</listen_host>
    <listen_try>1</listen_try>
</clickhouse>
"""


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing needle (the line a user would be sent to)."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture
def stock(tmp_path: Path) -> Path:
    return stock_tree(tmp_path / "etc")


def spec_data(version: str = "18.16") -> dict[str, Any]:
    data = json.loads(json.dumps(VALID_SPEC))
    data["clickhouse_version"] = version
    if version == "18.16":
        # 18.16 has no grants: a writable user keeps every table function (HH-EGRESS-2, judged
        # in tests/audit/test_grant_rules.py), so the trees these tests harden read only.
        data["users"][0]["profile"] = "readonly"
    return data


def write_spec(tmp_path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def hardened(stock: Path, version: str = "18.16") -> Path:
    write_files(render(load_spec(spec_data(version)), PASSWORDS), stock)
    return stock


def audit(*args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI on a copy of Debian's tree, for a server that has no /etc/metrika.xml (as Debian's)."""
    return CliRunner().invoke(main, ["audit", *args, "--default-include", "none"], env=env)


def audit_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = audit("--json", *args, env=env)
    (report,) = json.loads(result.output)["reports"]
    return result.exit_code, report


def findings(report: dict[str, Any], control: str) -> list[dict[str, Any]]:
    (result,) = [c for c in report["controls"] if c["id"] == control]
    return result["findings"]


def status(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["controls"]}


def test_every_audit_rule_belongs_to_one_control() -> None:
    apart = {"drift", "online-user", "online-passwordless-user", "online-any-network"}
    assert set(RULES) | apart == set(registered(Tool.AUDIT))


def test_debian_stock_tree_fails_naming_each_file_and_line(stock: Path) -> None:
    code, report = audit_json(str(stock), "--dialect", "18.16")
    assert code == 1 and report["dialect"] == "18.16" and report["files"][:2] == ["config.xml", "users.xml"]
    users, config = stock / "users.xml", stock / "config.xml"
    default = {(f["subject"], f["file"], f["line"]) for f in findings(report, "HH-AUTH-1")}
    assert ("user default", "users.xml", line_of(users, "<password></password>")) in default
    assert {(f["subject"], f["value"], f["file"]) for f in findings(report, "HH-NET-1")} >= {
        ("user default", "::/0", "users.xml")
    }
    ports = {(f["subject"], f["value"], f["line"]) for f in findings(report, "HH-PORT-1")}
    assert ports >= {
        ("http_port", "8123", line_of(config, "<http_port>8123")),
        ("tcp_port", "9000", line_of(config, "<tcp_port>9000")),
    }
    assert status(report)["HH-PORT-2"] == "fail" and status(report)["HH-TLS-1"] == "not-applicable"
    text = audit(str(stock)).output
    assert f"HH-PORT-1 http_port 8123 from config.xml:{line_of(config, '<http_port>8123')}: plaintext HTTP" in text


def test_the_official_images_listen_file_is_named(stock: Path) -> None:
    (stock / "config.d").mkdir()
    (stock / "config.d" / "docker_related_config.xml").write_text(DOCKER_LISTEN)
    result = audit(str(stock))
    assert result.exit_code == 1
    assert "HH-LISTEN-1 listen_host :: from config.d/docker_related_config.xml:3: listens on every interface" in (
        result.output
    )
    assert "HH-LISTEN-1 listen_host 0.0.0.0 from config.d/docker_related_config.xml:4" in result.output


@pytest.mark.parametrize("version", ["18.16", "24.8"])
def test_a_hardened_render_dropped_into_the_stock_tree_passes(stock: Path, tmp_path: Path, version: str) -> None:
    hardened(stock, version)
    (stock / "config.d" / "docker_related_config.xml").write_text(DOCKER_LISTEN)  # sorts before zz-hardhouse-*
    spec = write_spec(tmp_path, spec_data(version))
    code, report = audit_json(str(stock), "--spec", str(spec), env=PASSWORDS)
    assert code == 0, json.dumps([c for c in report["controls"] if c["status"] == "fail"], indent=1)
    assert report["dialect"] == ("18.16" if version == "18.16" else "modern")
    assert status(report)["HH-DRIFT-1"] == "pass" and status(report)["HH-TLS-1"] == "pass"
    assert "config.d/zz-hardhouse-listen.xml" in report["files"]


PLANTED = {
    "listen": (
        "config.d/zzz-debug.xml",
        "<clickhouse>\n  <listen_host>0.0.0.0</listen_host>\n</clickhouse>\n",
        {("HH-LISTEN-1", "listen_host", "0.0.0.0", 2), ("HH-DRIFT-1", "listen_host", "0.0.0.0", 2)},
    ),
    "port": (
        "config.d/zzz-debug.xml",
        "<clickhouse>\n  <tcp_port>9000</tcp_port>\n</clickhouse>\n",
        {("HH-PORT-1", "tcp_port", "9000", 2), ("HH-DRIFT-1", "tcp_port", "9000", 2)},
    ),
    "passwordless user": (
        "users.d/zzz-local.xml",
        "<clickhouse><users>\n  <backdoor>\n    <password></password>\n    <networks><ip>::/0</ip></networks>\n"
        "    <profile>default</profile><quota>default</quota>\n  </backdoor>\n</users></clickhouse>\n",
        {
            ("HH-AUTH-1", "user backdoor", None, 3),
            ("HH-NET-1", "user backdoor", "::/0", 4),
            ("HH-DRIFT-1", "user backdoor", None, 2),
        },
    ),
    "widened networks": (
        "users.d/zzz-local.xml",
        '<clickhouse><users>\n  <ingest>\n    <networks replace="1">\n      <ip>0.0.0.0/0</ip>\n'
        "    </networks>\n  </ingest>\n</users></clickhouse>\n",
        {("HH-NET-1", "user ingest", "0.0.0.0/0", 4), ("HH-DRIFT-1", "users.ingest.networks.ip", "0.0.0.0/0", 4)},
    ),
}


@pytest.mark.parametrize("kind", list(PLANTED))
def test_drift_planted_after_hardhouses_files_is_caught_with_the_file_named(
    stock: Path, tmp_path: Path, kind: str
) -> None:
    hardened(stock)
    name, content, expected = PLANTED[kind]
    (stock / name).write_text(content)
    spec = write_spec(tmp_path, spec_data())
    code, report = audit_json(str(stock), "--spec", str(spec), env=PASSWORDS)
    seen = {
        (f["control"], f["subject"], f["value"], f["line"])
        for c in report["controls"]
        for f in c["findings"]
        if f["file"] == name
    }
    assert code == 1 and expected <= seen, seen


def test_the_same_file_planted_before_hardhouses_is_overridden_and_passes(stock: Path, tmp_path: Path) -> None:
    """zz-debug.xml sorts before zz-hardhouse-*: hardhouse's removes and replaces win."""
    hardened(stock)
    (stock / "config.d" / "zz-debug.xml").write_text("<clickhouse><listen_host>0.0.0.0</listen_host></clickhouse>")
    (stock / "config.d" / "zz-debug2.xml").write_text("<clickhouse><tcp_port>9000</tcp_port></clickhouse>")
    code, report = audit_json(str(stock), "--spec", str(write_spec(tmp_path, spec_data())), env=PASSWORDS)
    assert code == 0 and "config.d/zz-debug.xml" in report["files"]


def test_a_changed_password_is_drift_and_no_password_or_hash_is_ever_printed(stock: Path, tmp_path: Path) -> None:
    hardened(stock)
    spec = write_spec(tmp_path, spec_data())
    changed = dict(PASSWORDS, CH_INGEST_PASSWORD=PASSWORDS["CH_INGEST_PASSWORD"] + "-rotated")
    outputs = [audit(*form, str(stock), "--spec", str(spec), env=changed) for form in ([], ["--json"], ["--sarif"])]
    assert all(result.exit_code == 1 for result in outputs)
    assert "users.ingest.password_sha256_hex from users.d/zz-hardhouse-users.xml" in outputs[0].output
    assert "compared by hash" in outputs[0].output
    secrets = set(changed.values()) | {hashlib.sha256(p.encode()).hexdigest() for p in changed.values()}
    for result in outputs:
        assert not any(secret in result.output for secret in secrets)


def test_unset_password_variables_skip_only_the_hash_comparison(stock: Path, tmp_path: Path) -> None:
    hardened(stock)
    code, report = audit_json(str(stock), "--spec", str(write_spec(tmp_path, spec_data())), env={})
    (drift,) = [c for c in report["controls"] if c["id"] == "HH-DRIFT-1"]
    assert code == 0 and drift["status"] == "pass" and "passwords not compared for analyst, ingest" in drift["note"]


def test_plaintext_and_well_known_passwords_are_found_without_being_shown(stock: Path) -> None:
    (stock / "users.d").mkdir()
    secret = "Tr0ub4dor-3-not-shown"
    (stock / "users.d" / "legacy.xml").write_text(
        "<clickhouse><users>\n"
        f"  <etl><password>{secret}</password><networks><ip>10.0.0.0/8</ip></networks></etl>\n"
        f"  <bi><password_sha256_hex>{hashlib.sha256(b'clickhouse').hexdigest()}</password_sha256_hex>"
        "<networks><ip>10.0.0.0/8</ip></networks></bi>\n"
        "</users></clickhouse>\n"
    )
    result = audit(str(stock))
    assert "HH-AUTH-2 user etl from users.d/legacy.xml:2: has a plaintext <password>" in result.output
    assert "HH-AUTH-3 user bi from users.d/legacy.xml:3: <password_sha256_hex> is a well-known password" in (
        result.output
    )
    assert secret not in result.output and hashlib.sha256(b"clickhouse").hexdigest() not in result.output


def test_sarif_locates_each_finding_at_its_file_and_line(stock: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (stock / "config.d").mkdir()
    (stock / "config.d" / "docker_related_config.xml").write_text(DOCKER_LISTEN)
    result = audit("--sarif", "etc")
    sarif = json.loads(result.output)
    (run,) = sarif["runs"]
    assert result.exit_code == 1 and sarif["version"] == "2.1.0"
    rules = run["tool"]["driver"]["rules"]
    listen = [r for r in run["results"] if r["ruleId"] == "HH-LISTEN-1"]
    assert {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in listen} == {3, 4}
    for item in run["results"]:
        assert rules[item["ruleIndex"]]["id"] == item["ruleId"]
        assert item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("etc/")
    assert {r["properties"]["check"] for r in listen} == {"listen-any"}


def test_a_live_waiver_reports_waived_never_passed_and_an_expired_one_fails(stock: Path, tmp_path: Path) -> None:
    hardened(stock)
    (stock / "config.d" / "zzz-debug.xml").write_text("<clickhouse><tcp_port>9000</tcp_port></clickhouse>")
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - {control: HH-PORT-1, reason: legacy loader until TICKET-7, expires: 2099-01-01}\n"
    )
    code, report = audit_json(str(stock), "--waivers", str(waivers), "--dialect", "18.16")
    (port,) = [c for c in report["controls"] if c["id"] == "HH-PORT-1"]
    assert code == 0 and report["ok"] and port["status"] == "waived" and port["findings"]
    assert port["waiver"] == {"reason": "legacy loader until TICKET-7", "expires": "2099-01-01", "expired": False}
    assert report["summary"]["waived"] == 1
    text = audit(str(stock), "--waivers", str(waivers), "--dialect", "18.16").output
    assert re.search(r"WAIVED +HH-PORT-1 .*\n.*tcp_port 9000 from config.d/zzz-debug.xml:1", text)
    sarif = json.loads(audit("--sarif", str(stock), "--waivers", str(waivers), "--dialect", "18.16").output)
    (suppressed,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "HH-PORT-1"]
    assert suppressed["suppressions"][0]["kind"] == "external"
    waivers.write_text("waivers:\n  - {control: HH-PORT-1, reason: legacy loader, expires: 2020-01-01}\n")
    code, report = audit_json(str(stock), "--waivers", str(waivers), "--dialect", "18.16")
    (port,) = [c for c in report["controls"] if c["id"] == "HH-PORT-1"]
    assert code == 1 and port["status"] == "fail" and port["waiver"]["expired"] is True


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (lambda tree: shutil.rmtree(tree), "etc"),
        (
            lambda tree: (tree / "config.d").mkdir() or (tree / "config.d" / "bad.xml").write_text("<a>\n<b></a>"),
            "config.d/bad.xml:2",
        ),
        (lambda tree: (tree / "config.xml").unlink(), "config.xml"),
    ],
    ids=["missing directory", "ill-formed XML", "no config.xml"],
)
def test_bad_input_exits_2_with_the_file_named_and_no_traceback(stock: Path, setup: Any, says: str) -> None:
    setup(stock)
    result = audit(str(stock))
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_bad_spec_or_waivers_exit_2_before_anything_is_audited(stock: Path, tmp_path: Path) -> None:
    bad = tmp_path / "waivers.yaml"
    bad.write_text("waivers:\n  - {control: HH-NOPE-1, reason: x, expires: 2099-01-01}\n")
    result = audit(str(stock), "--waivers", str(bad))
    assert result.exit_code == 2 and "unknown control" in result.output and "audit of" not in result.output
    spec = write_spec(tmp_path, {**spec_data(), "listen_hosts": ["0.0.0.0"]})
    result = audit(str(stock), "--spec", str(spec))
    assert result.exit_code == 2 and "listen_hosts" in result.output


def test_a_credential_leaf_the_rules_do_not_know_is_compared_but_never_shown(stock: Path, tmp_path: Path) -> None:
    hardened(stock)
    bcrypt = "$2b$12$KIXQJQ1q0sX2Y3Z4a5b6cOe7f8g9h0i1j2k3l4m5n6o7p8q9r0s1t"
    (stock / "users.d" / "zzz-local.xml").write_text(
        f"<clickhouse><users><ingest><password_bcrypt_hash>{bcrypt}</password_bcrypt_hash></ingest></users></clickhouse>"
    )
    spec = write_spec(tmp_path, spec_data())
    for form in ([], ["--json"], ["--sarif"]):
        result = audit(*form, str(stock), "--spec", str(spec), env=PASSWORDS)
        assert result.exit_code == 1 and bcrypt not in result.output
    assert "users.ingest.password_bcrypt_hash from users.d/zzz-local.xml:1: differs from the spec's" in (
        audit(str(stock), "--spec", str(spec), env=PASSWORDS).output
    )


def test_a_copied_tree_with_absolute_paths_is_read_with_installed_at(stock: Path) -> None:
    text = (stock / "config.xml").read_text()
    (stock / "config.xml").write_text(
        text.replace(
            "<users_config>users.xml</users_config>", "<users_config>/etc/clickhouse-server/users.xml</users_config>"
        )
    )
    outside = audit(str(stock))
    assert outside.exit_code == 2 and "/etc/clickhouse-server/users.xml" in outside.output
    code, report = audit_json(str(stock), "--installed-at", "/etc/clickhouse-server")
    assert code == 1 and "users.xml" in report["files"] and findings(report, "HH-AUTH-1")


def test_a_directory_name_with_control_characters_reaches_no_terminal_raw(stock: Path, tmp_path: Path) -> None:
    odd = tmp_path / "etc\x1b[31m"
    shutil.copytree(stock, odd)
    for target in (odd, tmp_path / "missing\x1b[2J"):
        result = audit(str(target))
        assert "\x1b" not in result.output and "\\x1b" in result.output, result.output
