"""Rendered files loaded into modern ClickHouse's own parser and access rules (chdb-core 26.9).

The engine authenticates its session as `default` with an empty password; see
hardhouse.embedded for how that is turned into a login probe for every account.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path

import pytest
import yaml

from hardhouse.clickhouse import versions
from hardhouse.embedded import EmbeddedReport, validate_embedded
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spec.yaml"
USERS_FILE = "users.d/zz-hardhouse-users.xml"
STOCK_USERS_FILE = "users.d/zz-hardhouse-stock-users.xml"
AUTH_FILE = "config.d/zz-hardhouse-auth.xml"
VERSIONS = ["22.8", "23.8", "24.8", "25.3"]


@pytest.fixture(scope="module")
def environ() -> dict[str, str]:
    # Fresh random passwords for this run; they are only ever handed to render().
    return {"CH_INGEST_PASSWORD": secrets.token_urlsafe(24), "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24)}


def example(**changes: object) -> dict:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.update(changes)
    return data


def rendered(environ: dict[str, str], **changes: object) -> list[RenderedFile]:
    return render(load_spec(example(**changes)), environ=environ)


def replace_in(files: list[RenderedFile], path: str, old: str, new: str) -> list[RenderedFile]:
    out = []
    for file in files:
        if file.path == path:
            assert old in file.content
            file = RenderedFile(file.path, file.content.replace(old, new), file.mode)
        out.append(file)
    return out


def ingest_hash(environ: dict[str, str]) -> str:
    return hashlib.sha256(environ["CH_INGEST_PASSWORD"].encode()).hexdigest()


def summary(report: EmbeddedReport) -> str:
    # What a failing assertion shows: never a password (the report holds none), only findings.
    return f"ok={report.ok} errors={report.errors} users={report.users} passwordless={report.passwordless}"


@pytest.mark.parametrize("version", VERSIONS)
def test_example_spec_loads_and_no_user_logs_in_without_password(environ, version):
    report = validate_embedded(rendered(environ, clickhouse_version=version))

    assert report.ok, summary(report)
    assert report.errors == []
    assert report.engine_version.startswith("26.9"), report.engine_version
    assert report.users == ["analyst", "ingest"], summary(report)
    assert report.passwordless == []
    # default was removed: the engine's own empty-password session as default is refused.
    assert "default" not in report.users
    assert "Code: 516" in report.default_login
    # Every remaining account was tried with an empty password and refused by ClickHouse.
    assert {login.name for login in report.logins} == {"analyst", "ingest"}
    for login in report.logins:
        assert not login.passwordless and "Code: 516" in login.login, login
        assert login.auth_type == ["sha256_password"], login
    networks = {login.name: login.networks for login in report.logins}
    assert networks == {"ingest": ["10.0.0.0/8"], "analyst": ["10.1.2.0/24", "2001:db8::/64"]}
    # The config.d overlays were merged by ClickHouse's config processor too.
    # Limits and system logs on every modern target, show-secrets where the version has
    # display_secrets_in_show_and_select (23.8+), egress and http_handlers everywhere, the password
    # policy from 23.3.
    has_policy = versions.has(versions.parse_version(version), "password_policy")
    assert report.config_d == sorted(
        [
            "zz-hardhouse-auth.xml",
            "zz-hardhouse-egress.xml",
            "zz-hardhouse-http-handlers.xml",
            "zz-hardhouse-limits.xml",
            "zz-hardhouse-listen.xml",
            "zz-hardhouse-masking.xml",
            "zz-hardhouse-ports.xml",
            *(["zz-hardhouse-show-secrets.xml"] if version != "22.8" else []),
            "zz-hardhouse-system-logs.xml",
            "zz-hardhouse-tls.xml",
            *(["zz-hardhouse-password-policy.xml"] if has_policy else []),
        ]
    )
    assert report.server_settings["openSSL.server.disableProtocols"] == "sslv2,sslv3,tlsv1,tlsv1_1"


def test_locked_default_survives_but_refuses_an_empty_password(environ):
    report = validate_embedded(rendered(environ, default_user="lock"))

    assert report.ok, summary(report)
    assert report.users == ["analyst", "default", "ingest"]
    assert report.passwordless == []
    assert "Code: 516" in report.default_login
    default = next(login for login in report.logins if login.name == "default")
    # ClickHouse lists the rendered ::1 and 127.0.0.1 together as "localhost".
    assert not default.passwordless and default.networks == ["localhost"], default


def test_non_hex_hash_yields_clickhouses_own_error(environ):
    files = replace_in(rendered(environ), USERS_FILE, ingest_hash(environ), "not-a-hex-hash-" + "g" * 49)

    report = validate_embedded(files)

    assert not report.ok
    assert report.users == [] and report.logins == []
    assert any(
        error.startswith("Code: 36.")
        and "Cannot read password hash in hex" in error
        and "while parsing user 'ingest'" in error
        for error in report.errors
    ), report.errors


def test_bad_network_address_yields_clickhouses_own_error(environ):
    files = replace_in(rendered(environ), USERS_FILE, "<ip>10.0.0.0/8</ip>", "<ip>10.0.0.300/8</ip>")

    report = validate_embedded(files)

    assert not report.ok
    assert any("Invalid address: 10.0.0.300" in error for error in report.errors), report.errors
    # The stack trace ClickHouse appends is cut off.
    assert not any("Stack trace" in error for error in report.errors), report.errors


def test_malformed_xml_yields_clickhouses_own_error(environ):
    files = [f for f in rendered(environ) if f.path != USERS_FILE]
    files.append(RenderedFile(USERS_FILE, "<clickhouse><users><ingest>\n"))

    report = validate_embedded(files)

    assert not report.ok
    assert any(re.search(r"SAXParseException.*zz-hardhouse-users\.xml", e) for e in report.errors), report.errors


def test_control_stock_default_kept_is_reported_passwordless(environ):
    # Without the file that removes it, the stock default (empty password, ::/0) survives,
    # and without the server-wide refusal nothing stops the server from starting with it.
    files = [f for f in rendered(environ) if f.path not in (STOCK_USERS_FILE, AUTH_FILE)]

    report = validate_embedded(files)

    assert report.errors == [], report.errors
    assert not report.ok
    assert report.passwordless == ["default"]
    assert report.default_login == "accepted"
    assert report.users == ["analyst", "default", "ingest"]


def test_server_wide_refusal_stops_a_passwordless_default_from_loading(environ):
    # The same hole as above, with the rendered allow_no_password/allow_plaintext_password 0:
    # ClickHouse itself refuses to start with a plaintext-password (here: empty) user.
    files = [f for f in rendered(environ) if f.path != STOCK_USERS_FILE]

    report = validate_embedded(files)

    assert not report.ok
    assert report.users == [] and report.passwordless == []
    assert any(
        "Authentication type PLAINTEXT_PASSWORD is not allowed" in error and "while parsing user 'default'" in error
        for error in report.errors
    ), report.errors


def test_control_empty_password_hash_is_caught_by_a_real_login(environ):
    # system.users calls this account sha256_password; only the login shows it has no password.
    empty = hashlib.sha256(b"").hexdigest()
    files = replace_in(rendered(environ), USERS_FILE, ingest_hash(environ), empty)

    report = validate_embedded(files)

    assert not report.ok
    assert report.passwordless == ["ingest"], summary(report)
    ingest = next(login for login in report.logins if login.name == "ingest")
    assert ingest.auth_type == ["sha256_password"] and ingest.login == "accepted"
    # Its networks (10.0.0.0/8) do not hide it: only the authentication method is judged.
    assert ingest.networks == ["10.0.0.0/8"]


def test_truncated_config_d_file_yields_clickhouses_parser_error(environ):
    # chdb-core itself only says "Connection failed: Exception" for a bad config.d file;
    # the report adds what ClickHouse's config processor says about that same file.
    files = [f for f in rendered(environ) if f.path != "config.d/zz-hardhouse-tls.xml"]
    files.append(RenderedFile("config.d/zz-hardhouse-tls.xml", "<clickhouse><openSSL>\n"))

    report = validate_embedded(files)

    assert not report.ok
    assert any("SAXParseException" in error and "config.d/zz-hardhouse-tls.xml" in error for error in report.errors), (
        report.errors
    )
    # Left out, the same users.d files pass: the failure is the config.d file's alone.
    assert validate_embedded(files, include_config_d=False).ok
