"""Start-to-ready of the 26.9 network fixture (ModernClickHouse) next to the 18.16 one
(LocalClickHouse, Debian's server as a process).

    .venv/bin/python bench/modern_server_bench.py [--runs 5]

26.9: a rendered modern spec (writer, reader, owner; its sql/ DDL as setup) until native and
HTTP accept connections. 18.16: the machine's server on its stock configuration moved to free
ports, until native and HTTP accept connections. Runs alternate; each is stopped before the
next (stop times are printed too). Prints numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from hardhouse.render import render  # noqa: E402
from hardhouse.spec import load_spec  # noqa: E402
from hardhouse.testing.local_server import LocalClickHouse, free_port  # noqa: E402
from hardhouse.testing.modern_server import ModernClickHouse, rendered_sql  # noqa: E402
from tests.provision.scenarios import modern_spec  # noqa: E402

HOST = "127.0.0.1"
PASSWORDS = {
    name: secrets.token_urlsafe(24) for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD", "CH_ADMIN_PASSWORD")
}


def modern_once(work: Path) -> tuple[float, float]:
    files = render(load_spec(modern_spec("26.9")), environ=PASSWORDS)
    server = ModernClickHouse(work)
    server.install(files)
    began = time.monotonic()
    try:
        server.start(rendered_sql(files))
    finally:
        ready = time.monotonic()
        server.stop()
    return ready - began, time.monotonic() - ready


def debian_once(work: Path) -> tuple[float, float]:
    server = LocalClickHouse(work)
    http, native = free_port(), free_port()
    server.use_stock_ports(http, native, free_port())
    began = time.monotonic()
    try:
        server.start([(HOST, native), (HOST, http)])
    finally:
        ready = time.monotonic()
        server.stop()
    return ready - began, time.monotonic() - ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    times: dict[str, list[float]] = {"26.9 ModernClickHouse": [], "18.16 LocalClickHouse": []}
    stops: dict[str, list[float]] = {name: [] for name in times}
    with tempfile.TemporaryDirectory(prefix="modern-bench-") as tmp:
        for run in range(runs):
            for name, once in (("26.9 ModernClickHouse", modern_once), ("18.16 LocalClickHouse", debian_once)):
                ready, stop = once(Path(tmp) / f"{name.split()[0]}-{run}")
                times[name].append(ready)
                stops[name].append(stop)
    for name, seconds in stops.items():
        print(f"{name} stop: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s")
    for name, seconds in times.items():
        print(
            f"{name}: median {statistics.median(seconds):.2f} s, "
            f"min {min(seconds):.2f} s, max {max(seconds):.2f} s ({runs} runs)"
        )
    modern, debian = (statistics.median(t) for t in times.values())
    print(f"ratio 26.9 / 18.16 (medians): {modern / debian:.2f}")


if __name__ == "__main__":
    main()
