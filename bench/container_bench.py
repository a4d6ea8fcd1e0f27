"""How long a verdict takes: from "start the container" to "anonymous refused, TLS only".

    .venv/bin/python bench/container_bench.py [--runs 5] [--suite]

Baseline, in the same run: a stock container from the same image, started until it answers
one query. --suite also times the whole integration suite (pytest -m integration).
Prints numbers only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "dev"))

from hardhouse.testing.assertions import assert_anonymous_refused, assert_tls_only  # noqa: E402
from hardhouse.testing.clients import http_query  # noqa: E402
from hardhouse.testing.containers import IMAGE_VARIABLE, ClickHouseContainer, docker_network  # noqa: E402
from hardhouse.testing.plugin import OFFICIAL_LISTEN, ServerFactory  # noqa: E402
from hardhouse_dev.images import ensure_image  # noqa: E402

SPEC = {
    "clickhouse_version": "18.16",
    "listen_hosts": ["127.0.0.1"],
    "tls": {"certificate": "/x/server.crt", "private_key": "/x/server.key"},
    "users": [{"name": "app", "password_env": "BENCH_APP", "networks": ["10.0.0.0/8"]}],
}


class TmpFactory:
    """The slice of pytest's tmp_path_factory that ServerFactory uses."""

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"hardhouse-bench-{name}-"))


def baseline(network, image: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    address = network.allocate()
    with ClickHouseContainer(network, address, [OFFICIAL_LISTEN], image=image) as stock:
        stock.wait_ready([8123])
        assert http_query(address, 8123, "SELECT 1").status == 200
        return time.perf_counter() - started


def verdict(factory: ServerFactory) -> float:
    started = time.perf_counter()
    server = factory(SPEC, {"BENCH_APP": secrets.token_urlsafe(24)})
    assert_anonymous_refused(server.target())
    assert_tls_only(server.target())
    elapsed = time.perf_counter() - started
    server.container.stop()
    factory.started.remove(server.container)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--suite", action="store_true", help="also time the whole integration suite")
    args = parser.parse_args()
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    image = os.environ.get(IMAGE_VARIABLE) or ensure_image("clickhouse")
    print(f"machine: {os.cpu_count()} cores; image: {image}")
    with docker_network("hardhouse-bench") as network:
        factory = ServerFactory(network, image, TmpFactory())  # type: ignore[arg-type]
        try:
            base = [baseline(network, image) for _ in range(args.runs)]
            full = [verdict(factory) for _ in range(args.runs)]
        finally:
            factory.close()
    b, v = statistics.median(base), statistics.median(full)
    print(
        f"stock container start -> first answer (baseline): median {b:.2f}s  "
        f"(min {min(base):.2f}, max {max(base):.2f}, n={args.runs})"
    )
    print(
        f"render + start hardened -> verdict:               median {v:.2f}s  "
        f"(min {min(full):.2f}, max {max(full):.2f}, n={args.runs})"
    )
    print(f"ratio verdict / baseline: {v / b:.2f}x")
    if args.suite:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "integration", "-p", "no:cacheprovider"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-200:]
        print(f"integration suite: {elapsed:.1f}s on {os.cpu_count()} cores ({summary})")


if __name__ == "__main__":
    main()
