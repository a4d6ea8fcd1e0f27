"""The real masscan sweeps, `hardhouse probe --from-scan` judges: end to end, inside a network
namespace the test creates (root; tests/probe/netns.py says why masscan needs a veth pair
there rather than plain lo). An anonymous ClickHouse-like HTTP endpoint listens on an unusual
port of one address in a /28; every other address and port is closed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardhouse.probe.scanfiles import read_scan_file
from tests.helpers import require
from tests.probe.netns import Namespace, can_create_namespaces, run_masscan

pytestmark = [pytest.mark.integration, pytest.mark.root]

ROOT = Path(__file__).resolve().parents[2]
HOST, PORT = "127.0.5.7", 18123
SERVE = f"""
import sys, time
sys.path[:0] = [{str(ROOT / "src")!r}, {str(ROOT)!r}]
from tests.probe.fakes import clickhouse_http, tcp_service
with tcp_service(clickhouse_http(), host={HOST!r}, port={PORT}):
    print("ready", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("form", ["-oJ", "-oL", "-oX"])
def test_masscan_finds_it_and_the_probe_judges_it(tmp_path: Path, form: str) -> None:
    why = can_create_namespaces()
    require(why is None, why or "")
    require(shutil.which("masscan") is not None, "masscan is not installed (scripts/setup-machine installs it)")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    with Namespace(f"hhtest-{os.getpid()}") as ns:
        ns.add_scanner_link()
        server = subprocess.Popen(ns.command(sys.executable, "-c", SERVE), stdout=subprocess.PIPE, env=env)
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
        scan = tmp_path / f"scan{form}"
        seconds = run_masscan(ns, ["127.0.5.0/28"], [PORT, 9000], [form, str(scan)], rate=5000, limit=60)
        found = read_scan_file(str(scan))
        assert {(e.host, e.port) for e in found.endpoints} == {(HOST, PORT)}, scan.read_text()[:2000]
        started = time.monotonic()
        probe = subprocess.run(
            ns.command(
                sys.executable, "-m", "hardhouse", "probe", "--from-scan", str(scan),
                "--timeout", "2", "--no-tls-scan", "--no-default-credentials", "--json",
            ),
            capture_output=True,
            timeout=120,
            env=env,
            check=False,
        )  # fmt: skip
        server.kill()
    assert probe.returncode == 1, probe.stderr.decode(errors="replace")[-2000:]
    (endpoint,) = json.loads(probe.stdout)["endpoints"]
    assert (endpoint["host"], endpoint["port"], endpoint["clickhouse"]) == (HOST, PORT, True)
    assert "anonymous-access" in {finding["rule"] for finding in endpoint["findings"]}
    assert b"not ClickHouse's usual ones" in probe.stderr
    assert seconds < 30 and time.monotonic() - started < 60
