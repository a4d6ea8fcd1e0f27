"""How long a verdict takes: from "start the container" to "anonymous refused, TLS only".

    .venv/bin/python bench/container_bench.py [--runs 5] [--steps] [--suite]

Baseline, in the same run: a stock container from the same image, started until it answers
one query; stock and hardened runs alternate. --steps prints where the time of each verdict
goes (the library's own functions, timed where they are called; steps that run side by side
overlap). --suite also times the whole integration suite (pytest -m integration). Prints
numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "dev"))

from hardhouse.probe import tls  # noqa: E402
from hardhouse.testing import assertions, plugin  # noqa: E402
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


class Steps:
    """Times named library functions where they are looked up at call time: for each section
    ("stock", "verdict"), each run's (label, start, end) in seconds from begin()."""

    def __init__(self) -> None:
        self.origin = time.perf_counter()
        self.spans: list[tuple[str, float, float]] = []
        self.runs: dict[str, list[list[tuple[str, float, float]]]] = {}

    def begin(self, section: str) -> None:
        self.spans = []
        self.runs.setdefault(section, []).append(self.spans)
        self.origin = time.perf_counter()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def record(started: float) -> None:
            self.spans.append((label, started - self.origin, time.perf_counter() - self.origin))

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                record(started)

        @functools.wraps(original)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                record(started)

        setattr(owner, name, timed_async if inspect.iscoroutinefunction(original) else timed)

    def install(self) -> None:
        from testcontainers.core.docker_client import DockerClient  # the engine calls of start()

        for owner, name, label in (
            (plugin, "prewarm", "worker child spawned (prewarm)"),
            (plugin, "load_spec", "spec loaded"),
            (plugin, "write_server_material", "TLS material issued"),
            (plugin, "render", "render"),
            (DockerClient, "create", "container create"),
            (ClickHouseContainer, "_clickhouse_gid", "  image's clickhouse gid"),
            (ClickHouseContainer, "_before_start", "files copied in (put_archive)"),
            (DockerClient, "start", "container start"),
            (ClickHouseContainer, "wait_ready", "readiness wait (ports accept)"),
            (sys.modules[__name__], "http_query", "first query (HTTP)"),
            (ClickHouseContainer, "listening", "open ports read (/proc)"),
            (assertions, "assert_anonymous_refused", "assert_anonymous_refused"),
            (assertions, "assert_tls_only", "assert_tls_only"),
            (assertions, "_probe", "  probe of every port"),
            (assertions, "_speaks_tls", "  TLS handshake (one port)"),
            (assertions, "quick_postures", "  TLS postures (versions, weak suites)"),
            (tls, "run_job_sync", "    worker child's job"),
        ):
            self.wrap(owner, name, label)

    def report(self) -> None:
        """Each step's median start, end and duration over a section's runs, in order of start."""
        for section, runs in self.runs.items():
            print(f"where the time goes, {section} (median of {len(runs)} runs; ms from its start; indented = inside):")
            rows = []
            for label in dict.fromkeys(label for run in runs for label, _, _ in run):
                calls = [[span for span in run if span[0] == label] for run in runs]
                for index in range(max(len(spans) for spans in calls)):
                    chosen = [spans[index] for spans in calls if len(spans) > index]
                    rows.append(
                        (
                            statistics.median(span[1] for span in chosen) * 1000,
                            statistics.median(span[2] for span in chosen) * 1000,
                            statistics.median(span[2] - span[1] for span in chosen) * 1000,
                            label,
                        )
                    )
            for start, end, took, label in sorted(rows, key=lambda row: row[0]):
                print(f"  {label:38s} {start:6.0f} -> {end:6.0f}  {took:5.0f} ms")


class TmpFactory:
    """The slice of pytest's tmp_path_factory that ServerFactory uses."""

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"hardhouse-bench-{name}-"))


def baseline(network, image: str, steps: Steps | None = None) -> float:  # type: ignore[no-untyped-def]
    if steps is not None:
        steps.begin("stock container")
    started = time.perf_counter()
    address = network.allocate()
    with ClickHouseContainer(network, address, [OFFICIAL_LISTEN], image=image) as stock:
        stock.wait_ready([8123])
        assert http_query(address, 8123, "SELECT 1").status == 200
        return time.perf_counter() - started


def verdict(factory: ServerFactory, steps: Steps | None = None) -> float:
    if steps is not None:
        steps.begin("hardened -> verdict")
    started = time.perf_counter()
    server = factory(SPEC, {"BENCH_APP": secrets.token_urlsafe(24)})
    assertions.assert_anonymous_refused(server.target())
    assertions.assert_tls_only(server.target())
    elapsed = time.perf_counter() - started
    server.container.stop()
    factory.started.remove(server.container)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", action="store_true", help="print where the time of a verdict goes")
    parser.add_argument("--suite", action="store_true", help="also time the whole integration suite")
    args = parser.parse_args()
    steps = Steps() if args.steps else None
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    # Worker children (python -m hardhouse.probe.worker) must run this tree's code too, not
    # whichever hardhouse the interpreter has installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    image = os.environ.get(IMAGE_VARIABLE) or ensure_image("clickhouse")
    print(f"machine: {os.cpu_count()} cores; image: {image}")
    with docker_network("hardhouse-bench") as network:
        factory = ServerFactory(network, image, TmpFactory())  # type: ignore[arg-type]
        try:
            if steps is not None:
                steps.install()
            # Alternated, so that whatever else the machine does weighs on both alike.
            base, full = [], []
            for _ in range(args.runs):
                base.append(baseline(network, image, steps))
                full.append(verdict(factory, steps))
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
    if steps is not None:
        steps.report()
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
