"""The audit's reading of table-function rights (HH-EGRESS-2) against ClickHouse 26.9 itself
(chdb-core): for grant lists an operator or an attacker might write, the table functions the
engine lets past its access check must be exactly what the audit expects. The audit fails a
user when the engine would let it use a table function its grants do not name one by one."""

from __future__ import annotations

import dataclasses
import re
import secrets
from pathlib import Path

import pytest

from hardhouse.audit.grant_rules import parse_grant
from hardhouse.clickhouse.grants import SOURCE_PRIVILEGES
from hardhouse.embedded import run_as
from hardhouse.render import RenderedFile, render, write_files
from hardhouse.spec import load_spec
from tests.audit.test_audit import audit_json, findings
from tests.helpers import stock_tree

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

ACCESS_DENIED = 497
PASSWORDS = {"CH_APP_PASSWORD": secrets.token_urlsafe(24)}
# Each points at a closed loopback port or a missing file: past the access check it fails otherwise.
PROBES = {
    "url": "SELECT count() FROM url('http://127.0.0.1:1/x.csv', CSV, 'a String') SETTINGS http_max_tries = 1",
    "file": "SELECT count() FROM file('x.csv', CSV, 'a String')",
    "remote": "SELECT count() FROM remote('127.0.0.1:1', system.one)",
    "mysql": "SELECT count() FROM mysql('127.0.0.1:1', 'd', 't', 'u', 'p')",
}
GRANT_LISTS = {
    "all": ["GRANT ALL ON *.*"],
    "all, lower case": ["grant all privileges on *.*"],
    "all but sources": ["GRANT ALL ON *.*", "REVOKE SOURCES ON *.*"],
    "all but url": ["GRANT ALL ON *.*", "REVOKE URL ON *.*"],
    "sources": ["GRANT SOURCES ON *.*"],
    "sources back": ["GRANT ALL ON *.*", "REVOKE SOURCES ON *.*", "GRANT SOURCES ON *.*"],
    "revoked all": ["GRANT ALL ON *.*", "REVOKE ALL ON *.*", "GRANT SELECT ON *.*"],
    "one database": ["GRANT ALL ON app.*"],
    "url by name": ["GRANT ALL ON app.*", "GRANT URL ON *.*"],
    "url and file with grant option": ["GRANT URL, FILE ON *.* WITH GRANT OPTION"],
    "select and insert everywhere": ["GRANT SELECT, INSERT ON *.*"],
}
# Where the audit is stricter than 26.9 on purpose: the SOURCES group alone gives 26.9 no READ on
# any source, but it gives every table function on releases before the READ/WRITE source grants.
STRICTER = {"sources"}


def spec() -> dict:
    return {
        "clickhouse_version": "26.9",
        "listen_hosts": ["10.0.0.5"],
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
        },
        "users": [{"name": "app", "password_env": "CH_APP_PASSWORD", "networks": ["10.0.0.0/8"]}],
    }


def with_grants(files: list[RenderedFile], queries: list[str]) -> list[RenderedFile]:
    element = "<grants>" + "".join(f"<query>{q}</query>" for q in queries) + "</grants>"
    return [
        dataclasses.replace(f, content=re.sub(r"<grants>.*?</grants>", element, f.content, flags=re.S))
        if f.path.endswith("zz-hardhouse-users.xml")
        else f
        for f in files
    ]


def named(queries: list[str]) -> set[str]:
    """The table functions these queries grant one by one (what the audit lets pass)."""
    by_privilege = {privilege: name for name, privilege in SOURCE_PRIVILEGES.items()}
    found: set[str] = set()
    for query in queries:
        grant = parse_grant(query)
        assert grant is not None, query
        if not grant.revoke:
            found |= {by_privilege[p] for p in grant.privileges if p in by_privilege}
    return found


@pytest.mark.parametrize("case", list(GRANT_LISTS))
def test_the_audit_fails_a_user_exactly_when_the_engine_allows_an_unnamed_table_function(
    case: str, tmp_path: Path
) -> None:
    queries = GRANT_LISTS[case]
    files = with_grants(render(load_spec(spec()), PASSWORDS), queries)
    report = run_as(files, "app", list(PROBES.values()), setup=["CREATE DATABASE IF NOT EXISTS app"])
    assert report.logged_in, report.login
    allowed = {name for name, outcome in zip(PROBES, report.outcomes, strict=True) if outcome.code != ACCESS_DENIED}

    tree = stock_tree(tmp_path / "etc")
    write_files(files, tree)
    _, audited = audit_json(str(tree), "--dialect", "modern")
    failed = any(f["subject"] == "user app" and not f["undecided"] for f in findings(audited, "HH-EGRESS-2"))
    expected = True if case in STRICTER else bool(allowed - named(queries))
    assert failed == expected, (case, sorted(allowed), findings(audited, "HH-EGRESS-2"))
    if case in STRICTER:
        assert not allowed  # if 26.9 ever gives them, the case joins the others
