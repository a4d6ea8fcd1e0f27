"""Discovery at scale: masscan sweeps, `hardhouse probe --from-scan` judges; same run, same range.

    sudo .venv/bin/python bench/discovery_bench.py                  # both parts
    sudo .venv/bin/python bench/discovery_bench.py --part sweep     # masscan + probe against nmap -sV
    sudo .venv/bin/python bench/discovery_bench.py --part dropping  # address space that drops packets

Needs root: each part runs in a network namespace this bench creates (and deletes on exit, with
every process left in it). Nothing leaves the namespace.

sweep: 127.0.9.0/24 x the probe's 9 ports + 18123 (2,560 endpoints). Debian's stock ClickHouse
18.16 listens on 127.0.9.10-12 (HTTP, native, interserver: the exposed state), a hardened one on
127.0.9.20-21 (HTTPS and native over TLS), an anonymous ClickHouse-like HTTP endpoint on the
unusual port 127.0.9.30:18123 and a plain web server on 127.0.9.31:8123. Timed: masscan, then
`hardhouse probe --from-scan` over what it saw open (full probe: logins, listings, sslyze), against
`nmap -sV` alone over the same range and ports, and the probe alone over the whole range. masscan
cannot sweep `lo` itself (see tests/probe/netns.py), so it sends through a veth pair inside the
namespace to the same 127.0.9.x addresses.

dropping: 127.64.0.0/19 port 8123 (8,190 endpoints; --drop-prefix); an iptables DROP rule in the namespace
swallows every address but four live anonymous ClickHouse-like endpoints. The probe alone at
growing --concurrency (endpoints/s, and memory per in-flight endpoint: peak RSS minus the same
probe of one dropped endpoint, divided by the endpoints in flight), against masscan + probe.
Prints numbers only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from hardhouse.clickhouse.ports import PROBE_PORTS  # noqa: E402
from hardhouse.probe.scanfiles import read_scan_file  # noqa: E402
from tests.probe.netns import Namespace, can_create_namespaces, run_masscan  # noqa: E402

SWEEP_RANGE = "127.0.9.0/24"
STOCK = ["127.0.9.10", "127.0.9.11", "127.0.9.12"]
HARDENED = ["127.0.9.20", "127.0.9.21"]
UNUSUAL = ("127.0.9.30", 18123)  # an anonymous ClickHouse-like HTTP endpoint off the usual ports
OTHER_WEB = ("127.0.9.31", 8123)  # something else on a ClickHouse port
SWEEP_PORTS = [*PROBE_PORTS, UNUSUAL[1]]

DROP_BASE = "127.64.0.0"  # --drop-prefix sets the size (22 or shorter: the live ones sit in the first /22)
DROP_PORT = 8123
LIVE = ["127.64.0.10", "127.64.1.20", "127.64.2.30", "127.64.3.40"]

CHILD_ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "COLUMNS": "200"}

MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:], stdout=open(sys.argv[1], "wb"))
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def probe_cli(report: Path, *args: str) -> tuple[float, int, dict]:
    """`hardhouse probe ARGS --json` in a fresh parent: (wall s, peak RSS KiB of it and its workers, report)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(report), sys.executable, "-m", "hardhouse", "probe", *args, "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=CHILD_ENV,
    )
    wall = time.monotonic() - started
    code, rss = done.stdout.split()
    if int(code) not in (0, 1):
        raise RuntimeError(f"hardhouse probe exited {code}: {done.stderr[-1000:]}")
    return wall, int(rss), json.loads(report.read_text())


# ------------------------------------------------------------------------------ endpoints


def start_stock(work: Path) -> object:
    from hardhouse.testing.clients import native_query
    from hardhouse.testing.local_server import LocalClickHouse

    server = LocalClickHouse(work)
    server.use_stock_ports(http=8123, native=9000, interserver=9009)
    listen = "".join(f"    <listen_host>{host}</listen_host>\n" for host in STOCK)
    (server.etc / "config.d" / "01-bench-listen.xml").write_text(f"<clickhouse>\n{listen}</clickhouse>\n")
    server.start([(STOCK[0], 8123), (STOCK[0], 9000)])
    native_query(STOCK[0], 9000, "CREATE DATABASE IF NOT EXISTS logs")
    native_query(STOCK[0], 9000, "CREATE TABLE IF NOT EXISTS logs.log_stream (m String) ENGINE = Log")
    native_query(STOCK[0], 9000, "INSERT INTO logs.log_stream SELECT 'api_key=sk-FAKE'")
    return server


def start_hardened(work: Path) -> object:
    from hardhouse.ca import write_server_material
    from hardhouse.render import render
    from hardhouse.spec import load_spec
    from hardhouse.testing.local_server import LocalClickHouse

    tls = write_server_material(work / "tls", HARDENED)
    spec = {
        "clickhouse_version": "18.16",
        "listen_hosts": HARDENED,
        "ports": {"http": None, "native": None, "https": 8443, "native_tls": 9440},
        "tls": {"certificate": str(tls.certificate), "private_key": str(tls.private_key), "min_protocol": "tlsv1_2"},
        "default_user": "remove",
        "users": [{"name": "admin", "password_env": "BENCH_ADMIN", "networks": ["127.0.0.1"]}],
    }
    server = LocalClickHouse(work)
    server.install(render(load_spec(spec), {"BENCH_ADMIN": secrets.token_urlsafe(24)}))
    server.start([(HARDENED[0], 8443), (HARDENED[0], 9440)])
    return server


def other_web(conn) -> None:  # type: ignore[no-untyped-def]
    from tests.probe.fakes import http_answer, read_request

    read_request(conn)
    conn.sendall(http_answer(b"200 OK", b"<html>hello</html>\n", b"Server: nginx\r\n"))


# ------------------------------------------------------------------------------ inside the namespace


def sweep(namespace: str, rate: int, nmap_timeout: float) -> None:
    from tests.probe.fakes import clickhouse_http, tcp_service

    endpoints = 256 * len(SWEEP_PORTS)
    with tempfile.TemporaryDirectory(prefix="discovery-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        for server in (start_stock(work / "stock"), start_hardened(work / "hardened")):
            stack.callback(server.stop)  # type: ignore[attr-defined]
        stack.enter_context(tcp_service(clickhouse_http(), host=UNUSUAL[0], port=UNUSUAL[1]))
        stack.enter_context(tcp_service(other_web, host=OTHER_WEB[0], port=OTHER_WEB[1]))
        ns = Namespace(namespace)  # the one this process runs in (made by in_namespace)
        ns.router_mac = os.environ["HH_ROUTER_MAC"]
        print(f"sweep: {SWEEP_RANGE} x {len(SWEEP_PORTS)} ports = {endpoints} endpoints, in namespace {namespace}")
        scan = work / "masscan.json"
        masscan_wall = run_masscan(ns, [SWEEP_RANGE], SWEEP_PORTS, ["-oJ", str(scan)], rate=rate, limit=300)
        masscan_open = {(e.host, e.port) for e in read_scan_file(str(scan)).endpoints}
        print(f"  masscan --rate {rate} --wait 1: {masscan_wall:.2f}s, {len(masscan_open)} open", flush=True)
        probe_wall, _, judged = probe_cli(work / "judged.json", "--from-scan", str(scan))
        total = masscan_wall + probe_wall
        print(
            f"  hardhouse probe --from-scan: {probe_wall:.2f}s for {len(masscan_open)} endpoints, "
            f"{judged['summary'].get('exposed', 0)} exposed; masscan + probe {total:.2f}s",
            flush=True,
        )
        alone_wall, _, alone = probe_cli(work / "alone.json", SWEEP_RANGE, "--ports", ",".join(map(str, SWEEP_PORTS)))
        print(
            f"  hardhouse probe alone over the whole range: {alone_wall:.2f}s "
            f"({endpoints / alone_wall:.0f} endpoints/s), {alone['summary'].get('exposed', 0)} exposed",
            flush=True,
        )
        nmap_xml = work / "nmap.xml"
        nmap = [
            "nmap", "-sV", "-Pn", "-n", "-T4", "-p", ",".join(map(str, SWEEP_PORTS)), "-oX", str(nmap_xml), SWEEP_RANGE
        ]  # fmt: skip
        started = time.monotonic()
        subprocess.run(nmap, check=True, capture_output=True, timeout=nmap_timeout)
        nmap_wall = time.monotonic() - started
        nmap_found = read_scan_file(str(nmap_xml))  # the probe's own reader of nmap -oX
        nmap_open = {(e.host, e.port) for e in nmap_found.endpoints}
        services = nmap_services(nmap_xml)

    print(f"  nmap -sV alone: {nmap_wall:.2f}s, {len(nmap_open)} open")
    print(f"  ratio nmap -sV / (masscan + hardhouse probe): {nmap_wall / total:.1f}x faster")
    print(f"  ratio wall (masscan + probe) / probe alone: {total / alone_wall:.2f}x (on loopback nothing drops)")
    agree = (
        "the same"
        if masscan_open == nmap_open
        else f"masscan only {sorted(masscan_open - nmap_open)}, nmap only {sorted(nmap_open - masscan_open)}"
    )
    print(f"  open endpoints, masscan vs nmap: {agree}")
    verdicts = {(e["host"], e["port"]): f"{e['service']} {e['severity'] or ''}".strip() for e in judged["endpoints"]}
    print("  each open endpoint: hardhouse's verdict | nmap -sV's service")
    for host, port in sorted(masscan_open | nmap_open, key=lambda a: (tuple(int(x) for x in a[0].split(".")), a[1])):
        print(f"    {host}:{port:<6} {verdicts.get((host, port), '-'):<36} | {services.get((host, port), '-')}")


def nmap_services(path: Path) -> dict[tuple[str, int], str]:
    """nmap -sV's name (and product) per open port, read with the hardened reader."""
    from hardhouse.clickhouse import xmltree
    from hardhouse.probe.scanfiles import _without_nmap_doctype

    root = xmltree.parse_bytes(_without_nmap_doctype(path.read_bytes()), str(path))
    services = {}
    for host in root.elements("host"):
        address = next((a.attrs["addr"] for a in host.elements("address") if a.attrs.get("addrtype") == "ipv4"), "")
        for port in (p for group in host.elements("ports") for p in group.elements("port")):
            state, service = port.find("state"), port.find("service")
            if state is not None and state.attrs.get("state") == "open":
                name = service.attrs.get("name", "?") if service is not None else "?"
                product = service.attrs.get("product", "") if service is not None else ""
                services[(address, int(port.attrs["portid"]))] = name + (f" ({product})" if product else "")
    return services


def dropping(namespace: str, drop_range: str, concurrencies: list[int], timeout: float, rate: int) -> None:
    from tests.probe.fakes import clickhouse_http, tcp_service

    endpoints = ipaddress.ip_network(drop_range).num_addresses - 2
    with tempfile.TemporaryDirectory(prefix="discovery-drop-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        for host in LIVE:
            stack.enter_context(tcp_service(clickhouse_http(), host=host, port=DROP_PORT))
        common = ["--timeout", str(timeout), "--no-tls-scan"]
        base_wall, base_rss, _ = probe_cli(
            work / "base.json", f"127.64.0.100:{DROP_PORT}", *common, "--concurrency", "1"
        )
        print(
            f"dropping: {drop_range}:{DROP_PORT} = {endpoints} endpoints, {len(LIVE)} live, the rest dropped by "
            f"iptables in namespace {namespace}; probe --timeout {timeout:g} --no-tls-scan"
        )
        print(
            f"  baseline, one dropped endpoint at --concurrency 1: {base_wall:.2f}s, peak RSS {base_rss / 1024:.0f} MiB"
        )
        ns = Namespace(namespace)  # the one this process runs in (made by in_namespace)
        ns.router_mac = os.environ["HH_ROUTER_MAC"]
        scan = work / "masscan.json"
        masscan_wall = run_masscan(ns, [drop_range], [DROP_PORT], ["-oJ", str(scan)], rate=rate, limit=300)
        probe_wall, _, report = probe_cli(work / "judged.json", "--from-scan", str(scan), *common)
        total = masscan_wall + probe_wall
        print(
            f"  masscan --rate {rate} + hardhouse probe --from-scan: {masscan_wall:.2f}s + {probe_wall:.2f}s = "
            f"{total:.2f}s = {endpoints / total:.0f} endpoints/s; {report['summary'].get('exposed', 0)} exposed",
            flush=True,
        )
        previous: tuple[int, int] | None = None
        for concurrency in concurrencies:
            wall, rss, report = probe_cli(
                work / f"c{concurrency}.json", f"{drop_range}:{DROP_PORT}", *common, "--concurrency", str(concurrency)
            )
            in_flight = min(concurrency, endpoints)
            per = max(0, rss - base_rss) / in_flight
            marginal = (
                f", {max(0, rss - previous[1]) / (in_flight - previous[0]):.1f} KiB per extra one"
                if previous and in_flight > previous[0]
                else ""
            )
            previous = (in_flight, rss)
            print(
                f"  probe alone --concurrency {concurrency:>5}: {wall:6.2f}s = {endpoints / wall:6.1f} endpoints/s "
                f"(bound: endpoints / concurrency x timeout = {-(-endpoints // concurrency) * timeout:.0f}s); "
                f"peak RSS {rss / 1024:.0f} MiB, (RSS - baseline) / in flight = {per:.1f} KiB{marginal}; "
                f"{report['summary'].get('exposed', 0)} exposed; masscan + probe is {wall / total:.1f}x faster",
                flush=True,
            )


# ------------------------------------------------------------------------------ outside: the namespace


def in_namespace(part: str, args: argparse.Namespace) -> int:
    name = f"hhbench-{part}-{os.getpid()}"
    with Namespace(name) as ns:
        ns.add_scanner_link()
        if part == "dropping":
            for host in LIVE:
                ns.run("iptables", "-A", "INPUT", "-d", host, "-j", "ACCEPT")
            ns.run("iptables", "-A", "INPUT", "-d", f"{DROP_BASE}/{args.drop_prefix}", "-j", "DROP")
        inner = [sys.executable, str(Path(__file__).resolve()), "--inside", part, *sys.argv[1:]]
        env = {**CHILD_ENV, "HH_NETNS": name, "HH_ROUTER_MAC": ns.router_mac}
        done = subprocess.run(ns.command(*inner), env=env, check=False)
        return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["sweep", "dropping", "both"], default="both")
    parser.add_argument("--rate", type=int, default=20000, help="masscan packets per second")
    parser.add_argument("--nmap-timeout", type=float, default=900.0)
    parser.add_argument("--concurrency", default="256,1024,4096", help="dropping: probe concurrencies, comma-separated")
    parser.add_argument("--drop-prefix", type=int, choices=range(16, 23), default=19, help="dropping: 127.64.0.0/N")
    parser.add_argument("--timeout", type=float, default=3.0, help="dropping: the probe's --timeout (its default)")
    parser.add_argument("--inside", choices=["sweep", "dropping"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside == "sweep":
        sweep(os.environ["HH_NETNS"], args.rate, args.nmap_timeout)
        return 0
    if args.inside == "dropping":
        dropping(
            os.environ["HH_NETNS"],
            f"{DROP_BASE}/{args.drop_prefix}",
            [int(c) for c in args.concurrency.split(",")],
            args.timeout,
            args.rate,
        )
        return 0
    why = can_create_namespaces()
    missing = [tool for tool in ("masscan", "nmap", "iptables") if shutil.which(tool) is None]
    if why or missing:
        print(f"discovery bench: {why or 'needs ' + ', '.join(missing)} (scripts/setup-machine installs them)")
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the namespace is still removed
    print(f"machine: {os.cpu_count()} cores; masscan {masscan_version()}")
    code = 0
    for part in ("sweep", "dropping") if args.part == "both" else (args.part,):
        code |= in_namespace(part, args)
    return code


def masscan_version() -> str:
    done = subprocess.run(["masscan", "--version"], capture_output=True, text=True, check=False)
    words = (done.stdout + done.stderr).split()
    return next((w for w in words if w[:1].isdigit()), "?")


if __name__ == "__main__":
    sys.exit(main())
