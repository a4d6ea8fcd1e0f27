"""Provisioning and least privilege on Debian's real ClickHouse 18.16, over native TLS from
this machine as the deploy does it: the owner creates the log database, a second run changes
nothing, a column is added in place with the rows kept, a type change is refused with nothing
touched, and the reader's rights are proven (SELECT answered, INSERT refused with 164: the
allow-list plus read-only profile, since 18.16 has no GRANT). Redaction at ingest: rows written
through the ingest table are stored as hardhouse's own rewrite predicts, and no secret of them
reaches the disk."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardhouse.ca import write_server_material
from hardhouse.clickhouse.literals import sql_string
from hardhouse.clickhouse.native import Session
from hardhouse.provision import provision
from hardhouse.reach import readable_passwords, source_address
from hardhouse.secret_shapes import BUILTIN_RULES, redact_text
from hardhouse.spec import load_spec
from hardhouse.testing.local_server import server_binary
from hardhouse.verify.privileges import log_rights_checks
from tests.helpers import require
from tests.provision.capture import LEGACY, LiveServer, capture_live, live_server, load_states
from tests.provision.scenarios import LEGACY_ADDRESS, TABLE, with_columns, with_redaction
from tests.secrets.disk import files_holding
from tests.secrets.samples import fake_lines, hostile_lines, secret_part

pytestmark = [pytest.mark.integration, pytest.mark.live]

ROWS = 100


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    with live_server(tmp_path_factory.mktemp("provision-18-16")) as running:
        yield running


@pytest.fixture
def fresh(server: LiveServer) -> LiveServer:
    """No log database yet (each test starts from the server as the deploy first finds it)."""
    with server.session("admin") as admin:
        admin.execute("DROP DATABASE IF EXISTS logs")
    return server


def run(server: LiveServer, data: dict[str, Any] | None = None, apply: bool = True) -> Any:
    spec = load_spec(data or server.spec)
    return provision(LEGACY_ADDRESS, spec, ca=server.tls.ca_certificate, apply=apply, environ=server.environ)


def outcomes(report: Any) -> list[tuple[str, str]]:
    return [(o.outcome, o.target) for o in report.outcomes]


def columns(server: LiveServer) -> list[tuple[str, str]]:
    with server.session("admin") as admin:
        rows = admin.rows("SELECT name, type FROM system.columns WHERE database = 'logs' AND table = 'log_stream'")
    return [(row["name"], row["type"]) for row in rows]


def count(server: LiveServer) -> int:
    with server.session("admin") as admin:
        return int(admin.rows(f"SELECT count() AS n FROM {TABLE}")[0]["n"])


def test_captured_states_are_what_18_16_answers(fresh: LiveServer) -> None:
    assert capture_live(fresh) == load_states()[LEGACY], "run: python -m tests.provision.capture"


def test_first_run_creates_and_a_second_run_changes_nothing(fresh: LiveServer) -> None:
    planned = run(fresh, apply=False)
    assert outcomes(planned) == [("would create", "logs"), ("would create", "logs.log_stream")]
    assert columns(fresh) == []  # a plan touches nothing

    first = run(fresh)
    assert first.ok and first.changed, first.as_dict()
    assert outcomes(first) == [("created", "logs"), ("created", "logs.log_stream")]
    assert columns(fresh) == [("ts", "DateTime"), ("message", "String")]

    second = run(fresh)
    assert second.ok and not second.changed, second.as_dict()
    assert outcomes(second) == [("matched", "logs"), ("matched", "logs.log_stream")]


def test_an_added_column_is_added_in_place_and_the_rows_stay(fresh: LiveServer) -> None:
    assert run(fresh).ok
    with fresh.session("admin") as admin:
        admin.execute(f"INSERT INTO {TABLE} SELECT now(), concat('line ', toString(number)) FROM numbers({ROWS})")
    data = with_columns(fresh.spec, {"ts": "DateTime", "level": "String", "message": "String"})
    report = run(fresh, data)
    assert report.ok and outcomes(report) == [("altered", "logs.log_stream.level"), ("matched", "logs")]
    assert columns(fresh) == [("ts", "DateTime"), ("level", "String"), ("message", "String")]
    assert count(fresh) == ROWS
    with fresh.session("admin") as admin:
        assert admin.rows(f"SELECT countIf(level = '') AS n, countIf(message LIKE 'line %') AS m FROM {TABLE}") == [
            {"n": ROWS, "m": ROWS}
        ]
    assert not run(fresh, data).changed  # and it stays done


def test_a_type_change_is_refused_and_nothing_is_touched(fresh: LiveServer) -> None:
    assert run(fresh).ok
    with fresh.session("admin") as admin:
        admin.execute(f"INSERT INTO {TABLE} SELECT now(), 'kept' FROM numbers({ROWS})")
    before = columns(fresh)
    data = with_columns(fresh.spec, {"ts": "DateTime", "message": "UInt64", "level": "String"})
    report = run(fresh, data)
    assert not report.ok and not report.changed
    assert ("refused", "logs.log_stream.message") in outcomes(report)
    assert ("held back", "logs.log_stream.level") in outcomes(report)  # the harmless part waits too
    assert any("nothing was changed" in error for error in report.errors)
    assert columns(fresh) == before and count(fresh) == ROWS


def test_the_readers_rights_are_proven_as_the_reader(fresh: LiveServer) -> None:
    assert run(fresh).ok
    spec = load_spec(fresh.spec)
    passwords, unreadable = readable_passwords(spec, fresh.environ)
    checks = log_rights_checks(
        LEGACY_ADDRESS,
        fresh.native_tls,
        spec,
        fresh.tls.ca_certificate,
        passwords,
        unreadable,
        source_address(LEGACY_ADDRESS),
    )
    assert [(c.check, c.ok, c.control) for c in checks] == [
        ("reader analyst reads logs.log_stream", True, "HH-DATA-1"),
        ("reader analyst cannot write logs.log_stream", True, "HH-DATA-1"),
    ]
    assert "refused with 164 READONLY (allow_databases + readonly profile: 18.16 has no GRANT)" in checks[1].detail
    assert count(fresh) == 0  # the refused INSERT was a zero-row one


def test_a_reader_outside_reach_is_not_checked_from_here(fresh: LiveServer) -> None:
    assert run(fresh).ok
    data = json.loads(json.dumps(fresh.spec))
    data["users"][1]["networks"] = ["10.20.0.0/16"]
    spec = load_spec(data)
    passwords, unreadable = readable_passwords(spec, fresh.environ)
    (check,) = log_rights_checks(
        LEGACY_ADDRESS, fresh.native_tls, spec, fresh.tls.ca_certificate, passwords, unreadable, "127.0.0.1"
    )
    assert not check.checked and check.check == "reader analyst on logs"
    assert check.detail == "not checked from here: its networks do not include 127.0.0.1"


def test_no_owner_in_reach_fails_with_the_fix_and_creates_nothing(fresh: LiveServer) -> None:
    data = json.loads(json.dumps(fresh.spec))
    data["users"][0]["networks"] = ["10.0.0.0/8"]
    report = run(fresh, data)
    assert not report.ok and report.outcomes == []
    (error,) = report.errors
    assert "admin: its networks do not include 127.0.0.1" in error
    assert (
        "Fix: add 127.0.0.1 (the deploy machine's address) to the networks of one of log_databases.logs.owners" in error
    )
    assert columns(fresh) == []


def test_a_server_whose_certificate_another_ca_signed_gets_no_password(fresh: LiveServer, tmp_path: Path) -> None:
    other = write_server_material(tmp_path / "other", [LEGACY_ADDRESS])
    spec = load_spec(fresh.spec)
    report = provision(LEGACY_ADDRESS, spec, ca=other.ca_certificate, apply=True, environ=fresh.environ)
    assert not report.ok
    assert "certificate verify failed" in report.errors[0], report.errors
    assert columns(fresh) == []


def test_the_deploys_subprocess_answers_json_without_the_password(fresh: LiveServer) -> None:
    request = {"spec": fresh.spec, "address": LEGACY_ADDRESS, "ca": str(fresh.tls.ca_certificate), "mode": "apply"}
    completed = subprocess.run(
        [sys.executable, "-m", "hardhouse.provision"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env={**os.environ, **fresh.environ},
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    assert answer["ok"] and answer["changed"]
    assert [o["outcome"] for o in answer["outcomes"]] == ["created", "created"]
    for password in fresh.environ.values():
        assert password not in completed.stdout + completed.stderr


def test_owner_session_is_the_verified_native_tls_one(fresh: LiveServer) -> None:
    with Session(LEGACY_ADDRESS, fresh.native_tls, "admin", fresh.environ["HH_ADMIN"], fresh.tls.ca_certificate) as s:
        assert s.rows("SELECT version() AS version")[0]["version"].startswith("18.16.")


# ---------------------------------------------------------------- redaction at ingest (HH-DATA-3)


def _insert_lines(session: Session, table: str, lines: list[str]) -> None:
    # INSERT ... SELECT: clickhouse-driver waits for data blocks after an INSERT ... VALUES.
    listed = ", ".join(sql_string(line) for line in lines)
    session.execute(f"INSERT INTO {table} (ts, message) SELECT now(), arrayJoin([{listed}])")


def test_redaction_at_ingest_stores_what_hardhouse_predicts_and_no_secret_reaches_the_disk(fresh: LiveServer) -> None:
    data = with_redaction(fresh.spec)
    first = run(fresh, data)
    assert first.ok, first.as_dict()
    created = [target for outcome, target in outcomes(first) if outcome == "created"]
    assert created[:3] == ["logs", "logs.log_stream", "logs.log_stream_ingest"]
    assert created[3].startswith("logs.log_stream_redact_") and len(created) == 4
    assert not run(fresh, data).changed

    lines = fake_lines() + hostile_lines()
    marker = "hardhouse-plaintext-" + secrets.token_hex(16)
    with fresh.session("admin") as admin:
        _insert_lines(admin, "logs.log_stream_ingest", lines)
        stored = sorted(row["message"] for row in admin.rows(f"SELECT message FROM {TABLE}"))
        # 18.16 has no GRANT: an owner can still write around the view. The row shows that
        # plaintext written to the table is found on disk by the search below.
        _insert_lines(admin, TABLE, [marker])
    # ClickHouse 18.16's replaceRegexpAll stores exactly what hardhouse's own rewrite predicts.
    assert stored == sorted(redact_text(line, BUILTIN_RULES) for line in lines)
    found = files_holding(fresh.data, [marker] + [secret_part(line) for line in lines])
    assert found.pop(marker), "the control row's plaintext should be on disk"
    assert {part: files for part, files in found.items() if files} == {}


def test_a_rule_change_replaces_the_view_and_the_new_rule_applies(fresh: LiveServer) -> None:
    assert run(fresh, with_redaction(fresh.spec)).ok
    data = with_redaction(fresh.spec, [{"name": "acct", "regexp": "(acct-)[0-9]{8}", "replace": "\\1########"}])
    report = run(fresh, data)
    assert report.ok, report.as_dict()
    kinds = sorted(outcome for outcome, target in outcomes(report) if target.startswith("logs.log_stream_redact_"))
    assert kinds == ["created", "dropped"]
    assert not run(fresh, data).changed
    with fresh.session("admin") as admin:
        _insert_lines(admin, "logs.log_stream_ingest", ["paid from acct-12345678"])
        assert admin.rows(f"SELECT message FROM {TABLE}") == [{"message": "paid from acct-########"}]
        views = admin.rows(
            "SELECT count() AS n FROM system.tables WHERE database = 'logs' AND engine = 'MaterializedView'"
        )
    assert views == [{"n": 1}]


def _rights(server: LiveServer, data: dict[str, Any]) -> list[Any]:
    spec = load_spec(data)
    passwords, unreadable = readable_passwords(spec, server.environ)
    return log_rights_checks(
        LEGACY_ADDRESS,
        server.native_tls,
        spec,
        server.tls.ca_certificate,
        passwords,
        unreadable,
        source_address(LEGACY_ADDRESS),
    )


def test_the_deploys_verification_proves_the_redaction_and_fails_when_the_view_is_gone(fresh: LiveServer) -> None:
    data = with_redaction(fresh.spec)
    assert run(fresh, data).ok
    checks = _rights(fresh, data)
    redaction = [c for c in checks if c.control == "HH-DATA-3"]
    assert [(c.ok, c.checked) for c in redaction] == [(True, True)], [c.detail for c in checks]
    assert "stored with the fake api_key rewritten" in redaction[0].detail
    assert all(c.ok for c in checks) and count(fresh) == 0  # the marked row was removed

    with fresh.session("admin") as admin:
        (view,) = admin.rows("SELECT name FROM system.tables WHERE database = 'logs' AND engine = 'MaterializedView'")
        admin.execute(f"DROP TABLE logs.{view['name']}")
    (gone,) = [c for c in _rights(fresh, data) if c.control == "HH-DATA-3"]
    assert not gone.ok and "0 rows marked" in gone.detail


def test_rows_stored_before_redaction_are_rewritten_only_when_asked(fresh: LiveServer) -> None:
    assert run(fresh).ok
    lines = fake_lines()
    with fresh.session("admin") as admin:
        _insert_lines(admin, TABLE, lines + ["a plain line"])
    data = with_redaction(fresh.spec)
    spec = load_spec(data)

    kept = run(fresh, data)
    assert kept.ok and ("note", TABLE) in outcomes(kept)
    assert not any(o.target == TABLE and o.outcome == "altered" for o in kept.outcomes)
    with fresh.session("admin") as admin:
        assert sorted(r["message"] for r in admin.rows(f"SELECT message FROM {TABLE}")) == sorted(
            lines + ["a plain line"]
        )

    asked = provision(
        LEGACY_ADDRESS, spec, ca=fresh.tls.ca_certificate, apply=True, environ=fresh.environ, rewrite_stored=True
    )
    assert asked.ok, asked.as_dict()
    (rewrite,) = [o for o in asked.outcomes if o.target == TABLE and o.outcome == "altered"]
    assert rewrite.detail.startswith(f"{len(lines)} rows stored before redaction are rewritten as asked")
    with fresh.session("admin") as admin:
        stored = sorted(r["message"] for r in admin.rows(f"SELECT message FROM {TABLE}"))
    assert stored == sorted([redact_text(line, BUILTIN_RULES) for line in lines] + ["a plain line"])
    again = provision(
        LEGACY_ADDRESS, spec, ca=fresh.tls.ca_certificate, apply=True, environ=fresh.environ, rewrite_stored=True
    )
    assert again.ok and not again.changed, again.as_dict()
