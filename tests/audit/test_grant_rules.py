"""HH-EGRESS-2 in the audit: which users hold every table function, read from the tree as
ClickHouse loads it. The unit cases below pin the reading; tests/audit/test_grant_rules_26_9.py
checks it against ClickHouse 26.9 itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hardhouse.audit.grant_rules import parse_grant
from hardhouse.render import render, write_files
from hardhouse.spec import load_spec
from tests.audit.test_audit import audit_json, findings, spec_data, status
from tests.audit.test_audit import stock as stock  # noqa: F401 (a fixture)
from tests.helpers import PASSWORDS, VALID_SPEC

HASH = "a" * 64


def users_file(*users: str) -> str:
    profiles = (
        "<profiles><ro><readonly>1</readonly></ro><child><profile>ro</profile></child>"
        "<two><readonly>2</readonly></two><overrides><profile>ro</profile><readonly>0</readonly></overrides></profiles>"
    )
    return f"<clickhouse>{profiles}<users>{''.join(users)}</users></clickhouse>\n"


def user(name: str, rights: str = "", profile: str = "default") -> str:
    return (
        f"<{name}><password_sha256_hex>{HASH}</password_sha256_hex><networks><ip>10.0.0.1</ip></networks>"
        f"<profile>{profile}</profile><quota>default</quota>{rights}</{name}>"
    )


def grants(*queries: str) -> str:
    return "<grants>" + "".join(f"<query>{q}</query>" for q in queries) + "</grants>"


def judged(stock: Path, version: str, planted: str) -> dict[str, Any]:
    write_files(render(load_spec(spec_data(version)), PASSWORDS), stock)
    (stock / "users.d" / "zzz-planted.xml").write_text(planted)
    dialect = "18.16" if version == "18.16" else "modern"
    _, report = audit_json(str(stock), "--dialect", dialect)
    return report


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("GRANT ALL ON *.*", (False, ("ALL",), "*.*")),
        ("grant all privileges on *.*", (False, ("ALL PRIVILEGES",), "*.*")),
        ("REVOKE SOURCES ON *.*", (True, ("SOURCES",), "*.*")),
        ("GRANT SELECT(a, b), INSERT ON logs.events", (False, ("SELECT(A, B)", "INSERT"), "logs.events")),
        ("GRANT URL ON *.* WITH GRANT OPTION", (False, ("URL",), "*.*")),
        ("  GRANT\n\tALL   ON  `*.*`  ", (False, ("ALL",), "*.*")),
    ],
)
def test_grant_queries_are_read_as_clickhouse_writes_them(query: str, expected: tuple[Any, ...]) -> None:
    grant = parse_grant(query)
    assert grant is not None and (grant.revoke, grant.privileges, grant.target) == expected


@pytest.mark.parametrize(
    "query",
    [
        "GRANT READ ON URL",  # the source grants of recent releases
        "GRANT READ, WRITE ON *.*",
        "GRANT admin",  # a role: users.d takes none, and the audit does not guess
        "GRANT ALL ON *.* TO bob",
        "GRANT SELECT(a, INSERT ON *.*",
        "GRANT , ON *.*",
        "SELECT 1",
        "",
    ],
)
def test_a_query_the_audit_does_not_read_is_not_guessed(query: str) -> None:
    assert parse_grant(query) is None


CASES = {
    # name: (version, users, {user: expected status of its HH-EGRESS-2 finding or None})
    "no grants on a modern server": ("24.8", [user("bob")], {"bob": "fail"}),
    "an allow-list alone": (
        "24.8",
        [user("bob", "<allow_databases><database>app</database></allow_databases>")],
        {"bob": "fail"},
    ),
    "ALL on everything": ("24.8", [user("bob", grants("GRANT ALL ON *.*"))], {"bob": "fail"}),
    "SOURCES on everything": ("24.8", [user("bob", grants("GRANT SOURCES ON *"))], {"bob": "fail"}),
    "revoked, then granted again": (
        "24.8",
        [user("bob", grants("GRANT ALL ON *.*", "REVOKE SOURCES ON *.*", "GRANT SOURCES ON *.*"))],
        {"bob": "fail"},
    ),
    "one source revoked is not all": (
        "24.8",
        [user("bob", grants("GRANT ALL ON *.*", "REVOKE URL ON *.*"))],
        {"bob": "fail"},
    ),
    "hardhouse's everything but sources": (
        "24.8",
        [user("bob", grants("GRANT ALL ON *.*", "REVOKE ACCESS MANAGEMENT ON *.*", "REVOKE SOURCES ON *.*"))],
        {"bob": None},
    ),
    "a source named": ("24.8", [user("bob", grants("GRANT ALL ON app.*", "GRANT URL ON *.*"))], {"bob": None}),
    "read only, no grants": ("24.8", [user("bob", profile="ro")], {"bob": None}),
    "read only by inheritance": ("24.8", [user("bob", profile="child")], {"bob": None}),
    "readonly 2 is not read only": ("24.8", [user("bob", profile="two")], {"bob": "fail"}),
    "an override of the inherited readonly": ("24.8", [user("bob", profile="overrides")], {"bob": "fail"}),
    "a grant the audit does not read": (
        "24.8",
        [user("bob", grants("GRANT READ ON URL")), user("carol", grants("GRANT ALL ON *.*"))],
        {"bob": "undecided", "carol": "fail"},
    ),
    "an unresolved grant": (
        "24.8",
        [user("bob", '<grants><query from_env="HH_GRANT"/></grants>')],
        {"bob": "undecided"},
    ),
    "an 18.16 writer": ("18.16", [user("bob")], {"bob": "fail"}),
    "an 18.16 reader": ("18.16", [user("bob", profile="ro")], {"bob": None}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_who_holds_every_table_function(stock: Path, case: str) -> None:
    version, users, expected = CASES[case]
    report = judged(stock, version, users_file(*users))
    found = {f["subject"]: ("undecided" if f["undecided"] else "fail") for f in findings(report, "HH-EGRESS-2")}
    for name, outcome in expected.items():
        assert found.get(f"user {name}") == outcome, json.dumps(findings(report, "HH-EGRESS-2"), indent=1)
    if all(outcome is None for outcome in expected.values()):
        assert status(report)["HH-EGRESS-2"] == "pass", findings(report, "HH-EGRESS-2")


def test_a_finding_names_the_line_that_grants_and_the_fix(stock: Path) -> None:
    report = judged(stock, "24.8", users_file(user("bob", grants("GRANT SELECT ON a.*", "GRANT ALL ON *.*"))))
    (finding,) = findings(report, "HH-EGRESS-2")
    assert finding["file"] == "users.d/zzz-planted.xml"
    assert "ALL or SOURCES on *.* is not revoked" in finding["problem"] and "readonly 1" in finding["problem"]


def test_hardhouse_renders_pass_where_users_d_takes_grants(stock: Path) -> None:
    # Every kind of user: a writer with databases, a reader, one with no databases, one naming url.
    data = spec_data("24.8")
    data["users"] += [
        {"name": "tool", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.0.0.9"]},
        {"name": "fetcher", "password_env": "CH_INGEST_PASSWORD", "networks": ["10.0.0.8"], "table_functions": ["url"]},
    ]
    write_files(render(load_spec(data), PASSWORDS), stock)
    _, report = audit_json(str(stock), "--dialect", "modern")
    assert status(report)["HH-EGRESS-2"] == "pass", findings(report, "HH-EGRESS-2")


def test_an_18_16_render_with_a_writer_fails_naming_why(stock: Path) -> None:
    data = json.loads(json.dumps(VALID_SPEC)) | {"clickhouse_version": "18.16"}  # ingest: profile writer
    write_files(render(load_spec(data), PASSWORDS), stock)
    code, report = audit_json(str(stock), "--dialect", "18.16")
    (finding,) = findings(report, "HH-EGRESS-2")
    assert code == 1 and finding["subject"] == "user ingest" and "18.16 has no grants" in finding["problem"]
