"""Benchmark the pyinfra deploy on fresh sandbox hosts (SSH, Docker containers), against
baselines measured in the same run on the same kind of hosts.

For each host count, on two fresh sandboxes of as many hosts:
  install floor   on the first: a bare pyinfra `apt.packages` of the packages the deploy
                  installs (the part of a first deploy no tool can avoid); then hardhouse's
                  deploy on those hosts (ClickHouse installed, still stock and open), which
                  makes the earlier figure "install floor + hardening run" (two pyinfra runs);
  first deploy    on the second: hardhouse's deploy on hosts without ClickHouse, one run that
                  installs and hardens, as an operator's first deploy runs; against the install
                  floor. The rest runs on these hosts:
  floor           a bare pyinfra run of one `server.shell("true")` (start-up, SSH, one command);
  re-run          hardhouse's deploy again with nothing to change: one command per host reads its
                  state and fingerprint; a host whose verified-state stamp still holds is not
                  re-proven with logins (hardhouse.deploy.snapshot), but still checked from the
                  deploy machine without a secret: anonymous refused, stock ports closed, the TLS
                  floor (hardhouse.deploy.operations.check_trusted_from_here);
  re-proof        the same re-run with hardhouse_trust_verified_for=0: the audit, provisioning
                  plan and full verification run on every host.
The floor and both re-runs alternate --runs times; the median of each counts.
Then, with --ansible, on a second fresh sandbox, the same minimal job in Ansible (ansible-core):
install the packages, template the same rendered config.d/users.d files, copy the same TLS
material, restart on change; and a re-run with no change.

Each pyinfra run is the real CLI in a child process whose SSH connector counts remote commands
and uploads per host and which times every operation, so the output says where the time goes.

    .venv/bin/python bench/deploy_bench.py [--hosts 1 5 20] [--ansible]
    .venv/bin/python bench/deploy_bench.py --cluster 3      # a cluster: 3 replicas and a ZooKeeper host

With --cluster the hosts are the sandbox's cluster (replicas of one shard and a ZooKeeper
host, hardened by the same deploy, rolled out one replica at a time); the floors run over the
same hosts (the ZooKeeper host's install floor installs ZooKeeper).

Ansible: `.venv/bin/pip install ansible-core` (not a dependency of hardhouse). Containers and
networks the bench creates are removed at the end (also on failure).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dev"))
COUNTING_FLAG = "--count-into"
FLOOR_DEPLOY = 'from pyinfra.operations import server\nserver.shell(name="Floor: one command", commands=["true"])\n'
# A cluster's ZooKeeper host installs Debian's ZooKeeper (its JVM) instead of ClickHouse.
INSTALL_FLOOR_DEPLOY = """from pyinfra import host
from pyinfra.operations import apt
from hardhouse.deploy.harden import DEBIAN_PACKAGES
packages = ["zookeeper", "zookeeperd"] if host.data.get("hardhouse_zookeeper") else list(DEBIAN_PACKAGES)
apt.packages(name="Install floor", packages=packages, no_recommends=True, update=True)
"""


def counting_pyinfra(out_path: str, argv: list[str]) -> None:
    """Run pyinfra's CLI counting what its SSH connector sends and timing each operation (in a child)."""
    import pyinfra.api.operations as operations
    from pyinfra.connectors.ssh import SSHConnector

    commands: Counter[str] = Counter()
    uploads: Counter[str] = Counter()
    steps: list[tuple[str, float]] = []
    started = time.monotonic()
    run_shell_command, put_file = SSHConnector.run_shell_command, SSHConnector.put_file
    run_single_op = operations._run_single_op

    def counted_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        commands[self.host.name] += 1
        return run_shell_command(self, *args, **kwargs)

    def counted_put(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        uploads[self.host.name] += 1
        return put_file(self, *args, **kwargs)

    def timed_op(state, op_hash):  # type: ignore[no-untyped-def]
        if not steps:
            steps.append(("start-up, inventory, facts, plan", time.monotonic() - started))
        began = time.monotonic()
        try:
            return run_single_op(state, op_hash)
        finally:
            names = state.get_op_meta(op_hash).names
            name = sorted(names)[0].split(" | ")[-1] if names else op_hash
            steps.append((name, time.monotonic() - began))

    SSHConnector.run_shell_command, SSHConnector.put_file = counted_run, counted_put  # type: ignore[method-assign]
    operations._run_single_op = timed_op  # type: ignore[assignment]

    def save() -> None:
        Path(out_path).write_text(json.dumps({"commands": commands, "uploads": uploads, "steps": steps}))

    atexit.register(save)
    from pyinfra_cli.main import main

    sys.argv = ["pyinfra", *argv]
    main()


def pyinfra_run(sandbox: Any, deploy_file: Path, label: str, *extra: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as counts:
        command = [
            sys.executable,
            __file__,
            COUNTING_FLAG,
            counts.name,
            str(ROOT / "inventories" / "sandbox.py"),
            str(deploy_file),
            "-y",
            *extra,
        ]
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env=sandbox.environment(), capture_output=True, text=True)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(f"{label} failed:\n{(result.stdout + result.stderr)[-3000:]}")
        data = json.loads(Path(counts.name).read_text() or "{}")
    per_host = list(data["commands"].values())
    return {
        "run": label,
        "seconds": seconds,
        "commands_per_host": statistics.mean(per_host) if per_host else 0,
        "uploads": sum(data["uploads"].values()),
        "steps": data["steps"],
    }


# ---------------------------------------------------------------------------------- Ansible

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Install ClickHouse (the packages hardhouse installs)
      ansible.builtin.apt:
        name: {packages}
        install_recommends: false
        update_cache: true
        cache_valid_time: 86400
    - name: Directories
      ansible.builtin.file: {{path: "{{{{ item }}}}", state: directory, owner: root, group: clickhouse, mode: "0750"}}
      loop: [/etc/clickhouse-server/config.d, /etc/clickhouse-server/users.d, /etc/clickhouse-server/tls]
    - name: The rendered config.d and users.d files
      ansible.builtin.template:
        src: "{{{{ files_dir }}}}/{{{{ item }}}}"
        dest: "/etc/clickhouse-server/{{{{ item }}}}"
        owner: root
        group: clickhouse
        mode: "0640"
      loop: "{{{{ rendered }}}}"
      notify: Restart ClickHouse
    - name: TLS certificate and key
      ansible.builtin.copy:
        src: "{{{{ files_dir }}}}/tls/{{{{ item.src }}}}"
        dest: "/etc/clickhouse-server/tls/{{{{ item.dest }}}}"
        owner: "{{{{ item.owner }}}}"
        group: clickhouse
        mode: "{{{{ item.mode }}}}"
      loop:
        - {{src: certificate.pem, dest: server.crt, owner: root, mode: "0644"}}
        - {{src: private_key.pem, dest: server.key, owner: clickhouse, mode: "0600"}}
      notify: Restart ClickHouse
  handlers:
    # Debian's SysV script cannot find a running server in a container (ptrace), so stop it
    # by name before starting again, as hardhouse-apply does.
    - name: Restart ClickHouse
      ansible.builtin.shell: |
        /etc/init.d/clickhouse-server stop || true
        pkill -x clickhouse-serv || true
        for i in $(seq 50); do pgrep -x clickhouse-serv >/dev/null || break; sleep 0.2; done
        /etc/init.d/clickhouse-server start
"""


def ansible_files(sandbox: Any, directory: Path) -> tuple[Path, Path]:
    """Per host: the files hardhouse renders for it and its sandbox certificate; an inventory and the playbook."""
    from hardhouse.ca import ensure_server
    from hardhouse.deploy.harden import DEBIAN_PACKAGES
    from hardhouse.render import render
    from hardhouse.spec import load_spec
    from hardhouse_dev.sandbox import sandbox_spec

    lines = ["[all]"]
    for host in sandbox.hosts():
        files_dir = directory / host.name
        spec = load_spec(sandbox_spec(host.address, sandbox.gateway, str(sandbox.subnet), sandbox.secrets_dir))
        rendered = [f for f in render(spec) if f.path.startswith(("config.d/", "users.d/"))]
        for file in rendered:
            if "{{" in file.content or "{%" in file.content:
                raise SystemExit(f"{file.path} holds Jinja markers; the Ansible baseline would template them")
            (files_dir / file.path).parent.mkdir(parents=True, exist_ok=True)
            (files_dir / file.path).write_text(file.content)
        material = ensure_server(sandbox.ca_dir, host.name, [host.address])
        (files_dir / "tls").mkdir(parents=True, exist_ok=True)
        (files_dir / "tls" / "certificate.pem").write_bytes(material.certificate)
        (files_dir / "tls" / "private_key.pem").write_bytes(material.private_key)
        variables = {
            "ansible_host": "127.0.0.1",
            "ansible_port": host.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(sandbox.key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={sandbox.known_hosts} -o StrictHostKeyChecking=yes",
            "files_dir": str(files_dir),
            "rendered": json.dumps([f.path for f in rendered]),
        }
        lines.append(host.name + " " + " ".join(f"{k}='{v}'" for k, v in variables.items()))
    inventory = directory / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    playbook = directory / "playbook.yml"
    playbook.write_text(PLAYBOOK.format(packages=json.dumps(list(DEBIAN_PACKAGES))))
    return inventory, playbook


def ansible_run(inventory: Path, playbook: Path, n_hosts: int, label: str) -> dict[str, Any]:
    executable = Path(sys.executable).with_name("ansible-playbook")
    env = {
        **os.environ,
        "ANSIBLE_PIPELINING": "True",  # what a team tuning for speed sets
        "ANSIBLE_FORKS": str(max(5, n_hosts)),  # every host at once, as pyinfra does
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_LOCAL_TEMP": str(inventory.parent / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        [str(executable), "-i", str(inventory), str(playbook)], env=env, capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{label} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    changed = [line for line in result.stdout.splitlines() if "changed=" in line]
    return {"run": label, "seconds": seconds, "changed": changed[:1]}


# ------------------------------------------------------------------------------------ runs


def new_sandbox(tmp: Path, tag: str) -> Any:
    from hardhouse_dev.sandbox import Sandbox, free_subnet

    name = f"hh-bench-{tag}-{os.getpid()}"
    return Sandbox(state=tmp / f"state-{tag}", network=name, subnet=free_subnet(), prefix=name)


def median_run(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (its steps and counts come with it)."""
    return sorted(rows, key=lambda row: row["seconds"])[len(rows) // 2]


def bench_hardhouse(n_hosts: int, tmp: Path, cluster: bool = False, runs: int = 3) -> dict[str, dict[str, Any]]:
    floor, install = tmp / "floor.py", tmp / "install_floor.py"
    floor.write_text(FLOOR_DEPLOY)
    install.write_text(INSTALL_FLOOR_DEPLOY)
    harden = ROOT / "deploy" / "harden.py"
    tag = f"hh{n_hosts}{'c' if cluster else ''}"
    rows: dict[str, dict[str, Any]] = {}
    installed = new_sandbox(tmp, tag + "i")
    try:
        installed.up(n_hosts, cluster=cluster)
        rows["install"] = pyinfra_run(installed, install, "install floor: apt.packages")
        rows["harden"] = pyinfra_run(installed, harden, "hardening run after it")
    finally:
        installed.down()
    sandbox = new_sandbox(tmp, tag)
    try:
        started = time.monotonic()
        sandbox.up(n_hosts, cluster=cluster)
        rows["up"] = {"run": "hosts up (containers, sshd)", "seconds": time.monotonic() - started}
        rows["first"] = pyinfra_run(sandbox, harden, "hardhouse first deploy")
        # The floor and the re-runs take turns, `runs` times each, and the median counts: a
        # second of noise on a busy 2-core machine would otherwise decide a ratio.
        floors, reruns, proofs = [], [], []
        for _ in range(runs):
            floors.append(pyinfra_run(sandbox, floor, "floor: bare server.shell"))
            reruns.append(pyinfra_run(sandbox, harden, "hardhouse no-change re-run"))
            # Trust off: the audit, provisioning plan and full verification run on every host.
            proofs.append(
                pyinfra_run(sandbox, harden, "re-run, every host re-proven", "--data", "hardhouse_trust_verified_for=0")
            )
        rows["floor"], rows["rerun"], rows["reproof"] = (median_run(r) for r in (floors, reruns, proofs))
        ok, _ = sandbox.report()
        if not ok:
            raise SystemExit(f"{n_hosts} hosts: not every host verified after the deploy")
        return rows
    finally:
        sandbox.down()


def bench_ansible(n_hosts: int, tmp: Path) -> dict[str, dict[str, Any]]:
    sandbox = new_sandbox(tmp, f"ans{n_hosts}")
    try:
        sandbox.up(n_hosts)
        inventory, playbook = ansible_files(sandbox, tmp / f"ansible-{n_hosts}")
        return {
            "first": ansible_run(inventory, playbook, n_hosts, "ansible first run"),
            "rerun": ansible_run(inventory, playbook, n_hosts, "ansible no-change re-run"),
        }
    finally:
        sandbox.down()


def show(n_hosts: int, row: dict[str, Any]) -> None:
    per_host = f"{row['commands_per_host']:.0f}" if "commands_per_host" in row else ""
    uploads = str(row.get("uploads", ""))
    print(f"{n_hosts:>5}  {row['run']:<30} {row['seconds']:>7.2f} {per_host:>9} {uploads:>7}", flush=True)


def show_steps(row: dict[str, Any]) -> None:
    for name, seconds in row["steps"]:
        if seconds >= 0.05:
            print(f"{'':>7}  - {name[:60]:<60} {seconds:>6.2f}")


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == COUNTING_FLAG:
        counting_pyinfra(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--ansible", action="store_true", help="also run the Ansible baseline (needs ansible-core)")
    parser.add_argument("--steps", action="store_true", help="print the time of every deploy step")
    parser.add_argument(
        "--runs", type=int, default=3, help="floor and re-run repetitions; the median counts (default 3)"
    )
    parser.add_argument(
        "--cluster", type=int, metavar="REPLICAS", help="bench a cluster of this many replicas and a ZooKeeper host"
    )
    args = parser.parse_args()
    if args.cluster is not None:
        if args.cluster < 2 or args.ansible:
            raise SystemExit("--cluster needs at least 2 replicas, and has no Ansible baseline")
        args.hosts = [args.cluster]
    if args.ansible and not Path(sys.executable).with_name("ansible-playbook").exists():
        raise SystemExit("--ansible needs ansible-core in this environment: .venv/bin/pip install ansible-core")
    ratios = []
    with tempfile.TemporaryDirectory(prefix="hardhouse-deploy-bench-") as directory:
        tmp = Path(directory)
        print(f"{'hosts':>5}  {'run':<30} {'wall s':>7} {'cmds/host':>9} {'uploads':>7}")
        for n_hosts in args.hosts:
            rows = bench_hardhouse(n_hosts, tmp, cluster=args.cluster is not None, runs=args.runs)
            for key in ("up", "floor", "install", "harden", "first", "rerun", "reproof"):
                show(n_hosts, rows[key])
                if args.steps and key in ("first", "rerun", "reproof"):
                    show_steps(rows[key])
            first_total, install_floor = rows["first"]["seconds"], rows["install"]["seconds"]
            two_runs = install_floor + rows["harden"]["seconds"]
            ratio = {
                "hosts": f"{n_hosts} replicas + ZooKeeper" if args.cluster else n_hosts,
                "first deploy (one run: install + harden) / install floor": first_total / install_floor,
                "(install floor + hardening run) / install floor": two_runs / install_floor,
                "re-run / bare floor": rows["rerun"]["seconds"] / rows["floor"]["seconds"],
                "re-run re-proving every host / bare floor": rows["reproof"]["seconds"] / rows["floor"]["seconds"],
            }
            if args.ansible:
                baseline = bench_ansible(n_hosts, tmp)
                for key in ("first", "rerun"):
                    show(n_hosts, baseline[key])
                ratio["first deploy hardhouse / ansible"] = first_total / baseline["first"]["seconds"]
                ratio["re-run hardhouse / ansible"] = rows["rerun"]["seconds"] / baseline["rerun"]["seconds"]
            ratios.append(ratio)
    print()
    for ratio in ratios:
        print(f"{ratio.pop('hosts')} hosts: " + "; ".join(f"{name} {value:.2f}x" for name, value in ratio.items()))
    return 0


if __name__ == "__main__":
    shutil.which("docker") or sys.exit("docker is needed (scripts/setup-machine installs it)")
    sys.exit(main())
