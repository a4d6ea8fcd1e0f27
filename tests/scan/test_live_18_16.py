"""`hardhouse scan` against Debian's real ClickHouse 18.16 over native TLS, as the read-only
reader the spec renders (profile readonly=1): the counts per rule are ClickHouse's and exact,
no value reaches any output, the session cannot write, and the bounds hold."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.cli.main import main
from hardhouse.clickhouse.native import ServerError
from hardhouse.render import SQL_FILE, render, sql_statements
from hardhouse.scan.report import Status
from hardhouse.scan.run import ScanOptions, open_session, read_only_settings, scan, session_query
from hardhouse.secret_shapes import BUILTIN_RULES, SecretRule, redact_text
from hardhouse.spec import load_spec
from hardhouse.testing.assertions import assert_no_secrets_at_rest
from hardhouse.testing.clients import native_client
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import require
from tests.provision.scenarios import legacy_spec
from tests.scan.fixtures import expected_counts, random_parts, secret_lines
from tests.secrets.samples import BENIGN
from tests.secrets.unicode_lines import case_folded_lines

pytestmark = [pytest.mark.integration, pytest.mark.live]

SERVE = "127.0.0.2"
READONLY = 164
HOSTILE = "we`ird\\name"  # a backtick and a backslash in a table name


@dataclass
class Server:
    work: Path
    port: int
    tls: TlsFiles
    passwords: dict[str, str]
    lines: list[str]  # the secret lines stored in logs.log_stream

    def admin(self, query: str, rows: list[tuple] | None = None) -> None:  # type: ignore[type-arg]
        client = native_client(
            SERVE, self.port, user="admin", password=self.passwords["admin"], tls=True, ca=self.tls.ca_certificate
        )
        try:
            client.execute(query, rows) if rows is not None else client.execute(query)
        finally:
            client.disconnect()

    def scan(self, user: str = "analyst", **options: object) -> object:
        chosen = ScanOptions(**options)  # type: ignore[arg-type]
        with open_session(SERVE, self.port, user, self.passwords[user], self.tls.ca_certificate, chosen) as session:
            return scan(session_query(session), f"{SERVE}:{self.port}", user, chosen)

    def cli(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            main,
            ["scan", "--host", SERVE, "--port", str(self.port), "--user", "analyst", "--password-env", "HH_SCAN_PW",
             "--ca", str(self.tls.ca_certificate), *args],
            env={"HH_SCAN_PW": self.passwords["analyst"]},
        )  # fmt: skip
        return result.exit_code, result.output


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    work = tmp_path_factory.mktemp("ch1816-scan")
    tls = write_server_material(work / "tls", [SERVE])
    https, port = free_port(SERVE), free_port(SERVE)
    data = legacy_spec(https, port)
    data["tls"] = {"certificate": str(tls.certificate), "private_key": str(tls.private_key)}
    # a second reader whose profile is readonly=2: writes refused, limits may be set
    data["users"].append(
        {"name": "auditor", "password_env": "HH_AUDITOR", "networks": ["127.0.0.0/8"], "profile": "audit"}
    )
    data["profiles"]["audit"] = {"readonly": 2}
    data["log_databases"]["logs"]["readers"].append("auditor")
    # a redacted table: rows written to redacted_ingest are stored rewritten in redacted
    data["log_databases"]["logs"]["tables"]["redacted"] = {
        "columns": {"ts": "DateTime", "message": "String"},
        "time_column": "ts",
        "redact": {"rules": [{"name": "ticket", "regexp": "TCK-[0-9]{8}"}]},
    }
    (work / "spec.yaml").write_text(yaml.safe_dump(data))
    passwords = {name: secrets.token_urlsafe(24) for name in ("admin", "analyst", "app", "auditor")}
    files = render(load_spec(data), {f"HH_{n.upper()}": p for n, p in passwords.items()})
    local = LocalClickHouse(work)
    local.install(files)
    local.start([(SERVE, https), (SERVE, port)])
    try:
        running = Server(work, port, tls, passwords, secret_lines())
        for statement in sql_statements(next(f for f in files if f.path == SQL_FILE).content):
            running.admin(statement)
        stored = [*running.lines, *BENIGN]
        running.admin("INSERT INTO logs.log_stream (ts, message) VALUES", [(0, line) for line in stored])
        written = [*running.lines, "ticket TCK-12345678 closed", *BENIGN]
        running.admin("INSERT INTO logs.redacted_ingest (ts, message) VALUES", [(0, line) for line in written])
        running.admin("CREATE TABLE logs.quiet (ts DateTime, message String) ENGINE = MergeTree ORDER BY ts")
        running.admin("INSERT INTO logs.quiet (ts, message) VALUES", [(0, line) for line in BENIGN])
        running.admin(
            "CREATE TABLE logs.mixed (note Nullable(String), tags Array(String), code FixedString(8), n UInt64) "
            "ENGINE = Log"
        )
        running.admin(
            "INSERT INTO logs.mixed (note, tags, code, n) VALUES",
            [(None, ["plain", running.lines[0]], b"ok", 1), (running.lines[0], [], b"ok", 2), (None, [], b"ok", 3)],
        )
        running.admin("CREATE TABLE logs.`we\\`ird\\\\name` (`m``sg` String) ENGINE = Log")
        running.admin("INSERT INTO logs.`we\\`ird\\\\name` VALUES", [(running.lines[0],), ("plain",)])
        running.admin(
            "CREATE TABLE logs.sampled (d Date, id UInt64, message String) ENGINE = MergeTree "
            "PARTITION BY d ORDER BY (d, intHash64(id)) SAMPLE BY intHash64(id)"
        )
        running.admin("INSERT INTO logs.sampled SELECT today(), number, 'plain line' FROM system.numbers LIMIT 20000")
        # 200 MB of text (one 20,000-row block): a few patterns without a literal take seconds over it.
        running.admin("CREATE TABLE logs.slow (message String, hint String ALIAS concat(message, 'x')) ENGINE = Log")
        running.admin(
            "INSERT INTO logs.slow SELECT arrayStringConcat(arrayMap(x -> 'abcd', range(2500))) "
            "FROM system.numbers LIMIT 20000"
        )
        yield running
    finally:
        local.stop()


def test_the_counts_per_rule_are_exact_and_no_value_is_printed(server: Server) -> None:
    report = server.scan(tables=("log_stream",))
    (table,) = report.tables  # type: ignore[attr-defined]
    expected = expected_counts([*server.lines, *BENIGN])
    assert set(expected) == {rule.name for rule in BUILTIN_RULES}, "every rule must have rows to count"
    assert table.examined == len(server.lines) + len(BENIGN)
    assert {m.rule: m.rows for m in table.matches if m.column == "message"} == expected
    assert table.status == Status.SECRETS

    parts = random_parts(server.lines)
    assert parts
    for fmt in ((), ("--json",), ("--sarif",)):
        code, output = server.cli("--database", "logs", "--table", "log_stream", *fmt)
        assert code == 1, output
        leaked = [part for part in parts if part in output]
        assert not leaked, f"{len(leaked)} secret values in the {fmt or 'text'} output"
        if fmt == ("--json",):
            (tables,) = json.loads(output)["tables"]
            assert {m["rule"]: m["rows"] for m in tables["matches"]} == expected
            assert tables["rows_examined"] == len(server.lines) + len(BENIGN)
        if fmt == ("--sarif",):
            results = json.loads(output)["runs"][0]["results"]
            assert {r["properties"]["rule"] for r in results} == set(expected)
            assert {r["ruleId"] for r in results} == {"HH-DATA-4"}


def test_a_clean_table_exits_0(server: Server) -> None:
    code, output = server.cli("--database", "logs", "--table", "quiet")
    assert code == 0, output
    assert "1 tables: 0 with secrets" in output and output.rstrip().endswith("OK")


def test_nullable_array_fixedstring_and_a_hostile_name(server: Server) -> None:
    report = server.scan(tables=("mixed", HOSTILE))
    by_name = {t.table: t for t in report.tables}  # type: ignore[attr-defined]
    mixed = by_name["mixed"]
    assert mixed.columns == ["note", "tags", "code"] and mixed.examined == 3
    rules = expected_counts([server.lines[0]])
    assert {(m.column, m.rule): m.rows for m in mixed.matches} == {
        **{("note", rule): 1 for rule in rules},
        **{("tags", rule): 1 for rule in rules},
    }
    hostile = by_name[HOSTILE]
    assert hostile.examined == 2 and {(m.column, m.rows) for m in hostile.matches} == {("m`sg", 1)}


def test_the_scans_session_cannot_write(server: Server) -> None:
    options = ScanOptions()
    # the reader (readonly=1 profile): nothing may be set, and an insert is refused
    with open_session(
        SERVE, server.port, "analyst", server.passwords["analyst"], server.tls.ca_certificate, options
    ) as s:
        settings, how, _ = read_only_settings(session_query(s), 5)
        assert settings == {} and "readonly=1 from the user's profile" in how
        with pytest.raises(ServerError) as refused:
            s.execute("INSERT INTO logs.log_stream SELECT now(), 'x'")
        assert refused.value.code == READONLY
    # an owner (readonly=0): the settings the scan sends make its own session read-only
    with open_session(SERVE, server.port, "admin", server.passwords["admin"], server.tls.ca_certificate, options) as s:
        settings, how, _ = read_only_settings(session_query(s), 5)
        assert settings["readonly"] == 1 and settings["max_execution_time"] == 5
        for statement in (
            "INSERT INTO logs.quiet SELECT now(), 'x'",
            "DROP TABLE logs.quiet",
            "CREATE TABLE logs.t (x UInt8) ENGINE = Memory",
        ):
            with pytest.raises(ServerError) as refused:
                s.execute(statement, settings)
            assert refused.value.code == READONLY


def test_the_row_bound_and_the_sample(server: Server) -> None:
    report = server.scan(tables=("log_stream", "sampled"), max_rows=2)
    by_name = {t.table: t for t in report.tables}  # type: ignore[attr-defined]
    assert by_name["log_stream"].examined == 2 and by_name["log_stream"].sample is None
    report = server.scan(tables=("sampled",), max_rows=1000)
    (sampled,) = report.tables  # type: ignore[attr-defined]
    assert sampled.total_rows == 20000 and sampled.sample == "0.050000"
    assert 0 < sampled.examined <= 1000 and sampled.status == Status.CLEAN
    code, output = server.cli("--table", "log_stream", "--max-rows", "2", "--json")
    assert json.loads(output)["tables"][0]["rows_examined"] == 2


def test_a_wrong_password_is_one_line_and_exit_2(server: Server) -> None:
    result = CliRunner().invoke(
        main,
        ["scan", "--host", SERVE, "--port", str(server.port), "--user", "analyst", "--password-env", "HH_SCAN_PW",
         "--ca", str(server.tls.ca_certificate)],
        env={"HH_SCAN_PW": secrets.token_urlsafe(24)},
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "code 193" in result.output and "Traceback" not in result.output


def test_the_pytest_helper_fails_with_counts_and_passes_a_clean_table(server: Server) -> None:
    login = (SERVE, server.port, "analyst", server.passwords["analyst"], server.tls.ca_certificate)
    assert_no_secrets_at_rest(*login, databases=("logs",), tables=("quiet",))
    with pytest.raises(AssertionError) as failed:
        assert_no_secrets_at_rest(*login, databases=("logs",), tables=("log_stream", HOSTILE))
    message = str(failed.value)
    total, api_keys = len(server.lines) + len(BENIGN), expected_counts([*server.lines, *BENIGN])["api_key"]
    assert f"logs.log_stream.message: {api_keys} of {total} rows examined match api_key" in message
    assert "logs.we`ird\\name.m`sg: 1 of 2 rows examined match api_key" in message
    assert not [part for part in random_parts(server.lines) if part in message]


# Distinct (ClickHouse computes an expression once), no literal to search first: about 0.45 s each.
SLOW_RULES = tuple(SecretRule(f"slow{n}", f"[a-d]{{1,{200 + n}}}[^a-d]", "[REDACTED]", "slow") for n in range(8))


@pytest.mark.slow
def test_a_table_slower_than_the_bound_times_out_and_is_undecided(server: Server) -> None:
    report = server.scan("auditor", tables=("slow",), max_seconds=1, default_rules=SLOW_RULES)
    assert "readonly=2 from the user's profile; max_execution_time=1 sent" in report.session  # type: ignore[attr-defined]
    (slow,) = report.tables  # type: ignore[attr-defined]
    assert slow.columns == ["message"]  # the ALIAS column is computed, not stored: not asked
    assert slow.status == Status.INCOMPLETE, slow
    assert slow.reason == "timed out (over 1 s, code 159)", slow
    assert report.failed  # type: ignore[attr-defined]
    owner = server.scan("admin", tables=("slow",), max_seconds=1, default_rules=SLOW_RULES)
    assert owner.tables[0].reason == "timed out (over 1 s, code 159)"  # type: ignore[attr-defined]
    done = server.scan("auditor", tables=("slow",), max_seconds=60, max_rows=10, default_rules=SLOW_RULES[:1])
    assert done.tables[0].status == Status.CLEAN and done.tables[0].examined == 10  # type: ignore[attr-defined]


def test_a_table_redacted_at_ingest_scans_clean_with_the_specs_rules(server: Server) -> None:
    result = CliRunner().invoke(
        main,
        ["scan", "--host", SERVE, "--ca", str(server.tls.ca_certificate), "--spec", str(server.work / "spec.yaml"),
         "--table", "redacted", "--table", "redacted_ingest", "--json"],
        env={f"HH_{name.upper()}": password for name, password in server.passwords.items()},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["user"] == "analyst"  # the spec's first reader, its password from the spec's source
    tables = {t["table"]: t for t in document["tables"]}
    assert tables["redacted_ingest"]["status"] == "skipped"  # a Null table stores nothing
    redacted = tables["redacted"]
    assert redacted["status"] == "clean" and redacted["rows_examined"] == len(server.lines) + 1 + len(BENIGN)
    assert redacted["rules"][-1] == "ticket"  # the table's own rule, counted too
    # the rows are there, rewritten: the marker counted where RE2's own rewrite puts it
    marker = SecretRule("marker", r"\[REDACTED", "", "what redaction writes")
    own = SecretRule("ticket", "TCK-[0-9]{8}", "[REDACTED]", "the spec's rule")
    report = server.scan(tables=("redacted",), default_rules=(marker,))
    written = [*server.lines, "ticket TCK-12345678 closed", *BENIGN]
    rewritten = sum("[REDACTED" in redact_text(line, (*BUILTIN_RULES, own)) for line in written)
    assert rewritten == len(server.lines) + 1
    assert [(m.rule, m.rows) for m in report.tables[0].matches] == [("marker", rewritten)]  # type: ignore[attr-defined]


def test_a_teams_case_insensitive_rule_counts_as_re2_does_where_18_16s_shortcut_would_not(server: Server) -> None:
    """18.16's match() alone misses "BEARER x" for (?i)bearer\\s+\\S+ (a literal shortcut that
    drops (?i)); the scan asks it behind a top-level alternation, which runs RE2."""
    rules = [
        SecretRule("shouted", r"(?i)bearer\s+\S+", "[REDACTED]", "team rule"),
        SecretRule("folded", r"(?i)password=\S+", "x", ""),
    ]
    lines = ["AUTHORIZATION: BEARER abc", "authorization: bearer def", *case_folded_lines(), "nothing here"]
    server.admin("CREATE TABLE logs.shouting (ts DateTime, message String) ENGINE = MergeTree ORDER BY ts")
    try:
        server.admin(
            "INSERT INTO logs.shouting (ts, message) VALUES", [(dt.datetime(2026, 1, 1), line) for line in lines]
        )
        report = server.scan(tables=("shouting",), default_rules=rules)
        (table,) = report.tables  # type: ignore[attr-defined]
        expected = {rule.name: sum(rule.compiled().search(line) is not None for line in lines) for rule in rules}
        assert expected == {"shouted": 3, "folded": 1}
        assert {m.rule: m.rows for m in table.matches} == expected
    finally:
        server.admin("DROP TABLE IF EXISTS logs.shouting")
