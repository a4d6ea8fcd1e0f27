"""Endpoints probed per second on loopback: `hardhouse probe` against `nmap -sV`, same endpoints, same run.

    .venv/bin/python bench/probe_bench.py [--hosts 100] [--timeout 3] [--nmap-timeout 300]
    .venv/bin/python bench/probe_bench.py --hostile [--copies 8] [--deadline 10]

The fleet is 1,000 endpoints: 100 loopback addresses (127.0.0.1-100) x 10 ports. Debian's
stock ClickHouse 18.16 listens on 127.0.0.1-5 (plaintext HTTP, native, interserver: the
exposed state), a hardened one on 127.0.0.6-10 (HTTPS and native over TLS only), a
python HTTP server on 127.0.0.1, and four more ports nobody listens on; every other pair is
a closed port. The probe does its full job (logins, listings, sslyze on TLS ports); nmap
does a SYN scan with service detection (-sV). Nothing but loopback is touched.
Prints numbers only; nothing here is asserted.

--hostile: the same probe against a mix of hostile loopback endpoints (endless and huge
bodies, tarpits on HTTP, native and TLS, garbage native packets; tests/probe/fakes.py), each
kind --copies times, in a child process: wall time against the bound the deadline promises
(endpoints / concurrency x deadline), and peak RSS against the same probe over as many
closed ports (the baseline, same run).
"""

from __future__ import annotations

import argparse
import http.server
import os
import secrets
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from hardhouse.ca import write_server_material  # noqa: E402
from hardhouse.probe import Endpoint, ProbeOptions, run_scan  # noqa: E402
from hardhouse.render import render  # noqa: E402
from hardhouse.spec import load_spec  # noqa: E402
from hardhouse.testing.clients import native_query  # noqa: E402
from hardhouse.testing.local_server import LocalClickHouse, server_binary  # noqa: E402

STOCK_HOSTS = [f"127.0.0.{i}" for i in range(1, 6)]
HARDENED_HOSTS = [f"127.0.0.{i}" for i in range(6, 11)]


def listening_ports() -> set[int]:
    """Every port something on this machine listens on (any address), from /proc."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def pick_ports(count: int, avoid: set[int], start: int = 20000) -> list[int]:
    ports = []
    candidate = start
    while len(ports) < count:
        if candidate not in avoid:
            ports.append(candidate)
        candidate += 7
    return ports


def start_stock(work: Path, ports: dict[str, int]) -> LocalClickHouse:
    server = LocalClickHouse(work)
    server.use_stock_ports(**ports)
    listen = "".join(f"    <listen_host>{h}</listen_host>\n" for h in STOCK_HOSTS)  # replaces the stock list
    (server.etc / "config.d" / "01-bench-listen.xml").write_text(f"<clickhouse>\n{listen}</clickhouse>\n")
    server.start([(STOCK_HOSTS[0], ports["http"]), (STOCK_HOSTS[0], ports["native"])])
    native_query(STOCK_HOSTS[0], ports["native"], "CREATE DATABASE IF NOT EXISTS logs")
    native_query(
        STOCK_HOSTS[0],
        ports["native"],
        "CREATE TABLE IF NOT EXISTS logs.log_stream (ts DateTime, message String) ENGINE = MergeTree ORDER BY ts",
    )
    native_query(STOCK_HOSTS[0], ports["native"], "INSERT INTO logs.log_stream SELECT now(), 'api_key=sk-FAKE'")
    return server


def start_hardened(work: Path, https: int, native_tls: int) -> LocalClickHouse:
    tls = write_server_material(work / "tls", HARDENED_HOSTS)
    spec = {
        "clickhouse_version": "18.16",
        "listen_hosts": HARDENED_HOSTS,
        "ports": {"http": None, "native": None, "https": https, "native_tls": native_tls},
        "tls": {"certificate": str(tls.certificate), "private_key": str(tls.private_key), "min_protocol": "tlsv1_2"},
        "default_user": "remove",
        "users": [{"name": "admin", "password_env": "BENCH_ADMIN", "networks": ["127.0.0.1"]}],
    }
    server = LocalClickHouse(work)
    server.install(render(load_spec(spec), {"BENCH_ADMIN": secrets.token_urlsafe(24)}))
    server.start([(HARDENED_HOSTS[0], https), (HARDENED_HOSTS[0], native_tls)])
    return server


def start_web(port: int) -> socketserver.ThreadingTCPServer:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), lambda *a: Quiet(*a, directory=tempfile.gettempdir()))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def run_nmap(hosts: int, ports: list[int], timeout: float) -> dict[str, Any]:
    nmap = shutil.which("nmap")
    if nmap is None:
        return {"error": "nmap is not installed (apt-get install nmap)"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "nmap.xml"
        command = [
            nmap,
            "-sV",
            "-Pn",
            "-n",
            "-T4",
            "-p",
            ",".join(map(str, ports)),
            "-oX",
            str(out),
            f"127.0.0.1-{hosts}",
        ]
        started = time.monotonic()
        try:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"nmap did not finish within {timeout:.0f}s", "command": " ".join(command)}
        except subprocess.CalledProcessError as error:
            return {
                "error": f"nmap failed: {error.stderr.decode(errors='replace')[-300:]}",
                "command": " ".join(command),
            }
        elapsed = time.monotonic() - started
        services = {}
        for host in ET.parse(out).getroot().iter("host"):
            address = host.find("address").get("addr")  # type: ignore[union-attr]
            for port in host.iter("port"):
                state = port.find("state")
                if state is not None and state.get("state") == "open":
                    service = port.find("service")
                    name = service.get("name", "?") if service is not None else "?"
                    product = service.get("product", "") if service is not None else ""
                    services[f"{address}:{port.get('portid')}"] = (name + (f" ({product})" if product else "")).strip()
    return {"elapsed": elapsed, "open": services, "command": " ".join(command)}


MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measured_probe(targets: list[str], *options: str) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB of the probe and its worker children) of one CLI run."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "hardhouse", "probe", *targets, *options],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.monotonic() - started, int(completed.stdout.strip())


def hostile(copies: int, deadline: float, timeout: float) -> int:
    from contextlib import ExitStack

    from hardhouse.probe.wire import native
    from tests.probe import fakes

    kinds = {
        "endless listing": fakes.clickhouse_http(fakes.endless_chunked),
        "huge Content-Length": fakes.clickhouse_http(fakes.huge_content_length),
        "HTTP tarpit": fakes.drip(b"HTTP/1.1 200 OK\r\nX-ClickHouse-Server-Display-Name: db\r\n", every=1.0),
        "listing tarpit": fakes.clickhouse_http(
            fakes.drip(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"y" * 500, every=0.5)
        ),
        "native tarpit": fakes.drip(native.hello("x", "")[:1] + b"\x0aClickHouse", every=1.0),
        "TLS silent": fakes.tls_silent,
        "garbage native": fakes.garbage(os.urandom(4096)),
    }
    options = ["--timeout", str(timeout), "--deadline", str(deadline), "--json", "--concurrency", "256"]
    with ExitStack() as stack:
        # One loopback address each, so the probe's per-host limit does not queue them.
        handlers = [handler for handler in kinds.values() for _ in range(copies)]
        targets = [
            f"127.0.0.{i + 1}:{stack.enter_context(fakes.tcp_service(handler, host=f'127.0.0.{i + 1}'))}"
            for i, handler in enumerate(handlers)
        ]
        wall, rss = measured_probe(targets, *options)
    closed = [f"127.0.0.1:{port}" for port in pick_ports(len(targets), listening_ports(), start=40000)]
    base_wall, base_rss = measured_probe(closed, *options)
    bound = -(-len(targets) // 256) * deadline
    print(
        f"hostile mix: {len(targets)} endpoints ({', '.join(kinds)}; {copies} each), "
        f"--timeout {timeout:g} --deadline {deadline:g}"
    )
    print(
        f"hardhouse probe: {wall:.1f}s wall (bound: endpoints/concurrency x deadline = {bound:.0f}s), "
        f"peak RSS {rss / 1024:.0f} MiB"
    )
    print(f"baseline, {len(closed)} closed ports: {base_wall:.1f}s wall, peak RSS {base_rss / 1024:.0f} MiB")
    print(f"ratio hostile/baseline: {wall / base_wall:.1f}x wall, {rss / base_rss:.2f}x peak RSS")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100, help="loopback addresses 127.0.0.1-N (10 ports each)")
    parser.add_argument("--timeout", type=float, default=3.0, help="probe per-connection timeout")
    parser.add_argument("--nmap-timeout", type=float, default=300.0, help="give up on nmap after this many seconds")
    parser.add_argument("--hostile", action="store_true", help="the hostile mix instead of the fleet against nmap")
    parser.add_argument("--copies", type=int, default=8, help="--hostile: endpoints of each hostile kind")
    parser.add_argument("--deadline", type=float, default=10.0, help="--hostile: per-endpoint deadline")
    args = parser.parse_args()
    if args.hostile:
        return hostile(args.copies, args.deadline, min(args.timeout, 2.0))
    if server_binary() is None:
        print("clickhouse-server is not installed (scripts/setup-machine installs it)", file=sys.stderr)
        return 2

    busy = listening_ports()
    ports = pick_ports(10, busy)
    stock_ports = {"http": ports[0], "native": ports[1], "interserver": ports[2]}
    https, native_tls, web_port = ports[3], ports[4], ports[5]
    endpoints = [Endpoint(f"127.0.0.{h}", p) for h in range(1, args.hosts + 1) for p in ports]

    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        stock = start_stock(Path(tmp) / "stock", stock_ports)
        hardened = start_hardened(Path(tmp) / "hardened", https, native_tls)
        web = start_web(web_port)
        try:
            started = time.monotonic()
            report = run_scan(["bench"], endpoints, ProbeOptions(timeout=args.timeout))
            probe_elapsed = time.monotonic() - started
            nmap = run_nmap(args.hosts, ports, args.nmap_timeout)
        finally:
            web.shutdown()
            web.server_close()
            hardened.stop()
            stock.stop()

    counts = report.counts()
    open_endpoints = {e.address: e for e in report.endpoints if e.state == "open"}
    print(f"machine: {os.cpu_count()} cores; probe concurrency {ProbeOptions().concurrency}, timeout {args.timeout:g}s")
    print(
        f"endpoints: {len(endpoints)} = {args.hosts} loopback addresses x {len(ports)} ports "
        f"({len(STOCK_HOSTS) * 3} stock-exposed, {len(HARDENED_HOSTS) * 2} hardened, 1 other HTTP, the rest closed)"
    )
    print(
        f"hardhouse probe: {probe_elapsed:.2f}s = {len(endpoints) / probe_elapsed:.0f} endpoints/s; "
        f"{counts.get('open', 0)} open, {counts.get('closed', 0)} closed, "
        f"{counts['clickhouse']} ClickHouse, {counts['exposed']} exposed"
    )
    if "error" in nmap:
        print(f"nmap -sV: {nmap['error']}")
        return 0
    print(
        f"nmap -sV: {nmap['elapsed']:.2f}s = {len(endpoints) / nmap['elapsed']:.1f} endpoints/s; "
        f"{len(nmap['open'])} open"
    )
    print(
        f"ratio: hardhouse probe is {nmap['elapsed'] / probe_elapsed:.1f}x the endpoints/s of nmap -sV "
        f"on {os.cpu_count()} cores"
    )
    print("what each named on the open ports (probe | nmap -sV):")
    for address in sorted(
        set(open_endpoints) | set(nmap["open"]),
        key=lambda a: (tuple(int(x) for x in a.split(":")[0].split(".")), int(a.split(":")[1])),
    ):
        endpoint = open_endpoints.get(address)
        ours = (
            f"{endpoint.service} {endpoint.severity.label if endpoint.severity is not None else ''}".strip()
            if endpoint
            else "-"
        )
        print(f"  {address:<18} {ours:<36} | {nmap['open'].get(address, '-')}")
    print(f"nmap command: {nmap['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
