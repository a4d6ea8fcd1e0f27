"""The settings sections as rendered and as refused: profile locks (settings constraints),
the server's own logs, secrets in SHOW, server limits; and the audit rules that read them back.
What a client sees is proven in tests/embedded/test_embedded_settings.py (26.9) and
tests/render/test_live_18_16_settings.py (18.16)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from hardhouse.audit.merge import read_server_tree
from hardhouse.audit.rules import (
    queries_unbounded,
    query_log_off,
    query_log_unlocked,
    secrets_displayed,
    session_log_off,
    system_log_no_ttl,
)
from hardhouse.cli import main
from hardhouse.render import RenderedFile, render, write_files
from hardhouse.spec import SpecError, load_spec
from tests.helpers import PASSWORDS, stock_tree

SETTINGS = "zz-hardhouse-settings.xml"
SYSTEM_LOGS = "zz-hardhouse-system-logs.xml"
SHOW_SECRETS = "zz-hardhouse-show-secrets.xml"
LIMITS = "zz-hardhouse-limits.xml"


def by_name(files: list[RenderedFile]) -> dict[str, Any]:
    return {Path(f.path).name: etree.fromstring(f.content.encode()) for f in files}


def rendered(spec_dict: dict[str, Any], environ: dict[str, str], **changes: Any) -> dict[str, Any]:
    spec_dict.update(changes)
    return by_name(render(load_spec(spec_dict), environ))


def elements(parent: Any) -> list[Any]:
    """Child elements, comments left out."""
    return [e for e in parent if isinstance(e.tag, str)]


def constraints(profile: Any) -> dict[str, dict[str, str | None]]:
    section = profile.find("constraints")
    if section is None:
        return {}
    return {c.tag: {e.tag: e.text for e in elements(c)} for c in elements(section)}


def problems(spec_dict: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as refused:
        load_spec(spec_dict)
    return {p.path: f"{p.problem} / {p.fix}" for p in refused.value.problems}


# ---------------------------------------------------------------- item 1: profile locks


def test_v1_profiles_still_load_and_every_setting_they_set_becomes_a_cap(spec_dict, environ) -> None:
    files = rendered(spec_dict, environ)
    writer = files[SETTINGS].find("profiles/writer")
    assert constraints(writer) == {
        "max_execution_time": {"min": "1", "max": "300"},
        "log_queries": {"readonly": None},
        "format_display_secrets_in_show_and_select": {"readonly": None},
        "max_concurrent_queries_for_user": {"min": "1", "max": "20"},
        # set off by the responses file (HH-LEAK-1, HH-HTTP-1) and locked here
        "calculate_text_stack_trace": {"readonly": None},
        "add_http_cors_header": {"readonly": None},
    }
    assert writer.findtext("log_queries") == "1"
    assert writer.findtext("format_display_secrets_in_show_and_select") == "0"
    # The readonly level itself cannot be changed; stock profiles get the same locks.
    assert constraints(files[SETTINGS].find("profiles/readonly"))["readonly"] == {"readonly": None}
    assert constraints(files[SETTINGS].find("profiles/default"))["log_queries"] == {"readonly": None}
    # The profile's own file keeps exactly the spec's settings (replace="1"); the locks merge after it.
    assert [e.tag for e in elements(files["zz-hardhouse-profiles.xml"].find("profiles/writer"))] == [
        "max_execution_time"
    ]


def test_settings_file_merges_after_the_profiles_file(spec_dict, environ) -> None:
    # ClickHouse merges users.d in name order; the profiles file's replace="1" would drop
    # constraints merged before it.
    names = sorted(Path(f.path).name for f in render(load_spec(spec_dict), environ) if f.path.startswith("users.d/"))
    assert names.index(SETTINGS) > names.index("zz-hardhouse-profiles.xml")


def test_a_profiles_own_constraints_win_and_an_empty_one_frees_a_setting(spec_dict, environ) -> None:
    spec_dict["profiles"]["writer"].update(
        max_memory_usage=10_000_000_000,
        constraints={"max_execution_time": {"min": 60, "max": 600}, "max_memory_usage": {}, "max_threads": {"max": 8}},
    )
    writer = rendered(spec_dict, environ)[SETTINGS].find("profiles/writer")
    locks = constraints(writer)
    assert locks["max_execution_time"] == {"min": "60", "max": "600"}
    assert "max_memory_usage" not in locks
    assert locks["max_threads"] == {"max": "8"}


def test_a_setting_the_profile_sets_itself_is_not_overridden(spec_dict, environ) -> None:
    spec_dict["profiles"]["writer"].update(log_queries=0, max_concurrent_queries_for_user=5)
    writer = rendered(spec_dict, environ)[SETTINGS].find("profiles/writer")
    assert writer.find("log_queries") is None and writer.find("max_concurrent_queries_for_user") is None
    assert constraints(writer)["log_queries"] == {"readonly": None}  # locked at the spec's value
    assert constraints(writer)["max_concurrent_queries_for_user"] == {"min": "1", "max": "5"}


def test_an_inherited_profile_is_not_a_setting_to_lock(spec_dict, environ) -> None:
    spec_dict["profiles"]["writer"]["profile"] = "readonly"
    assert "profile" not in constraints(rendered(spec_dict, environ)[SETTINGS].find("profiles/writer"))


def test_lock_profile_settings_false_renders_settings_without_locks(spec_dict, environ) -> None:
    files = rendered(spec_dict, environ, lock_profile_settings=False)
    assert all(profile.find("constraints") is None for profile in elements(files[SETTINGS].find("profiles")))
    assert files[SETTINGS].findtext("profiles/writer/log_queries") == "1"


def test_18_16_gets_the_per_user_cap_and_no_constraints(spec_dict, environ) -> None:
    files = rendered(spec_dict, environ, clickhouse_version="18.16")
    profiles = files[SETTINGS].find("profiles")
    assert {p.tag: [e.tag for e in elements(p)] for p in elements(profiles)} == {
        name: ["max_concurrent_queries_for_user"] for name in ("default", "readonly", "writer")
    }
    assert SYSTEM_LOGS not in files and SHOW_SECRETS not in files


@pytest.mark.parametrize(
    ("change", "path", "says"),
    [
        ({"lock_profile_settings": True}, "lock_profile_settings", "needs ClickHouse 22.8"),
        (
            {"profiles": {"writer": {"max_execution_time": 300, "constraints": {"max_execution_time": {"max": 300}}}}},
            "profiles.writer.constraints",
            "readonly: 1",
        ),
        ({"system_logs": {"retention_days": 30}}, "system_logs.retention_days", "needs ClickHouse 23.8"),
        ({"system_logs": {"session_log": True}}, "system_logs.session_log", "needs ClickHouse 22.8"),
    ],
)
def test_18_16_refuses_what_it_cannot_enforce_naming_the_version(spec_dict, change, path, says) -> None:
    spec_dict.update(clickhouse_version="18.16", **change)
    found = problems(spec_dict)
    assert path in found and says in found[path], found


@pytest.mark.parametrize(
    ("profile", "path", "says"),
    [
        ({"max_execution_time": {"max": 1}}, "profiles", "is a mapping"),
        ({"constraints": 5}, "profiles", "must be a mapping of settings to constraints"),
        (
            {"constraints": {"max_threads": {"mx": 8}}},
            "profiles.writer.constraints.max_threads.mx",
            "did you mean 'max'",
        ),
        (
            {"constraints": {"max_threads": {"min": 8, "max": 2}}},
            "profiles.writer.constraints.max_threads",
            "above max",
        ),
        (
            {"constraints": {"max_threads": {"readonly": True, "max": 2}}},
            "profiles.writer.constraints.max_threads",
            "readonly setting cannot also have",
        ),
        (
            {"max_execution_time": 900, "constraints": {"max_execution_time": {"max": 300}}},
            "profiles.writer.constraints.max_execution_time",
            "outside its own constraint",
        ),
    ],
)
def test_bad_constraints_name_the_field_and_the_fix(spec_dict, profile, path, says) -> None:
    spec_dict["profiles"]["writer"] = profile
    found = problems(spec_dict)
    assert path in found and says in found[path], found


def test_a_bad_constraint_exits_2_and_writes_nothing(spec_dict, tmp_path: Path) -> None:
    import yaml

    spec_dict["profiles"]["writer"]["constraints"] = {"max_execution_time": {"min": 9, "max": 1}}
    source = tmp_path / "spec.yaml"
    source.write_text(yaml.safe_dump(spec_dict))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", "--spec", str(source), "--out", str(out)], env=PASSWORDS)
    assert result.exit_code == 2, result.output
    assert "profiles.writer.constraints.max_execution_time" in result.output
    assert not out.exists() or not any(out.rglob("*.xml"))


# ---------------------------------------------------------------- item 2: the server's own logs


def test_system_logs_expire_after_30_days_by_default_and_session_log_is_on(spec_dict, environ) -> None:
    logs = rendered(spec_dict, environ)[SYSTEM_LOGS]
    tables = {e.tag: e.findtext("ttl") for e in elements(logs)}
    assert tables == dict.fromkeys(
        ("query_log", "query_thread_log", "part_log", "text_log", "trace_log", "session_log"),
        "event_date + INTERVAL 30 DAY DELETE",
    )


def test_22_8_gets_the_session_log_without_a_retention_and_refuses_one(spec_dict, environ) -> None:
    logs = rendered(spec_dict, environ, clickhouse_version="22.8")[SYSTEM_LOGS]
    assert [(e.tag, e.findtext("ttl")) for e in elements(logs)] == [("session_log", None)]
    spec_dict["system_logs"] = {"retention_days": 30}
    assert "needs ClickHouse 23.8" in problems(spec_dict)["system_logs.retention_days"]


def test_session_log_can_be_left_off(spec_dict, environ) -> None:
    logs = rendered(spec_dict, environ, system_logs={"session_log": False, "retention_days": 7})[SYSTEM_LOGS]
    assert "session_log" not in {e.tag for e in elements(logs)}
    assert logs.findtext("query_log/ttl") == "event_date + INTERVAL 7 DAY DELETE"


def test_retention_must_keep_something(spec_dict) -> None:
    spec_dict["system_logs"] = {"retention_days": 0}
    assert "keeps nothing" in problems(spec_dict)["system_logs.retention_days"]


# ---------------------------------------------------------------- items 6 and 7


@pytest.mark.parametrize(("version", "hidden"), [("22.8", False), ("23.8", True), ("26.9", True)])
def test_display_secrets_is_off_where_the_version_has_it(spec_dict, environ, version, hidden) -> None:
    files = rendered(spec_dict, environ, clickhouse_version=version)
    assert (SHOW_SECRETS in files) is hidden
    if hidden:
        assert files[SHOW_SECRETS].findtext("display_secrets_in_show_and_select") == "0"
    writer = files[SETTINGS].find("profiles/writer")
    assert (writer.find("format_display_secrets_in_show_and_select") is not None) is hidden


@pytest.mark.parametrize("version", ["18.16", "26.9"])
def test_server_limits_have_safe_defaults_and_can_be_set(spec_dict, environ, version) -> None:
    limits = rendered(spec_dict, environ, clickhouse_version=version)[LIMITS]
    assert {e.tag: e.text for e in elements(limits)} == {
        "max_connections": "1024",
        "max_concurrent_queries": "100",
        "keep_alive_timeout": "10",
    }
    spec_dict["server_limits"] = {"max_connections": 50}
    assert rendered(spec_dict, environ)[LIMITS].findtext("max_connections") == "50"


def test_a_limit_must_be_positive(spec_dict) -> None:
    spec_dict["server_limits"] = {"max_concurrent_queries": 0}
    assert "not a limit" in problems(spec_dict)["server_limits.max_concurrent_queries"]


def test_rendered_files_name_their_controls(spec_dict, environ) -> None:
    texts = {Path(f.path).name: f.content for f in render(load_spec(spec_dict), environ)}
    assert "HH-SET-1" in texts[SETTINGS] and "HH-LOG-3" in texts[SETTINGS] and "HH-LIMIT-1" in texts[SETTINGS]
    assert "HH-LOG-3" in texts[SYSTEM_LOGS] and "HH-LOG-4" in texts[SYSTEM_LOGS]
    assert "HH-LEAK-2" in texts[SHOW_SECRETS] and "HH-LIMIT-1" in texts[LIMITS]


# ---------------------------------------------------------------- audit rules

TURNED_ON = {
    "config.d/zzz-debug.xml": (
        "<clickhouse>\n  <display_secrets_in_show_and_select>1</display_secrets_in_show_and_select>\n</clickhouse>\n"
    ),
    "users.d/zzz-debug.xml": (
        "<clickhouse><profiles>\n  <writer>\n"
        "    <format_display_secrets_in_show_and_select>true</format_display_secrets_in_show_and_select>\n"
        "    <log_queries>0</log_queries>\n  </writer>\n</profiles></clickhouse>\n"
    ),
}


@pytest.fixture
def modern_tree(tmp_path: Path, spec_dict, environ) -> tuple[Path, dict[str, Any]]:
    tree = stock_tree(tmp_path / "etc")
    spec_dict["clickhouse_version"] = "26.9"
    write_files(render(load_spec(spec_dict), environ), tree)
    return tree, spec_dict


def plant(tree: Path) -> None:
    for relative, text in TURNED_ON.items():
        (tree / relative).write_text(text)


def test_rules_find_secrets_shown_and_query_logging_off_in_a_tree(modern_tree) -> None:
    tree, _ = modern_tree
    assert list(secrets_displayed(read_server_tree(tree))) == []
    assert list(query_log_off(read_server_tree(tree))) == []
    plant(tree)
    merged = read_server_tree(tree)
    shown = {(f.subject, f.value, str(f.origin)) for f in secrets_displayed(merged)}
    assert shown == {
        ("display_secrets_in_show_and_select", "1", "config.d/zzz-debug.xml:2"),
        ("profile writer", "true", "users.d/zzz-debug.xml:3"),
    }
    assert {(f.subject, f.value, str(f.origin)) for f in query_log_off(merged)} == {
        ("profile writer", "0", "users.d/zzz-debug.xml:4")
    }


def test_hardhouse_audit_fails_the_controls_and_names_the_file(modern_tree, tmp_path: Path) -> None:
    import yaml

    tree, data = modern_tree
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    before = CliRunner().invoke(main, ["audit", "--json", str(tree), "--spec", str(spec)], env=PASSWORDS)
    (report,) = json.loads(before.output)["reports"]
    status = {c["id"]: c["status"] for c in report["controls"]}
    assert status["HH-LEAK-2"] == "pass" and status["HH-LOG-3"] == "pass", status
    plant(tree)
    result = CliRunner().invoke(main, ["audit", str(tree), "--spec", str(spec)], env=PASSWORDS)
    assert result.exit_code == 1, result.output
    assert "HH-LEAK-2 display_secrets_in_show_and_select 1 from config.d/zzz-debug.xml:2" in result.output
    assert "HH-LOG-3 profile writer 0 from users.d/zzz-debug.xml:4" in result.output


@pytest.mark.parametrize(
    ("planted", "subject"),
    [
        ("<max_concurrent_queries>0</max_concurrent_queries>", "max_concurrent_queries"),
        ("<query_log><ttl>event_date + INTERVAL 3650 DAY DELETE</ttl></query_log>", "query_log.ttl"),
    ],
)
def test_a_limit_or_retention_undone_by_a_later_file_is_drift(modern_tree, tmp_path: Path, planted, subject) -> None:
    import yaml

    tree, data = modern_tree
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    (tree / "config.d" / "zzz-debug.xml").write_text(f"<clickhouse>\n  {planted}\n</clickhouse>\n")
    result = CliRunner().invoke(main, ["audit", str(tree), "--spec", str(spec)], env=PASSWORDS)
    assert result.exit_code == 1, result.output
    assert f"HH-DRIFT-1 {subject} " in result.output and "config.d/zzz-debug.xml:2" in result.output, result.output


def test_rules_find_logs_kept_forever_no_login_log_and_unbounded_queries(modern_tree) -> None:
    tree, _ = modern_tree
    hardened = read_server_tree(tree)
    assert [*system_log_no_ttl(hardened), *session_log_off(hardened), *queries_unbounded(hardened)] == []
    # The weakened tree: hardhouse's system-logs and limits files gone, Debian's stock left.
    (tree / "config.d" / SYSTEM_LOGS).unlink()
    (tree / "config.d" / LIMITS).unlink()
    (tree / "config.d" / "zzz-debug.xml").write_text(
        "<clickhouse>\n  <max_concurrent_queries>0</max_concurrent_queries>\n</clickhouse>\n"
    )
    weak = read_server_tree(tree)
    # Debian's stock config enables query_log (and query_thread_log's section) without a ttl.
    assert {f.subject for f in system_log_no_ttl(weak)} >= {"query_log"}
    assert [f.subject for f in session_log_off(weak)] == ["session_log"]
    assert [(f.value, str(f.origin)) for f in queries_unbounded(weak)] == [("0", "config.d/zzz-debug.xml:2")]


def test_rule_finds_a_profile_whose_query_logging_can_be_switched_off(modern_tree, environ) -> None:
    tree, data = modern_tree
    assert list(query_log_unlocked(read_server_tree(tree))) == []
    # The weakened render: the same spec with locks off renders log_queries without a constraint.
    data["lock_profile_settings"] = False
    write_files(render(load_spec(data), environ), tree)
    unlocked = {f.subject for f in query_log_unlocked(read_server_tree(tree))}
    assert unlocked == {"profile default", "profile readonly", "profile writer"}
