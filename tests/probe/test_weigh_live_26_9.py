"""`hardhouse probe --count-secrets` against modern ClickHouse on the network: chdb-core 26.9's
clickhouse-local serving HTTP and native on loopback (SYSTEM START LISTEN, see ENVIRONMENT),
its `default` user open to anyone. The GET whose query continues in the body is run read-only
by 26.9 as by 18.16, and the counts per rule are exactly RE2's over both protocols."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hardhouse.cli.probe import probe_command
from hardhouse.clickhouse.literals import sql_string
from hardhouse.testing.clients import port_open
from hardhouse.testing.local_server import free_port
from tests.scan.fixtures import expected_counts, random_parts, secret_lines
from tests.secrets.samples import BENIGN

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

HOST = "127.0.0.1"
USERS = """<clickhouse>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
  <users><default><no_password/><networks><ip>::/0</ip></networks><profile>default</profile>
    <quota>default</quota></default></users>
</clickhouse>
"""
# clickhouse-local reads ./config.xml; the listeners live while this one query runs.
SERVE = """
import os, sys, chdb
os.chdir(sys.argv[1])
setup = open("setup.sql").read()
chdb._chdb.query(setup + "SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; "
    "SELECT sleepEachRow(1) FROM numbers(600) SETTINGS max_block_size=1 FORMAT Null", "TabSeparated")
"""


@pytest.fixture(scope="module")
def modern(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, list[str]]]:
    root: Path = tmp_path_factory.mktemp("probe-weigh-26-9")
    http, native = free_port(), free_port()
    (root / "config.xml").write_text(
        f"<clickhouse><listen_host>{HOST}</listen_host><http_port>{http}</http_port><tcp_port>{native}</tcp_port>"
        f"<path>{root}/data/</path><users_config>users.xml</users_config></clickhouse>\n"
    )
    (root / "users.xml").write_text(USERS)
    lines = secret_lines()
    values = ", ".join(f"(0, {sql_string(line)})" for line in [*lines, *BENIGN])
    (root / "setup.sql").write_text(
        "CREATE DATABASE logs; CREATE TABLE logs.log_stream (ts DateTime, message String) "
        f"ENGINE = MergeTree ORDER BY ts; INSERT INTO logs.log_stream VALUES {values}; "
    )
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root
    )
    try:
        ends = time.monotonic() + 60
        while not (port_open(HOST, http) and port_open(HOST, native)):
            assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else ""
            assert time.monotonic() < ends, "26.9 did not listen within 60 s"
            time.sleep(0.2)
        yield http, native, lines
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:  # sleepEachRow outlasts SIGTERM at times
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def test_the_probe_weighs_an_open_26_9_exactly_over_http_and_native(modern: tuple[int, int, list[str]]) -> None:
    http, native, lines = modern
    result = CliRunner().invoke(
        probe_command,
        ["--no-progress", "--no-tls-scan", "--count-secrets", "--json", f"{HOST}:{http}", f"{HOST}:{native}"],
    )
    assert result.exit_code == 1, result.output
    endpoints = {e["service"]: e for e in json.loads(result.output)["endpoints"]}
    assert set(endpoints) == {"clickhouse-http", "clickhouse-native"}
    for service, endpoint in endpoints.items():
        found = endpoint["secret_count"]
        assert endpoint["version"].startswith("26.9") and found["error"] is None, found
        expected_mode = "readonly=2" if service == "clickhouse-http" else "readonly=1 and max_execution_time=5"
        assert found["read_only"].startswith(expected_mode)
        (table,) = found["tables"]
        assert {m["rule"]: m["rows"] for m in table["matches"]} == expected_counts(lines)
        assert table["rows_examined"] == len(lines) + len(BENIGN)
    assert not [part for part in random_parts(lines) if part in result.output]
