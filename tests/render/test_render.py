"""The renderer's output, read back as XML the way ClickHouse's merge would read it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from hardhouse.cli import main
from hardhouse.render import RenderedFile, render, write_files
from hardhouse.render.network import LISTEN_REMOVE_SLOTS
from hardhouse.render.users import LOCKED_HASH
from hardhouse.spec import load_spec


def by_name(files: list[RenderedFile]) -> dict[str, etree._Element]:
    return {Path(f.path).name: etree.fromstring(f.content.encode()) for f in files}


def test_renders_one_file_per_concern_with_tight_modes(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    files = render(load_spec(spec_dict), environ)
    assert [f.path for f in files] == [
        "config.d/zz-hardhouse-listen.xml",
        "config.d/zz-hardhouse-ports.xml",
        "config.d/zz-hardhouse-tls.xml",
        "config.d/zz-hardhouse-auth.xml",
        "config.d/zz-hardhouse-masking.xml",
        "users.d/zz-hardhouse-stock-users.xml",
        "users.d/zz-hardhouse-users.xml",
        "users.d/zz-hardhouse-profiles.xml",
        # the settings sections: server limits, the server's own logs, secrets in SHOW, profile locks
        "config.d/zz-hardhouse-limits.xml",
        "config.d/zz-hardhouse-system-logs.xml",
        "config.d/zz-hardhouse-show-secrets.xml",
        "users.d/zz-hardhouse-settings.xml",
        # http, egress, password policy: rendered on every spec (defaults are the safe side), 24.8 has all four
        "config.d/zz-hardhouse-egress.xml",
        "config.d/zz-hardhouse-http-handlers.xml",
        "config.d/zz-hardhouse-password-policy.xml",
        "users.d/zz-hardhouse-responses.xml",
    ]
    assert {f.mode for f in files} == {0o640}
    assert all(etree.fromstring(f.content.encode()).tag == "clickhouse" for f in files)


def test_only_hashes_are_written(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    files = render(load_spec(spec_dict), environ)
    everything = "".join(f.content for f in files)
    for secret in environ.values():
        assert secret not in everything
    users = by_name(files)["zz-hardhouse-users.xml"]
    assert (
        users.findtext("users/ingest/password_sha256_hex")
        == hashlib.sha256(environ["CH_INGEST_PASSWORD"].encode()).hexdigest()
    )
    assert users.find("users/ingest/password") is None


def test_users_get_networks_databases_and_profile(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    users = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-users.xml"]
    assert [ip.text for ip in users.findall("users/analyst/networks/ip")] == ["10.1.2.0/24", "2001:db8::/64"]
    # 24.8 takes grants in users.d: the allow-list is written as one, so nothing is implicit.
    assert [q.text for q in users.findall("users/ingest/grants/query")] == [
        "GRANT ALL ON logs.*",
        "REVOKE ACCESS MANAGEMENT ON *.*",
        "REVOKE NAMED COLLECTION CONTROL ON *.*",
    ]
    assert users.find("users/ingest/allow_databases") is None
    assert users.findtext("users/ingest/profile") == "writer"
    assert users.find("users/ingest").get("replace") == "1"


def test_single_address_network_is_written_as_an_address(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["users"][0]["networks"] = ["10.0.0.7/32", "2001:db8::1"]
    users = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-users.xml"]
    assert [ip.text for ip in users.findall("users/ingest/networks/ip")] == ["10.0.0.7", "2001:db8::1"]


def test_listen_removes_stock_entries_before_adding_the_spec_ones(
    spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    listen = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-listen.xml"]
    entries = listen.findall("listen_host")
    assert [e.get("remove") for e in entries[:LISTEN_REMOVE_SLOTS]] == ["1"] * LISTEN_REMOVE_SLOTS
    assert [e.text for e in entries[LISTEN_REMOVE_SLOTS:]] == ["10.0.0.5"]


def test_closed_ports_are_removed_including_stock_ones(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    ports = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-ports.xml"]
    removed = {e.tag for e in ports if isinstance(e.tag, str) and e.get("remove") == "1"}
    assert removed == {"http_port", "tcp_port", "interserver_http_port", "mysql_port", "postgresql_port", "grpc_port"}
    assert ports.findtext("https_port") == "8443" and ports.findtext("tcp_port_secure") == "9440"


@pytest.mark.parametrize(
    ("minimum", "disabled"),
    [("tlsv1_2", "sslv2,sslv3,tlsv1,tlsv1_1"), ("tlsv1_3", "sslv2,sslv3,tlsv1,tlsv1_1,tlsv1_2")],
)
def test_tls_disables_everything_below_the_minimum(
    spec_dict: dict[str, Any], environ: dict[str, str], minimum: str, disabled: str
) -> None:
    spec_dict["tls"]["min_protocol"] = minimum
    server = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-tls.xml"].find("openSSL/server")
    assert server.get("replace") == "1"
    assert server.findtext("disableProtocols") == disabled
    assert server.findtext("verificationMode") == "none"
    assert server.findtext("preferServerCiphers") == "true"


def test_client_verification_uses_the_ca(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["tls"].update(verify_clients=True, ca_certificate="/etc/clickhouse-server/tls/ca.crt")
    server = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-tls.xml"].find("openSSL/server")
    assert server.findtext("verificationMode") == "strict"
    assert server.findtext("caConfig") == "/etc/clickhouse-server/tls/ca.crt"


def test_no_tls_file_when_no_tls_port_is_open(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["ports"] = {"https": None, "native_tls": None, "native": 9000}
    del spec_dict["tls"]
    assert "zz-hardhouse-tls.xml" not in by_name(render(load_spec(spec_dict), environ))


def test_default_user_removed_along_with_debians_passwordless_readonly(
    spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    stock = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-stock-users.xml"]
    assert {e.tag: e.get("remove") for e in stock.find("users") if isinstance(e.tag, str)} == {
        "default": "1",
        "readonly": "1",
    }


def test_default_user_locked(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["default_user"] = "lock"
    files = by_name(render(load_spec(spec_dict), environ))
    default = files["zz-hardhouse-stock-users.xml"].find("users/default")
    assert default.get("replace") == "1"
    assert default.findtext("password_sha256_hex") == LOCKED_HASH
    assert [ip.text for ip in default.findall("networks/ip")] == ["::1", "127.0.0.1"]
    profile = default.findtext("profile")
    assert files["zz-hardhouse-profiles.xml"].findtext(f"profiles/{profile}/readonly") == "1"


def test_access_management_is_written_only_for_versions_that_have_it(
    spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    modern = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-users.xml"]
    assert modern.findtext("users/ingest/access_management") == "0"
    spec_dict["clickhouse_version"] = "18.16"
    legacy = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-users.xml"]
    assert legacy.find("users/ingest/access_management") is None


def test_setting_values_are_xml_escaped(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["profiles"]["writer"] = {
        "log_comment": "a</log_comment><readonly>0</readonly>&",
        "use_uncompressed_cache": True,
    }
    profiles = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-profiles.xml"]
    assert profiles.findtext("profiles/writer/log_comment") == "a</log_comment><readonly>0</readonly>&"
    assert profiles.find("profiles/writer/readonly") is None
    assert profiles.findtext("profiles/writer/use_uncompressed_cache") == "1"


def test_quotas_are_rendered_when_declared(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["quotas"] = {"hourly": {"queries": 1000}}
    spec_dict["users"][0]["quota"] = "hourly"
    files = by_name(render(load_spec(spec_dict), environ))
    assert files["zz-hardhouse-quotas.xml"].findtext("quotas/hourly/interval/queries") == "1000"
    assert files["zz-hardhouse-users.xml"].findtext("users/ingest/quota") == "hourly"


def test_render_is_reproducible(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec = load_spec(spec_dict)
    assert render(spec, environ) == render(spec, environ)


def test_password_file_trailing_newline_is_not_part_of_the_password(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    secret = environ["CH_INGEST_PASSWORD"]
    (tmp_path / "pw").write_text(secret + "\n")
    (tmp_path / "pw").chmod(0o600)  # a password file readable by others is refused
    spec_dict["users"][0].pop("password_env")
    spec_dict["users"][0]["password_file"] = str(tmp_path / "pw")
    users = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-users.xml"]
    assert users.findtext("users/ingest/password_sha256_hex") == hashlib.sha256(secret.encode()).hexdigest()


def test_write_files_replaces_stale_hardhouse_files_and_keeps_others(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    out = tmp_path / "etc"
    (out / "config.d").mkdir(parents=True)
    (out / "config.d" / "zz-hardhouse-obsolete.xml").write_text("<clickhouse/>")
    (out / "config.d" / "operator-owned.xml").write_text("<clickhouse/>")
    files = render(load_spec(spec_dict), environ)
    write_files(files, out)
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*.xml"))
    assert on_disk == sorted([f.path for f in files] + ["config.d/operator-owned.xml"])
    assert all(os.stat(out / f.path).st_mode & 0o777 == 0o640 for f in files)
    assert [p.name for p in tmp_path.iterdir()] == ["etc"], "staging directory left behind"


def test_write_failure_leaves_the_target_untouched(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    out = tmp_path / "etc"
    (out / "config.d").mkdir(parents=True)
    (out / "users.d").write_text("a file where a directory should be")
    before = (out / "users.d").read_text()
    with pytest.raises(OSError):
        write_files(render(load_spec(spec_dict), environ), out)
    assert list((out / "config.d").iterdir()) == []
    assert (out / "users.d").read_text() == before


def test_cli_render_writes_the_files_and_reports_them(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    import json

    import yaml

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec_dict))
    result = CliRunner().invoke(
        main, ["render", "--spec", str(spec_file), "--out", str(tmp_path / "out"), "--json"], env=environ
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert {f["path"] for f in report["files"]} == {
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.xml")
    }


def test_ipv4_networks_are_written_in_mapped_form_for_18_16(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    # 18.16 applies an IPv4 prefix to the IPv4-mapped IPv6 address: 10.0.0.0/8 would admit
    # every IPv4 client (seen live); the mapped form with 96 added is exact.
    spec_dict["users"][0]["networks"] = ["10.0.0.0/8", "10.9.9.9", "2001:db8::/64"]
    spec_dict["clickhouse_version"] = "18.16"
    legacy = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-users.xml"]
    assert [ip.text for ip in legacy.findall("users/ingest/networks/ip")] == [
        "::ffff:10.0.0.0/104",
        "10.9.9.9",
        "2001:db8::/64",
    ]
    spec_dict["clickhouse_version"] = "24.8"
    modern = by_name(render(load_spec(spec_dict), environ))["zz-hardhouse-users.xml"]
    assert [ip.text for ip in modern.findall("users/ingest/networks/ip")] == ["10.0.0.0/8", "10.9.9.9", "2001:db8::/64"]
