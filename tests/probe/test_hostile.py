"""The probe against endpoints that fight back: endless and huge bodies, byte-drip tarpits,
a TLS port that never answers, garbage native packets, text meant to corrupt the report.

Each scan runs `hardhouse probe` in a child whose address space is capped, and checks what
a user would see: it ends on time, its memory stays flat, its report is small and clean.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from hardhouse.probe.wire import native
from hardhouse.probe.worker import JobFailed, run_job
from tests.probe.fakes import (
    clickhouse_http,
    drip,
    endless_chunked,
    garbage,
    http_answer,
    huge_content_length,
    read_request,
    tcp_service,
    tls_silent,
)

# Each test runs the probe in a capped child and waits out its deadlines: seconds each.
pytestmark = pytest.mark.slow

MEMORY_CAP = 1536 * 1024 * 1024  # the probe's whole address space; one unbounded read exceeds it
RSS_LIMIT_KB = 400 * 1024  # what a scan of a few endpoints may peak at, whatever they send
OUTPUT_LIMIT = 256 * 1024


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_kb: int


# A fresh parent per run, so RUSAGE_CHILDREN covers exactly the probe and its worker children.
MEASURE = """
import resource, subprocess, sys
cap = int(sys.argv[1])
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
code = subprocess.call(sys.argv[3:], preexec_fn=limit)
open(sys.argv[2], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def probe(*args: str, wall: float = 90.0) -> Run:
    """`hardhouse probe ARGS` in a child capped at MEMORY_CAP, with its peak RSS."""
    rss = Path(os.environ.get("TMPDIR", "/tmp")) / f"hardhouse-probe-rss-{os.getpid()}-{time.monotonic_ns()}"
    command = [
        sys.executable,
        "-c",
        MEASURE,
        str(MEMORY_CAP),
        str(rss),
        sys.executable,
        "-m",
        "hardhouse",
        "probe",
        *args,
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"}
    )
    try:
        stdout, stderr = process.communicate(timeout=wall)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the probe was still running after {wall:g}s")
    seconds = time.monotonic() - started
    peak = int(rss.read_text()) if rss.exists() else 0
    rss.unlink(missing_ok=True)
    return Run(process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"), seconds, peak)


FAST = ["--timeout", "1", "--deadline", "8", "--no-tls-scan", "--json"]


def endpoint_of(run: Run) -> dict:
    assert run.code in (0, 1), run.stderr[-2000:]
    assert len(run.stdout) < OUTPUT_LIMIT
    (endpoint,) = json.loads(run.stdout)["endpoints"]
    return endpoint


@pytest.mark.parametrize(
    "listing", [endless_chunked, huge_content_length], ids=["endless chunked body", "huge Content-Length"]
)
def test_an_endless_listing_is_cut_off_and_the_access_still_reported(listing: Callable) -> None:
    with tcp_service(clickhouse_http(listing)) as port:
        run = probe(f"127.0.0.1:{port}", *FAST)
    endpoint = endpoint_of(run)
    assert run.code == 1 and "anonymous-access" in {f["rule"] for f in endpoint["findings"]}
    assert any("larger than" in error or "cut short" in error for error in endpoint["inventory"]["errors"])
    assert run.peak_rss_kb < RSS_LIMIT_KB, f"peak RSS {run.peak_rss_kb} KiB"
    assert run.seconds < 30


def test_an_endless_ping_answer_is_cut_off() -> None:
    with tcp_service(endless_chunked) as port:
        run = probe(f"127.0.0.1:{port}", *FAST)
    endpoint = endpoint_of(run)
    assert endpoint["state"] == "open" and run.peak_rss_kb < RSS_LIMIT_KB and run.seconds < 30


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(
            drip(b"HTTP/1.1 200 OK\r\nX-ClickHouse-Server-Display-Name: db1\r\nContent-Length: 4\r\n\r\nOk.\n"),
            id="HTTP tarpit",
        ),
        pytest.param(drip(native.hello("x", "")[:1] + b"\x0aClickHouse" + b"\x18\x08"), id="native tarpit"),
        pytest.param(tls_silent, id="TLS port that never answers the ClientHello"),
    ],
)
def test_a_tarpit_ends_within_the_deadline(handler: Callable) -> None:
    with tcp_service(handler) as port:
        run = probe(f"127.0.0.1:{port}", "--timeout", "1", "--deadline", "6", "--json")
    endpoint_of(run)
    assert run.seconds < 6 + 8, f"took {run.seconds:.1f}s with --deadline 6"


def test_a_listing_that_drips_ends_at_the_deadline_and_the_access_is_still_reported() -> None:
    """The old probe read listings in threads no timeout could cancel: this never finished."""
    tarpit = drip(b"HTTP/1.1 200 OK\r\nX-ClickHouse-Query-Id: x\r\n" + b"X-Padding: " + b"y" * 200, every=0.5)
    with tcp_service(clickhouse_http(tarpit)) as port:
        run = probe(f"127.0.0.1:{port}", "--timeout", "1", "--deadline", "6", "--no-tls-scan", "--json")
    endpoint = endpoint_of(run)
    assert run.code == 1 and "anonymous-access" in {f["rule"] for f in endpoint["findings"]}
    assert "did not finish within 6s" in (endpoint["error"] or "")
    assert run.seconds < 6 + 8, f"took {run.seconds:.1f}s with --deadline 6"


def test_a_whole_run_ends_within_endpoints_over_concurrency_times_deadline() -> None:
    with ExitStack() as stack:
        ports = [stack.enter_context(tcp_service(drip(b"HTTP/1.1 200 OK\r\n" * 4))) for _ in range(12)]
        run = probe(
            *(f"127.0.0.1:{p}" for p in ports), "--timeout", "2", "--deadline", "4", "--concurrency", "6", "--json"
        )
    assert run.code in (0, 1) and len(json.loads(run.stdout)["endpoints"]) == 12
    assert run.seconds < (12 / 6) * 4 + 8, f"took {run.seconds:.1f}s"


GARBAGE = {
    "huge string length": b"\x00" + b"\xff\xff\xff\xff\x0f" + b"x" * 100,
    "endless varint": b"\xff" * 64,
    "exception with a gigabyte message": b"\x02" + b"\x00\x00\x00\x00" + b"\x0dDB::Exception" + b"\xff\xff\xff\xff\x03",
    "unknown packet type": b"\x63" + os.urandom(200),
    "random": os.urandom(4096),
}


@pytest.mark.parametrize("payload", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_native_packets_are_not_clickhouse(payload: bytes) -> None:
    with tcp_service(garbage(payload)) as port:
        run = probe(f"127.0.0.1:{port}", *FAST)
    endpoint = endpoint_of(run)
    assert run.code == 0 and endpoint["clickhouse"] is False and not endpoint["findings"]
    assert "Traceback" not in run.stderr


HOSTILE_TEXT = "db1\x1b[2J\x1b]0;pwned\x07\r\nEVIL: yes" + "x" * 5000


def hostile_text_server(conn) -> None:  # type: ignore[no-untyped-def]
    request = read_request(conn)
    headers = f"X-ClickHouse-Server-Display-Name: {HOSTILE_TEXT}\r\nServer: {HOSTILE_TEXT}\r\n".encode("latin-1")
    if request.startswith(b"GET /ping"):
        conn.sendall(http_answer(b"200 OK", b"Ok.\n", headers))
    else:
        body = f"Code: 516. DB::Exception: {HOSTILE_TEXT} (version 24.8.{HOSTILE_TEXT})\n".encode("latin-1")
        conn.sendall(http_answer(b"401 Unauthorized", body, headers))


@pytest.mark.parametrize("output", ["--json", "--sarif", "--verbose"])
def test_server_text_reaches_the_report_only_as_a_bounded_escaped_excerpt(output: str) -> None:
    with tcp_service(hostile_text_server) as port:
        run = probe(f"127.0.0.1:{port}", "--timeout", "1", "--no-tls-scan", output)
    assert run.code in (0, 1), run.stderr[-2000:]
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout and "EVIL: yes\n" not in run.stdout
    assert "x" * 300 not in run.stdout  # excerpts are bounded
    if output != "--verbose":
        assert "\\x1b" in json.dumps(json.loads(run.stdout)) or "db1" in run.stdout


def test_a_worker_job_is_killed_at_its_deadline() -> None:
    """The native listing runs clickhouse-driver in a child; a tarpit cannot keep it alive."""
    with tcp_service(drip(b"\x00" * 50, every=1.0)) as port:
        started = time.monotonic()
        with pytest.raises(JobFailed, match="did not finish within 3s"):
            asyncio.run(
                run_job(
                    "native_inventory",
                    {
                        "host": "127.0.0.1",
                        "port": port,
                        "tls": False,
                        "user": "default",
                        "password": "",
                        "timeout": 30.0,
                        "via": "test",
                    },
                    3.0,
                )
            )
    assert time.monotonic() - started < 8


def test_a_tls_scan_of_a_silent_port_ends_with_an_error(tmp_path: Path) -> None:
    from hardhouse.probe.tls import scan_tls

    with tcp_service(tls_silent) as port:
        started = time.monotonic()
        posture = asyncio.run(scan_tls("127.0.0.1", port, timeout=1.0, deadline=5.0))
    assert posture.error and time.monotonic() - started < 10
