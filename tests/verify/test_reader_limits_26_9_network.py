"""A log reader's limits on ClickHouse 26.9 over the network, proven by the deploy's own checks
(hardhouse.verify.privileges.log_rights_checks, which the deploy's verification runs, with its
reader-limit lines from hardhouse.verify.reader_limits): the reader cannot SET a locked limit
away (452), reads only its tables (497 on the other) and sees none of the rows its row filter
hides while the owner sees them. The same checks fail on a server whose rendered files lost
the constraints, the row filter and the table grant.

The server is hardhouse.testing.ModernClickHouse (chdb-core 26.9) behind its TLS front, so the
deploy's Session runs unmodified; the TLS endpoint is the fixture's, not ClickHouse's."""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hardhouse.reach import readable_passwords, source_address
from hardhouse.render import RenderedFile, render
from hardhouse.spec import HardeningSpec, load_spec
from hardhouse.testing.modern_server import HOST, ModernClickHouse, rendered_sql
from hardhouse.verify.checks import Check
from hardhouse.verify.privileges import log_rights_checks
from hardhouse.verify.reader_limits import READER_ROWS, READER_TABLES, SETTINGS_LOCKED
from tests.provision.scenarios import modern_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

PASSWORDS = {
    name: secrets.token_urlsafe(24) for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD", "CH_ADMIN_PASSWORD")
}
HIDDEN_ROWS = 3  # rows the reader's filter hides; the owner sees them
SEED = [
    "INSERT INTO logs.log_stream (ts, message, level) VALUES "
    "(now(), 'a', 'secret'), (now(), 'b', 'secret'), (now(), 'c', 'secret'), (now(), 'd', 'info')",
    "INSERT INTO logs.audit_trail (ts, message) VALUES (now(), 'e')",
]
LOCKED = {"max_execution_time", "max_result_rows", "max_concurrent_queries_for_user", "log_queries"}


def spec_data(server: ModernClickHouse) -> dict[str, Any]:
    """modern_spec, everyone on loopback; the reader on a profile that is not read-only (so
    only the constraints stop a SET), limited to log_stream and to its rows not 'secret'."""
    data = modern_spec("26.9")
    data["ports"] = {"https": server.https, "native_tls": server.native_tls}
    for user in data["users"]:
        user["networks"] = ["127.0.0.1"]
        if user["name"] == "analyst":
            user["profile"] = "dashboard"
    data["profiles"] = {"dashboard": {"max_execution_time": 30, "max_result_rows": 100000}}
    logs = data["log_databases"]["logs"]
    logs["tables"]["log_stream"]["columns"]["level"] = "String"
    logs["tables"]["audit_trail"] = {"columns": {"ts": "DateTime", "message": "String"}, "time_column": "ts"}
    logs["reader_limits"] = {"analyst": {"tables": ["log_stream"], "rows": {"log_stream": "level != 'secret'"}}}
    return data


def weakened(files: list[RenderedFile]) -> list[RenderedFile]:
    """The same files without the profile's constraints, the row filter and the table grant."""
    out = []
    for file in files:
        content = file.content
        if file.path == "users.d/zz-hardhouse-settings.xml":
            content, n = re.subn(r"(<dashboard>.*?)<constraints>.*?</constraints>", r"\1", content, flags=re.S)
            assert n == 1
        if file.path == "users.d/zz-hardhouse-users.xml":
            content, n = re.subn(r"<databases>.*?</databases>", "", content, flags=re.S)
            assert n == 1
            content = content.replace("GRANT SELECT ON logs.log_stream", "GRANT SELECT ON logs.*")
        out.append(dataclasses.replace(file, content=content))
    return out


@contextmanager
def served(workdir: Path, weaken: bool = False) -> Iterator[tuple[HardeningSpec, ModernClickHouse]]:
    server = ModernClickHouse(workdir, tls=True)
    spec = load_spec(spec_data(server))
    files = render(spec, environ=PASSWORDS)
    server.install(weakened(files) if weaken else files)
    with server:
        server.start([*rendered_sql(files), *SEED])
        yield spec, server


def deploy_checks(spec: HardeningSpec, server: ModernClickHouse) -> list[Check]:
    """The log users' checks as the deploy's verification runs them from this machine."""
    passwords, unreadable = readable_passwords(spec, PASSWORDS)
    return log_rights_checks(HOST, server.native_tls, spec, server.ca, passwords, unreadable, source_address(HOST))


def limit_lines(checks: list[Check]) -> dict[str, Check]:
    return {c.check: c for c in checks if c.proves in (READER_TABLES, READER_ROWS, SETTINGS_LOCKED)}


def test_the_reader_is_held_to_its_limits(tmp_path: Path) -> None:
    with served(tmp_path) as (spec, server):
        every = deploy_checks(spec, server)
    assert [(c.check, c.detail) for c in every if not c.ok] == []
    lines = limit_lines(every)
    settings = {name.split()[-3] for name, c in lines.items() if c.proves is SETTINGS_LOCKED}
    assert settings >= LOCKED
    assert all(
        "refused with 452 SETTING_CONSTRAINT_VIOLATION" in c.detail
        for c in lines.values()
        if c.proves is SETTINGS_LOCKED
    )
    assert lines["reader analyst cannot read logs.audit_trail"].detail == "refused with 497 ACCESS_DENIED"
    rows = lines["reader analyst sees only the rows of logs.log_stream its filter allows"]
    assert rows.checked and rows.control is not None and str(rows.control) == "HH-DATA-2"
    assert rows.detail == f"the reader sees 0 of the {HIDDEN_ROWS} rows outside the filter the owner sees"


def test_the_same_checks_fail_without_the_constraints_the_filter_and_the_grant(tmp_path: Path) -> None:
    with served(tmp_path, weaken=True) as (spec, server):
        lines = limit_lines(deploy_checks(spec, server))
    for setting in ("max_execution_time", "max_result_rows"):
        line = lines[f"reader analyst cannot SET {setting} = 0"]
        assert not line.ok and line.detail.startswith("accepted"), line
    assert not lines["reader analyst cannot read logs.audit_trail"].ok
    rows = lines["reader analyst sees only the rows of logs.log_stream its filter allows"]
    assert not rows.ok and rows.detail.startswith(f"the reader sees {HIDDEN_ROWS} of the {HIDDEN_ROWS} rows")
