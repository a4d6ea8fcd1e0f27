"""`hardhouse audit --online` against ClickHouse 26.9 on the network, through the CLI as a user
runs it: the accounts the running server reports (system.users) compared with the files it
read, a server running an account its files no longer define reported as drift, and the
refusals named for what they mean (516: login refused; 700: the password was accepted, only
the session limit refused it; 497: the user may not read system.users), each a clear line,
exit 2, never a traceback and never a passing report.

The server is hardhouse.testing.ModernClickHouse (chdb-core 26.9) with its TLS front (tls=True):
the audit sends the password only after the front's certificate validated against --ca, as it
would to a server; the TLS endpoint is the fixture's, not ClickHouse's. The tree audited is
the one the server read, fixture files included (their plaintext ports and their `default`
fail their controls, as they should); these tests judge the online part. What 26.9 cannot show
here, accounts created through SQL (CREATE USER: 514), is a skip with that reason."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from hardhouse.cli import main
from hardhouse.clickhouse.native import ServerError, Session
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.testing.modern_server import HOST, NOT_ENFORCED, ModernClickHouse
from tests.provision.scenarios import modern_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

PASSWORDS = {
    name: secrets.token_urlsafe(24) for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD", "CH_ADMIN_PASSWORD")
}
SQL_USERS_UNAVAILABLE = 514
ACCESS_MANAGER = """<clickhouse><users><{name}>
    <password_sha256_hex>{sha256}</password_sha256_hex>
    <networks><ip>127.0.0.1</ip></networks>
    <access_management>1</access_management>
</{name}></users></clickhouse>
"""
# The accounts the server runs: the three rendered ones and the fixture's `default`.
ACCOUNTS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModernClickHouse]:
    data = modern_spec("26.9")
    for user in data["users"]:
        user["networks"] = ["127.0.0.1"]
    modern = ModernClickHouse(tmp_path_factory.mktemp("audit-online-26-9"), tls=True)
    modern.install(render(load_spec(data), environ=PASSWORDS))
    (modern.workdir / "spec.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    modern.start()
    try:
        yield modern
    finally:
        modern.stop()


def audit(server: ModernClickHouse, tree: Path, user: str, password: str, *extra: str) -> Result:
    args = ["audit", str(tree), "--installed-at", str(server.etc), "--default-include", "none"]
    args += ["--spec", str(server.workdir / "spec.yaml")]
    args += ["--online", f"{HOST}:{server.native_tls}", "--user", user, "--password-env", "HH_AUDIT_PASSWORD"]
    args += ["--ca", str(server.ca), *extra]
    result = CliRunner().invoke(main, args, env={"HH_AUDIT_PASSWORD": password})
    assert "Traceback" not in result.output and (not password or password not in result.output)
    return result


def online_findings(result: Result) -> list[dict[str, str]]:
    (report,) = json.loads(result.output)["reports"]
    return [f for c in report["controls"] for f in c["findings"] if f["rule"].startswith("online-")]


def nothing_judged(result: Result) -> bool:
    """No report at all: an audit that could not ask the server shows no verdict, passing or not."""
    return (
        result.exit_code == 2 and "audit of" not in result.output and not re.search(r"^\s+pass\s", result.output, re.M)
    )


def test_the_accounts_the_server_reports_match_the_files_it_read(server: ModernClickHouse) -> None:
    result = audit(server, server.etc, "admin", PASSWORDS["CH_ADMIN_PASSWORD"], "--json")
    (report,) = json.loads(result.output)["reports"]
    assert re.fullmatch(
        rf"compared with ClickHouse 26\.9[0-9.]*'s system\.users \({ACCOUNTS} accounts\)", report["online"]
    )
    assert online_findings(result) == []
    text = audit(server, server.etc, "admin", PASSWORDS["CH_ADMIN_PASSWORD"])
    assert "online: compared with ClickHouse 26.9" in text.output


def test_an_account_the_files_no_longer_define_is_drift(server: ModernClickHouse, tmp_path: Path) -> None:
    """A copy of the tree without the writer: the server still runs it (not reloaded)."""
    tree = shutil.copytree(server.etc, tmp_path / "etc")
    users = tree / "users.d" / "zz-hardhouse-users.xml"
    without, removed = re.subn(r"<ingest replace=\"1\">.*?</ingest>", "", users.read_text(), flags=re.S)
    assert removed == 1
    users.write_text(without)
    result = audit(server, tree, "admin", PASSWORDS["CH_ADMIN_PASSWORD"], "--json")
    assert result.exit_code == 1
    (finding,) = online_findings(result)
    assert finding["control"] == "HH-DRIFT-1" and finding["subject"] == "user ingest (server, storage users_xml)"
    assert "the files on disk do not define it" in finding["problem"]


def test_a_wrong_password_is_named_516_and_nothing_passes(server: ModernClickHouse) -> None:
    result = audit(server, server.etc, "admin", secrets.token_urlsafe(24))
    assert nothing_judged(result)
    assert "could not be asked: 516 AUTHENTICATION_FAILED: the server refused the login" in result.output


def test_a_login_refused_only_by_its_session_limit_is_named_700(server: ModernClickHouse) -> None:
    """The fixture's `default` takes the empty password; its one session slot is the fixture's."""
    result = audit(server, server.etc, "default", "")
    assert nothing_judged(result)
    assert "the password was accepted; only the user's session limit (700 USER_SESSION_LIMIT_EXCEEDED)" in (
        result.output
    )


def test_a_user_who_may_not_read_system_users_is_named_497(server: ModernClickHouse) -> None:
    result = audit(server, server.etc, "analyst", PASSWORDS["CH_ANALYST_PASSWORD"])
    assert nothing_judged(result) and "497 ACCESS_DENIED: --user may not read system.users" in result.output


def test_a_user_created_through_sql_is_reported(tmp_path: Path) -> None:
    """Skipped where the server has no SQL access storage (26.9 on the network here: 514). Its
    own server: the account that may create users is none of the rendered ones."""
    manager, password = "hh_access_manager", secrets.token_urlsafe(24)
    modern = ModernClickHouse(tmp_path, tls=True)
    modern.install(render(load_spec(modern_spec("26.9")), environ=PASSWORDS))
    (modern.etc / "users.d" / "zz-test-access-manager.xml").write_text(
        ACCESS_MANAGER.format(name=manager, sha256=hashlib.sha256(password.encode()).hexdigest()), encoding="utf-8"
    )
    name = f"hh_sql_{secrets.token_hex(4)}"
    with modern:
        modern.start()
        with Session(HOST, modern.native_tls, manager, password, modern.ca) as session:
            try:
                session.execute(f"CREATE USER {name} IDENTIFIED BY '{secrets.token_hex(16)}' HOST ANY")
            except ServerError as error:
                if error.code == SQL_USERS_UNAVAILABLE:
                    pytest.skip(NOT_ENFORCED["sql_users"])
                raise
        result = audit(modern, modern.etc, manager, password, "--json")
    rules = {f["rule"] for f in online_findings(result) if name in f["subject"]}
    assert rules == {"online-user", "online-any-network"}
