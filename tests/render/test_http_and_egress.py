"""The http and egress sections and the password policy as rendered (HTTP surface, egress and
files, server-side password policy): each file appears where the target version has what it
writes, refusals name the version needed, the server's password rule agrees with the
render-time judge, and the audit flags a tree that undoes a control (a weakened tree, the same
rule)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any, get_args

import pytest
from lxml import etree

from hardhouse.clickhouse.grants import SOURCE_PRIVILEGES
from hardhouse.render import RenderedFile, render, write_files
from hardhouse.render.credentials import MIN_LENGTH, weakness
from hardhouse.spec import load_spec
from hardhouse.spec.errors import SpecError
from hardhouse.spec.users import TableFunction
from tests.audit.test_audit import audit_json, findings
from tests.helpers import PASSWORDS, VALID_SPEC, stock_tree

EGRESS = "zz-hardhouse-egress.xml"
HANDLERS = "zz-hardhouse-http-handlers.xml"
POLICY = "zz-hardhouse-password-policy.xml"
RESPONSES = "zz-hardhouse-responses.xml"


def spec_dict(version: str = "26.9", **changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(VALID_SPEC))
    data["clickhouse_version"] = version
    data.update(changes)
    return data


def rendered(data: dict[str, Any]) -> dict[str, Any]:
    files = render(load_spec(data), PASSWORDS)
    return {Path(f.path).name: etree.fromstring(f.content.encode()) for f in files if f.path.endswith(".xml")}


@pytest.mark.parametrize(
    ("version", "handlers", "policy"),
    [("18.16", False, False), ("22.8", True, False), ("23.3", True, True), ("26.9", True, True)],
)
def test_each_file_where_the_version_has_it(version, handlers, policy) -> None:  # type: ignore[no-untyped-def]
    files = rendered(spec_dict(version))
    assert (HANDLERS in files) is handlers
    assert (POLICY in files) is policy
    egress = files[EGRESS]
    assert egress.findtext("user_files_path") == "/var/lib/clickhouse/user_files/"
    # 18.16 has neither an allow-list of remote hosts nor crash reports: nothing is written for them
    assert (egress.find("remote_url_allow_hosts") is not None) is handlers
    assert (egress.findtext("send_crash_reports/enabled") == "false") is handlers


def test_no_remote_host_by_default_and_the_listed_ones_when_asked() -> None:
    # An empty remote_url_allow_hosts admits every host; the reserved .invalid name admits none.
    hosts = rendered(spec_dict())[EGRESS].findall("remote_url_allow_hosts/host")
    assert [h.text for h in hosts] == ["hardhouse.invalid"]
    data = spec_dict(egress={"remote_url_allow_hosts": ["files.example.net", "10.0.0.7:9000"]})
    hosts = rendered(data)[EGRESS].findall("remote_url_allow_hosts/host")
    assert [h.text for h in hosts] == ["files.example.net", "10.0.0.7:9000"]


def test_web_ui_off_keeps_only_ping_and_the_query_handler() -> None:
    handlers = rendered(spec_dict())[HANDLERS].find("http_handlers")
    assert handlers.find("defaults") is None  # <defaults/> would bring /play, /dashboard, /binary back
    rules = handlers.findall("rule")
    assert [r.findtext("url") for r in rules] == ["/ping", None]
    assert [r.findtext("handler/type") for r in rules] == ["static", "dynamic_query_handler"]
    assert HANDLERS not in rendered(spec_dict(http={"web_ui": True}))


def test_stack_traces_and_cors_off_in_default_and_every_rendered_profile() -> None:
    profiles = rendered(spec_dict(default_user="lock"))[RESPONSES].find("profiles")
    assert [p.tag for p in profiles] == ["default", "readonly", "writer", "hardhouse_locked"]
    for profile in profiles:
        assert profile.findtext("calculate_text_stack_trace") == "0"
        assert profile.findtext("add_http_cors_header") == "0"
    data = spec_dict(http={"cors_any_origin": True, "stack_traces": True})
    for profile in rendered(data)[RESPONSES].find("profiles"):
        assert profile.findtext("calculate_text_stack_trace") == "1"
        assert profile.findtext("add_http_cors_header") == "1"


def test_a_profiles_own_value_is_left_to_it() -> None:
    data = spec_dict()
    data["profiles"]["writer"]["calculate_text_stack_trace"] = 1
    files = rendered(data)
    writer = files[RESPONSES].find("profiles/writer")
    assert writer.find("calculate_text_stack_trace") is None
    assert files["zz-hardhouse-profiles.xml"].findtext("profiles/writer/calculate_text_stack_trace") == "1"


@pytest.mark.parametrize(
    ("changes", "field", "needs"),
    [
        ({"egress": {"remote_url_allow_hosts": ["files.example.net"]}}, "egress.remote_url_allow_hosts", "22.8"),
        ({"password_policy": {"server_side": True}}, "password_policy.server_side", "23.3"),
    ],
)
def test_features_the_target_lacks_are_refused_naming_the_version(changes, field, needs) -> None:  # type: ignore[no-untyped-def]
    version = "18.16" if needs == "22.8" else "22.8"
    with pytest.raises(SpecError) as refused:
        load_spec(spec_dict(version, **changes))
    text = str(refused.value)
    assert field in text and f"needs ClickHouse {needs} or later" in text


@pytest.mark.parametrize(
    ("path", "problem"),
    [("/", "not a directory of its own"), ("/var/lib/clickhouse/", "not a directory of its own"), ("tmp", "absolute")],
)
def test_user_files_path_must_be_a_directory_of_its_own(path, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as refused:
        load_spec(spec_dict(egress={"user_files_path": path}))
    assert "egress.user_files_path" in str(refused.value) and problem in str(refused.value)


def test_user_files_path_is_written_with_one_trailing_slash() -> None:
    data = spec_dict(egress={"user_files_path": "/srv/clickhouse-files/"})
    assert rendered(data)[EGRESS].findtext("user_files_path") == "/srv/clickhouse-files/"


@pytest.mark.parametrize("host", ["http://files.example.net", "*.example.net", "files.example.net/x", ""])
def test_remote_hosts_are_plain_hosts(host) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as refused:
        load_spec(spec_dict(egress={"remote_url_allow_hosts": [host]}))
    assert "egress.remote_url_allow_hosts" in str(refused.value)


# ---------------------------------------------------------------- the password rule and the judge


def server_refuses(policy: etree._Element, password: str) -> bool:
    """ClickHouse's check: each rule's RE2 pattern must match somewhere in the password."""
    return any(not re.search(rule.findtext("pattern"), password) for rule in policy.findall("password_complexity/rule"))


def test_the_server_rule_refuses_every_password_the_judge_refuses_for_length() -> None:
    policy = rendered(spec_dict())[POLICY]
    assert policy.findtext("default_password_type") == "sha256_password"
    for length in range(0, MIN_LENGTH + 8):
        password = secrets.token_urlsafe(64)[:length]
        if length < MIN_LENGTH:  # the judge refuses it for its length, and so does the server
            assert weakness(password, "x") is not None and server_refuses(policy, password)
        else:  # the length rule lets it through; the judge's guessability test is render-time only
            assert not server_refuses(policy, password)
    assert server_refuses(policy, "short")  # CREATE USER x IDENTIFIED BY 'short'
    strong = secrets.token_urlsafe(24)
    assert weakness(strong, "x") is None and not server_refuses(policy, strong)


def test_weakened_rule_is_caught() -> None:
    policy = rendered(spec_dict())[POLICY]
    policy.find("password_complexity/rule/pattern").text = ".{4}"
    assert not server_refuses(policy, "short")


# ---------------------------------------------------------------- the audit


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return stock_tree(tmp_path / "etc")


def plant(etc: Path, relative: str, body: str) -> None:
    (etc / relative).parent.mkdir(exist_ok=True)
    (etc / relative).write_text(f"<clickhouse>{body}</clickhouse>\n")


def install(etc: Path, files: list[RenderedFile]) -> None:
    write_files(files, etc)


def test_the_rendered_tree_passes_both_rules_and_a_weakened_one_fails(tree: Path) -> None:
    install(tree, render(load_spec(spec_dict("18.16")), PASSWORDS))
    _, report = audit_json(str(tree))
    assert findings(report, "HH-FILES-1") == [] and findings(report, "HH-HTTP-1") == []
    # weakened: a file merged after hardhouse's points file() at the data path, a profile turns CORS on
    plant(tree, "config.d/zzz-debug.xml", "<user_files_path>/var/lib/clickhouse/</user_files_path>")
    plant(
        tree,
        "users.d/zzz-debug.xml",
        "<profiles><default><add_http_cors_header>1</add_http_cors_header></default></profiles>",
    )
    code, report = audit_json(str(tree))
    assert code == 1
    (files_finding,) = findings(report, "HH-FILES-1")
    assert files_finding["file"] == "config.d/zzz-debug.xml" and "holds path" in files_finding["problem"]
    (cors,) = findings(report, "HH-HTTP-1")
    assert cors["subject"] == "profile default" and cors["file"] == "users.d/zzz-debug.xml"


@pytest.mark.parametrize("path", ["/", "/var/lib/clickhouse", "/var/lib/clickhouse/tmp/"])
def test_user_files_path_holding_a_server_directory_is_flagged(tree: Path, path: str) -> None:
    plant(tree, "config.d/zzz.xml", f"<user_files_path>{path}</user_files_path>")
    _, report = audit_json(str(tree))
    assert len(findings(report, "HH-FILES-1")) == 1


# ---------------------------------------------------------------- reader limits (HH-DATA-2)


def limited(version: str = "26.9", **limit: Any) -> dict[str, Any]:
    data = spec_dict(version)
    data["users"][0]["databases"] = ["app"]  # ingest: not a user of the log database here
    data["log_databases"] = {
        "logs": {
            "tables": {
                "events": {"columns": {"ts": "DateTime", "level": "String"}, "time_column": "ts"},
                "audit_trail": {"columns": {"ts": "DateTime", "actor": "String"}, "time_column": "ts"},
            },
            "readers": ["analyst"],
            "reader_limits": {"analyst": limit or {"tables": ["events"], "rows": {"events": "level != 'secret'"}}},
        }
    }
    return data


def test_a_limited_reader_gets_table_grants_and_a_row_filter() -> None:
    analyst = rendered(limited())["zz-hardhouse-users.xml"].find("users/analyst")
    assert [q.text for q in analyst.findall("grants/query")] == ["GRANT SELECT ON logs.events"]
    assert analyst.findtext("databases/logs/events/filter") == "level != 'secret'"
    assert analyst.find("allow_databases") is None


def test_rows_alone_keep_the_whole_database_readable() -> None:
    analyst = rendered(limited(rows={"audit_trail": "actor = 'admin'"}))["zz-hardhouse-users.xml"].find("users/analyst")
    assert [q.text for q in analyst.findall("grants/query")] == ["GRANT SELECT ON logs.*"]
    assert analyst.findtext("databases/logs/audit_trail/filter") == "actor = 'admin'"


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        (limited("23.5"), "log_databases.logs.reader_limits.analyst", "needs ClickHouse 23.6 or later"),
        (limited(tables=["nope"]), "reader_limits.analyst.tables", "'nope' is not declared"),
        (
            limited(tables=["events"], rows={"audit_trail": "1"}),
            "reader_limits.analyst.rows",
            "not among the reader's tables",
        ),
        (limited(rows={"events": "1; DROP TABLE x"}), "reader_limits.analyst.rows", "';'"),
        (limited(rows={"events": " "}), "reader_limits.analyst.rows", "empty"),
    ],
)
def test_reader_limits_are_refused_with_the_field_named(data, field, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as refused:
        load_spec(data)
    assert field in str(refused.value) and problem in str(refused.value), str(refused.value)


def test_a_limit_for_someone_who_is_not_a_reader_is_refused() -> None:
    data = limited()
    data["log_databases"]["logs"]["reader_limits"]["ingest"] = {"tables": ["events"]}
    with pytest.raises(SpecError) as refused:
        load_spec(data)
    assert "reader_limits.ingest" in str(refused.value) and "not a reader" in str(refused.value)


# ---------------------------------------------------------------- table functions (HH-EGRESS-2)


def grants_of(data: dict[str, Any], user: str) -> list[str]:
    element = rendered(data)["zz-hardhouse-users.xml"].find(f"users/{user}")
    assert element.find("allow_databases") is None  # users.d refuses it beside grants
    return [q.text for q in element.findall("grants/query")]


def test_a_user_with_no_databases_gets_everything_but_sources_and_access_management() -> None:
    data = spec_dict()
    del data["users"][0]["databases"]
    assert grants_of(data, "ingest") == [
        "GRANT ALL ON *.*",
        "REVOKE ACCESS MANAGEMENT ON *.*",
        "REVOKE NAMED COLLECTION CONTROL ON *.*",
        "REVOKE SOURCES ON *.*",
    ]


def test_only_the_named_table_functions_are_granted_in_the_spec_order() -> None:
    data = spec_dict()
    data["users"][0]["table_functions"] = ["postgresql", "url", "remote"]
    assert grants_of(data, "ingest") == [
        "GRANT ALL ON logs.*",
        "REVOKE ACCESS MANAGEMENT ON *.*",
        "REVOKE NAMED COLLECTION CONTROL ON *.*",
        "GRANT POSTGRES ON *.*",
        "GRANT URL ON *.*",
        "GRANT REMOTE ON *.*",
    ]


def test_a_log_reader_names_its_table_functions_beside_its_log_rights() -> None:
    data = limited()
    data["users"][1]["table_functions"] = ["file"]
    assert grants_of(data, "analyst") == ["GRANT SELECT ON logs.events", "GRANT FILE ON *.*"]


@pytest.mark.parametrize(
    ("version", "functions", "problem"),
    [
        ("23.5", ["url"], "needs ClickHouse 23.6 or later; clickhouse_version is 23.5"),
        ("18.16", ["file"], "needs ClickHouse 23.6 or later; clickhouse_version is 18.16"),
        ("26.9", ["url", "url"], "listed twice: url"),
        ("26.9", ["url()"], "url()"),
        ("26.9", ["URL"], "URL"),
    ],
)
def test_table_functions_it_cannot_give_or_does_not_know_are_refused(version, functions, problem) -> None:  # type: ignore[no-untyped-def]
    data = spec_dict(version)
    data["users"][0]["table_functions"] = functions
    with pytest.raises(SpecError) as raised:
        load_spec(data)
    message = str(raised.value)
    assert "users[0].table_functions" in message and problem in message


def test_before_23_6_users_keep_the_allow_list_and_no_grants() -> None:
    data = spec_dict("23.3")
    users = rendered(data)["zz-hardhouse-users.xml"]
    assert users.find("users/ingest/grants") is None
    assert [d.text for d in users.findall("users/ingest/allow_databases/database")] == ["logs"]


def test_the_spec_names_exactly_the_table_functions_the_grants_know() -> None:
    # users[].table_functions is a Literal (so the reference lists the names); the grant each
    # name gets lives in clickhouse.grants: the two lists must not drift apart.
    assert list(get_args(TableFunction)) == list(SOURCE_PRIVILEGES)
