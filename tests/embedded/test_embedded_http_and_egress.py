"""The HTTP surface, egress and files in modern ClickHouse's own code (chdb-core 26.9): the new concern files load, and
app users are refused the url, file, s3, remote, mysql and postgresql table functions.

What chdb-core cannot show, and why (each checked by experiment, see versions.FEATURES): it
opens no HTTP listener (http_handlers, CORS), its clickhouse-local never applies
remote_url_allow_hosts (url() to a host outside the list still connects), and it neither
reads password_complexity nor has a writable access storage (user_directories/local_directory
is ignored: CREATE USER answers 514 before any password rule). 497 is ACCESS_DENIED.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

import pytest
from lxml import etree

from hardhouse.embedded import run_as, validate_embedded
from hardhouse.render import RenderedFile, render
from hardhouse.spec import load_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

ACCESS_DENIED = 497
PASSWORDS = {"CH_APP_PASSWORD": secrets.token_urlsafe(24), "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24)}
# Each points at a closed loopback port or a missing file; http_max_tries=1 keeps a weakened
# run from retrying a refused connection.
SOURCES = {
    "url": "SELECT count() FROM url('http://127.0.0.1:1/x.csv', CSV, 'a String') SETTINGS http_max_tries = 1",
    "file": "SELECT count() FROM file('x.csv', CSV, 'a String')",
    "s3": "SELECT count() FROM s3('http://127.0.0.1:1/bucket-hh/x.csv', CSV, 'a String')",
    "remote": "SELECT count() FROM remote('127.0.0.1:1', system.one)",
    "mysql": "SELECT count() FROM mysql('127.0.0.1:1', 'd', 't', 'u', 'p')",
    "postgresql": "SELECT count() FROM postgresql('127.0.0.1:1', 'd', 't', 'u', 'p')",
}


def spec(log_database: bool = True, **app: Any) -> dict[str, Any]:
    user = {"name": "app", "password_env": "CH_APP_PASSWORD", "networks": ["10.0.0.0/8"], "databases": ["app"]}
    user.update(app)
    data: dict[str, Any] = {
        "clickhouse_version": "26.9",
        "listen_hosts": ["10.0.0.5"],
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
        },
        "users": [
            {k: v for k, v in user.items() if v is not None},
            {"name": "analyst", "password_env": "CH_ANALYST_PASSWORD", "networks": ["10.1.2.0/24"]},
        ],
        "log_databases": {
            "logs": {
                "tables": {"events": {"columns": {"ts": "DateTime", "message": "String"}, "time_column": "ts"}},
                "readers": ["analyst"],
            }
        },
    }
    if not log_database:  # a user without an allow-list is refused beside a log database
        del data["log_databases"]
    return data


def test_the_issue_12_files_load_into_26_9() -> None:
    files = render(load_spec(spec()), PASSWORDS)
    report = validate_embedded(files)
    assert report.ok, report.errors
    for name in ("egress", "http-handlers", "password-policy"):
        assert f"zz-hardhouse-{name}.xml" in report.config_d


@pytest.mark.parametrize("user", ["app", "analyst"])
def test_app_users_are_refused_every_source_table_function(user) -> None:  # type: ignore[no-untyped-def]
    # app: an allow-list (users[].databases); analyst: a log reader (users.d grants).
    report = run_as(render(load_spec(spec()), PASSWORDS), user, list(SOURCES.values()), setup=["CREATE DATABASE app"])
    assert report.logged_in, report.login
    for name, outcome in zip(SOURCES, report.outcomes, strict=True):
        assert not outcome.ok and outcome.code == ACCESS_DENIED, (name, outcome.message)
        assert "READ ON" in outcome.message  # the source grant it lacks


def without_grants(files: list[RenderedFile]) -> list[RenderedFile]:
    """The weakened set: no <grants> element, so a user without an allow-list gets what a
    users.d user gets by default (everything, sources included)."""
    return [
        dataclasses.replace(f, content=re.sub(r"\s*<grants>.*?</grants>", "", f.content, flags=re.S))
        if f.path.endswith("zz-hardhouse-users.xml")
        else f
        for f in files
    ]


def test_a_user_without_an_allow_list_is_refused_every_source_table_function_too() -> None:
    # Least privilege by default: no databases, no log rights, no table_functions.
    files = render(load_spec(spec(log_database=False, databases=None)), PASSWORDS)
    report = run_as(files, "app", list(SOURCES.values()))
    assert report.logged_in, report.login
    for name, outcome in zip(SOURCES, report.outcomes, strict=True):
        assert not outcome.ok and outcome.code == ACCESS_DENIED, (name, outcome.message)


def test_weakened_a_user_without_grants_reaches_the_file_and_the_network() -> None:
    # The same user with the grants taken out holds every source: the query gets past the
    # access check to the missing file and the closed port.
    files = without_grants(render(load_spec(spec(log_database=False, databases=None)), PASSWORDS))
    report = run_as(files, "app", [SOURCES["url"], SOURCES["file"]])
    assert report.logged_in, report.login
    for outcome in report.outcomes:
        assert not outcome.ok and outcome.code != ACCESS_DENIED, outcome.message


def test_a_named_table_function_is_given_and_no_other() -> None:
    files = render(load_spec(spec(table_functions=["url"])), PASSWORDS)
    report = run_as(files, "app", list(SOURCES.values()), setup=["CREATE DATABASE app"])
    assert report.logged_in, report.login
    outcomes = dict(zip(SOURCES, report.outcomes, strict=True))
    # url gets past the access check to the closed port; every other source is refused.
    assert not outcomes["url"].ok and outcomes["url"].code != ACCESS_DENIED, outcomes["url"].message
    for name, outcome in outcomes.items():
        if name != "url":
            assert outcome.code == ACCESS_DENIED, (name, outcome.message)


def test_everything_but_sources_is_what_users_d_gives_by_default_minus_sources() -> None:
    # ClickHouse itself as the oracle: the explicit grants of a user without databases equal the
    # implicit rights of the same user without <grants>, except the line granting the sources
    # (so the render neither widens the user, e.g. to CREATE USER, nor narrows it).
    files = render(load_spec(spec(log_database=False, databases=None)), PASSWORDS)
    explicit = run_as(files, "app", ["SHOW GRANTS"]).outcomes[0]
    implicit = run_as(without_grants(files), "app", ["SHOW GRANTS"]).outcomes[0]
    assert explicit.ok and implicit.ok, (explicit.message, implicit.message)
    explicit_lines = [row["GRANTS"] for row in explicit.rows]
    implicit_lines = [row["GRANTS"] for row in implicit.rows]
    assert "GRANT SOURCES ON *.* TO default" in implicit_lines
    assert explicit_lines == [line for line in implicit_lines if line != "GRANT SOURCES ON *.* TO default"]


def test_a_user_with_databases_gets_them_and_nothing_global() -> None:
    # Written as grants (users.d cannot mix them with allow_databases), ALL on the user's
    # databases must not carry ALL's database-scoped CREATE USER or named collections, and
    # nothing global: 26.9's own allow_databases would keep SYSTEM SHUTDOWN.
    files = render(load_spec(spec(log_database=False)), PASSWORDS)
    queries = [
        "SHOW GRANTS",
        "CREATE TABLE app.t (a UInt8) ENGINE = Memory",
        "SELECT count() FROM app.t",
        f"CREATE USER app IDENTIFIED WITH sha256_password BY '{secrets.token_urlsafe(18)}'",  # per run
        "CREATE DATABASE other",
    ]
    report = run_as(files, "app", queries, setup=["CREATE DATABASE app"])
    assert report.logged_in, report.login
    grants, create, select, create_user, other = report.outcomes
    text = " ".join(row["GRANTS"] for row in grants.rows)
    for absent in ("CREATE USER", "NAMED COLLECTION", "SYSTEM SHUTDOWN", "SOURCES", " ON *.*"):
        assert absent not in text, absent
    assert create.ok and select.ok, (create.message, select.message)
    assert create_user.code == ACCESS_DENIED and "CREATE USER" in create_user.message
    assert other.code == ACCESS_DENIED


def test_password_complexity_cannot_be_exercised_embedded() -> None:
    pytest.skip(
        "chdb-core 26.9 does not read password_complexity (300 rules and an invalid pattern load silently) and "
        "ignores user_directories/local_directory, so CREATE USER answers 514 (no writable access storage) "
        "before any password rule; the rule itself is checked against the render-time judge in "
        "tests/render/test_http_and_egress.py"
    )


# ---------------------------------------------------------------- HH-DATA-2: reader limits


def limited_spec() -> dict[str, Any]:
    data = spec(databases=["app"])
    data["users"].append(
        {"name": "admin", "password_env": "CH_APP_PASSWORD", "networks": ["10.9.9.9"], "databases": ["app"]}
    )
    data["log_databases"]["logs"]["tables"]["audit_trail"] = {
        "columns": {"ts": "DateTime", "actor": "String"},
        "time_column": "ts",
    }
    data["log_databases"]["logs"]["tables"]["events"]["columns"]["level"] = "String"
    data["log_databases"]["logs"]["owners"] = ["admin"]
    data["log_databases"]["logs"]["reader_limits"] = {
        "analyst": {"tables": ["events"], "rows": {"events": "level != 'secret'"}}
    }
    return data


LIMIT_SETUP = [
    "INSERT INTO logs.events (ts, message, level) VALUES (now(), 'routine', 'info'), (now(), 'api_key=sk-x', 'secret')",
    "INSERT INTO logs.audit_trail (ts, actor) VALUES (now(), 'admin')",
]
LIMIT_QUERIES = [
    "SELECT count() AS n FROM logs.events",
    "SELECT count() AS n FROM logs.events WHERE level = 'secret'",
    "SELECT count() AS n FROM logs.audit_trail",
]


def weaken_limits(files: list[RenderedFile]) -> list[RenderedFile]:
    """The reader's row filter dropped and its table grant widened to the whole database."""
    out = []
    for file in files:
        if file.path == "users.d/zz-hardhouse-users.xml":
            root = etree.fromstring(file.content.encode())
            analyst = root.find("users/analyst")
            analyst.remove(analyst.find("databases"))
            for query in analyst.findall("grants/query"):
                query.text = query.text.replace("logs.events", "logs.*")
            file = dataclasses.replace(file, content=etree.tostring(root, encoding="unicode"))
        out.append(file)
    return out


def test_a_limited_reader_sees_only_its_rows_and_tables() -> None:
    report = run_as(render(load_spec(limited_spec()), PASSWORDS), "analyst", LIMIT_QUERIES, setup=LIMIT_SETUP)
    assert report.logged_in, report.login
    events, secret, other = report.outcomes
    assert events.ok and events.rows in ([{"n": "1"}], [{"n": 1}]), events
    assert secret.ok and secret.rows in ([{"n": "0"}], [{"n": 0}]), secret
    assert not other.ok and other.code == ACCESS_DENIED, other.message


def test_the_owner_still_sees_every_row() -> None:
    report = run_as(render(load_spec(limited_spec()), PASSWORDS), "admin", LIMIT_QUERIES[:2], setup=LIMIT_SETUP)
    assert report.logged_in, report.login
    assert [o.rows for o in report.outcomes] in ([[{"n": "2"}], [{"n": "1"}]], [[{"n": 2}], [{"n": 1}]])


def test_weakened_limits_show_the_hidden_rows_and_the_other_table() -> None:
    files = weaken_limits(render(load_spec(limited_spec()), PASSWORDS))
    report = run_as(files, "analyst", LIMIT_QUERIES, setup=LIMIT_SETUP)
    assert report.logged_in, report.login
    events, secret, other = report.outcomes
    assert events.rows in ([{"n": "2"}], [{"n": 2}]) and secret.rows in ([{"n": "1"}], [{"n": 1}])
    assert other.ok, other.message
