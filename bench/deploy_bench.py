"""Benchmark the pyinfra deploy on 1 and 5 fresh sandbox hosts (SSH, Docker containers).

For each host count: a bare pyinfra run of one `server.shell("true")` (the floor: pyinfra's
start-up, SSH connections and one command), the first deploy (installs ClickHouse from the
Debian mirror, stages, validates, starts, verifies), and a no-change re-run. Each run is the
real CLI (`pyinfra inventories/sandbox.py ... -y`) in a subprocess whose SSH connector counts
the remote commands and file uploads per host.

    .venv/bin/python bench/deploy_bench.py [--hosts 1 5] [--repeat 1]

Containers and networks it creates are removed at the end (also on failure).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dev"))
COUNTING_FLAG = "--count-into"
FLOOR_DEPLOY = 'from pyinfra.operations import server\nserver.shell(name="Floor: one command", commands=["true"])\n'


def counting_pyinfra(out_path: str, argv: list[str]) -> None:
    """Run pyinfra's CLI with its SSH connector counting what it sends (runs in a child)."""
    from pyinfra.connectors.ssh import SSHConnector

    commands: Counter[str] = Counter()
    uploads: Counter[str] = Counter()
    run_shell_command, put_file = SSHConnector.run_shell_command, SSHConnector.put_file

    def counted_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        commands[self.host.name] += 1
        return run_shell_command(self, *args, **kwargs)

    def counted_put(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        uploads[self.host.name] += 1
        return put_file(self, *args, **kwargs)

    SSHConnector.run_shell_command, SSHConnector.put_file = counted_run, counted_put  # type: ignore[method-assign]
    atexit.register(lambda: Path(out_path).write_text(json.dumps({"commands": commands, "uploads": uploads})))
    from pyinfra_cli.main import main

    sys.argv = ["pyinfra", *argv]
    main()


def run(sandbox, deploy_file: Path, label: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with tempfile.NamedTemporaryFile(suffix=".json") as counts:
        command = [
            sys.executable,
            __file__,
            COUNTING_FLAG,
            counts.name,
            str(ROOT / "inventories" / "sandbox.py"),
            str(deploy_file),
            "-y",
        ]
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env=sandbox.environment(), capture_output=True, text=True)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(f"{label} failed:\n{(result.stdout + result.stderr)[-3000:]}")
        data = json.loads(Path(counts.name).read_text() or "{}")
    output = result.stdout + result.stderr
    changed = "Grand total" in output and output.split("Grand total", 1)[1].split()[1]
    per_host = list(data["commands"].values())
    return {
        "run": label,
        "seconds": seconds,
        "commands_per_host": statistics.mean(per_host) if per_host else 0,
        "commands_total": sum(per_host),
        "uploads_total": sum(data["uploads"].values()),
        "changed_ops": changed,
    }


def bench(n_hosts: int, floor: Path, tmp: Path) -> list[dict[str, object]]:
    from hardhouse_dev.sandbox import Sandbox, free_subnet

    tag = f"{n_hosts}-{os.getpid()}"
    sandbox = Sandbox(
        state=tmp / f"state-{n_hosts}", network=f"hh-bench-{tag}", subnet=free_subnet(), prefix=f"hh-bench-{tag}"
    )
    try:
        started = time.monotonic()
        sandbox.up(n_hosts)
        up_seconds = time.monotonic() - started
        rows = [
            {
                "run": "hosts up (containers, sshd)",
                "seconds": up_seconds,
                "commands_per_host": "",
                "commands_total": "",
                "uploads_total": "",
                "changed_ops": "",
            }
        ]
        rows.append(run(sandbox, floor, "floor: bare server.shell"))
        rows.append(run(sandbox, ROOT / "deploy" / "harden.py", "first deploy"))
        rows.append(run(sandbox, ROOT / "deploy" / "harden.py", "no-change re-run"))
        ok, _ = sandbox.report()
        if not ok:
            raise SystemExit(f"{n_hosts} hosts: not every host verified after the deploy")
        return rows
    finally:
        sandbox.down()


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == COUNTING_FLAG:
        counting_pyinfra(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hardhouse-deploy-bench-") as directory:
        tmp = Path(directory)
        floor = tmp / "floor.py"
        floor.write_text(FLOOR_DEPLOY)
        print(
            f"{'hosts':>5}  {'run':<28} {'wall s':>7} {'cmds/host':>9} {'cmds':>5} {'uploads':>7} {'changed ops':>11}"
        )
        for n_hosts in args.hosts:
            for row in bench(n_hosts, floor, tmp):
                per_host = f"{row['commands_per_host']:.0f}" if row["commands_per_host"] != "" else ""
                print(
                    f"{n_hosts:>5}  {row['run']:<28} {row['seconds']:>7.2f} {per_host:>9} "
                    f"{row['commands_total']!s:>5} {row['uploads_total']!s:>7} {row['changed_ops']!s:>11}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
