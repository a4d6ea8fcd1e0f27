"""The deploy on one sandbox: this checkout against a baseline revision, in turn with the bare
floor, so that a change of a tenth of a second shows.

    .venv/bin/python bench/deploy_ab.py --baseline 4e292e5 --hosts 5 --runs 7
    .venv/bin/python bench/deploy_ab.py --baseline HEAD~1 --hosts 20 --runs 5 --no-change
    .venv/bin/python bench/deploy_ab.py --baseline HEAD~1 --cluster 3   # replicas and a ZooKeeper host

One fresh sandbox (deploy_bench's; with --cluster, its cluster, whose every run re-proves each
replica), hardened once by this checkout; then, --runs times, one after the other: the bare
floor (one `server.shell("true")`), the baseline's deploy and this checkout's. The baseline runs
from a detached git worktree of --baseline with its own src/ and dev/ first on PYTHONPATH, as
a fresh clone of it runs (without bytecode, unless its setup made some). Every host is re-proven
(hardhouse_trust_verified_for=0) unless --no-change. Prints every run's seconds, then the
medians and their ratios to the floor's.

Why not two fresh sandboxes (deploy_bench, old and new one after the other): the bare floor
moved between 0.54 and 0.66 s from one fresh sandbox to the next on the 2-core bench machine,
which moves a 5-host ratio by 0.4x. On one sandbox both sides meet the same servers, whose
state drifts between runs (18.16's parts and finished mutations pile up for minutes) alike.
The worktree and the sandbox are removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_bench import FLOOR_DEPLOY, ROOT, new_sandbox  # noqa: E402

PYINFRA = Path(sys.executable).parent / "pyinfra"


def timed(command: list[str], cwd: Path, env: dict[str, str], label: str) -> float:
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{label} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="the revision to compare with (e.g. main's last commit)")
    parser.add_argument("--hosts", type=int, default=5, help="sandbox hosts (default 5)")
    parser.add_argument("--runs", type=int, default=7, help="turns of floor, baseline, this checkout (default 7)")
    parser.add_argument("--no-change", action="store_true", help="the trusted no-change re-run instead of a re-proof")
    parser.add_argument(
        "--cluster", type=int, metavar="REPLICAS", help="a cluster of this many replicas and a ZooKeeper host instead"
    )
    args = parser.parse_args()
    if args.cluster is not None and args.cluster < 2:
        raise SystemExit("--cluster needs at least 2 replicas")
    hosts = args.cluster or args.hosts
    extra = [] if args.no_change else ["--data", "hardhouse_trust_verified_for=0"]
    with tempfile.TemporaryDirectory(prefix="hardhouse-deploy-ab-") as tmp_name:
        tmp = Path(tmp_name)
        floor = tmp / "floor.py"
        floor.write_text(FLOOR_DEPLOY)
        baseline = tmp / "baseline"
        sandbox = new_sandbox(tmp, f"ab{hosts}{'c' if args.cluster else ''}")
        try:
            git = ["git", "-C", str(ROOT), "worktree"]
            subprocess.run([*git, "add", "--detach", str(baseline), args.baseline], check=True)
            sandbox.up(hosts, cluster=args.cluster is not None)
            env = sandbox.environment()
            old_env = {**env, "PYTHONPATH": os.pathsep.join([str(baseline / "src"), str(baseline / "dev")])}
            inventory = ["inventories/sandbox.py"]
            timed([str(PYINFRA), *inventory, "deploy/harden.py", "-y"], ROOT, env, "the first deploy")
            seconds: dict[str, list[float]] = {"floor": [], "baseline": [], "this checkout": []}
            for turn in range(args.runs):
                seconds["floor"].append(timed([str(PYINFRA), *inventory, str(floor), "-y"], ROOT, env, "the floor"))
                seconds["baseline"].append(
                    timed([str(PYINFRA), *inventory, "deploy/harden.py", "-y", *extra], baseline, old_env, "baseline")
                )
                seconds["this checkout"].append(
                    timed([str(PYINFRA), *inventory, "deploy/harden.py", "-y", *extra], ROOT, env, "this checkout")
                )
                print(f"turn {turn + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items()), flush=True)
        finally:
            sandbox.down()
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False)
    run = "no-change re-run" if args.no_change else "re-run, every host re-proven"
    floor_median = statistics.median(seconds["floor"])
    shown_hosts = f"{hosts} replicas + ZooKeeper" if args.cluster else f"{hosts} hosts"
    print(f"{shown_hosts}, {run}, medians of {args.runs}: floor {floor_median:.2f} s", end="")
    for label, shown in (("baseline", f"baseline ({args.baseline})"), ("this checkout", "this checkout")):
        median = statistics.median(seconds[label])
        print(f"; {shown} {median:.2f} s ({median / floor_median:.2f}x)", end="")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
