"""Sandbox hosts: plain Debian containers reached over SSH, hardened by the real pyinfra deploy.

    python -m hardhouse_dev.sandbox run [--hosts N]   # up + deploy + report (the main job)
    python -m hardhouse_dev.sandbox run --cluster     # a replicated cluster: 3 replicas and a ZooKeeper host
    python -m hardhouse_dev.sandbox run --systemd     # the same on hosts that boot systemd (with --hosts/--cluster too)
    python -m hardhouse_dev.sandbox up [--hosts N]    # start N hosts (default 2)
    python -m hardhouse_dev.sandbox deploy [-- ARGS]  # pyinfra inventories/sandbox.py deploy/harden.py -y ARGS
    python -m hardhouse_dev.sandbox report [--json]   # verify every host from this machine
    python -m hardhouse_dev.sandbox down              # remove the hosts, their network and state

Each host is a container of the local `host` image (Debian bookworm, sshd, no ClickHouse):
SSH is published on a random 127.0.0.1 port; the container also has a fixed address on a
Docker network the sandbox creates, which is the address ClickHouse listens on and the
address this machine verifies it at (the network's gateway is this machine, so it is the
source address the server sees). Nothing else is contacted.

With --systemd the hosts are containers of the `systemd-host` image instead: systemd is PID 1
(started as images.systemd_run_args says: the cgroup mount, tmpfs /run and /run/lock,
container=docker), sshd is a unit, and Debian's packaged units run clickhouse-server
(/lib/systemd/system/clickhouse-server.service) and zookeeperd (its init script, made a unit
by systemd's sysv-generator), so the deploy takes its systemd path: systemctl, daemon-reload,
drop-ins. A host is ready when sshd answers. `up` replaces a host whose container runs the
other image, so switching between the two needs no `down`.

Each host gets a log database (app_logs): the deploy creates it as its owner (ingest) from
this machine, and the report shows it with the reader's rights proven as oncall.

With --cluster the hosts are the replicas of one shard of cluster `logs` (default 3) and one
more host runs ZooKeeper, hardened by the same deploy (hardhouse.deploy.zookeeper): app_logs
is replicated, interserver traffic and Distributed queries go over TLS with credentials, and
ClickHouse's znodes carry its digest ACL. The report adds, per replica, the interserver
refusal, replication to its peers, the cluster over native TLS and ZooKeeper's refusals.

State (default /var/lib/hardhouse-sandbox-hosts, 0700): an SSH key made for this sandbox,
the hosts' SSH host keys (pinned, strict checking), generated passwords (one file per
user, 0600, never printed), the sandbox CA, and hosts.json, which inventories/sandbox.py
reads: one entry per host with its full pyinfra host data (SSH settings and the spec).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STATE_VARIABLE = "HARDHOUSE_SANDBOX_HOSTS_STATE"
DEFAULT_STATE = Path("/var/lib/hardhouse-sandbox-hosts")
DEFAULT_NETWORK = "hardhouse-sandbox"
DEFAULT_SUBNET = "172.30.77.0/24"
DEFAULT_HOSTS = 2
FIRST_HOST_INDEX = 10  # host i gets .(10+i); .1 is the gateway, i.e. this machine
LABEL = "hardhouse.sandbox-hosts"
SSH_WAIT = 30.0
USERS = ("ingest", "analyst", "oncall")
LOG_DATABASE = "app_logs"
CLUSTER = "logs"
CLUSTER_HOSTS = 3
# The cluster's own secrets (files like the users' passwords): remote_servers' user, the
# interserver credentials and ZooKeeper's digest identity.
CLUSTER_SECRETS = ("cluster", "replication", "zookeeper")
ZOOKEEPER_INDEX = 0  # the ZooKeeper host's address is .10, the replicas' .11, .12, ...


def step(text: str) -> None:
    print(f"sandbox: {text}", file=sys.stderr, flush=True)


def state_dir() -> Path:
    return Path(os.environ.get(STATE_VARIABLE) or DEFAULT_STATE)


def _docker(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=capture, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed: {(result.stderr or '').strip()}")
    return result


@dataclass(frozen=True)
class SandboxHost:
    name: str
    container: str
    address: str
    ssh_port: int


def free_subnet(prefix: str = "172.30", first: int = 100, last: int = 249) -> str:
    """A /24 under prefix (third octet first..last) that no Docker network overlaps; for
    sandboxes beside the default one (tests, benchmarks)."""
    from hardhouse.testing.network import free_subnet as pick

    listing = _docker("network", "ls", "-q").stdout.split()
    taken = []
    if listing:
        for network in json.loads(_docker("network", "inspect", *listing).stdout):
            for config in (network.get("IPAM") or {}).get("Config") or []:
                if "Subnet" in config:
                    taken.append(ipaddress.ip_network(config["Subnet"], strict=False))
    return str(pick(taken, prefix, first, last))


def sandbox_spec(address: str, gateway: str, subnet: str, secrets_dir: Path) -> dict[str, Any]:
    """The spec each sandbox host is hardened with (listening on its own address only)."""
    network = ipaddress.ip_network(subnet)
    upper_half = list(network.subnets(prefixlen_diff=1))[1]
    # The deploy machine (the gateway, in the lower half) must be refused as analyst: the
    # deploy's verification checks that a user outside its networks is refused.
    analysts = str(upper_half)
    # ingest owns the log database, so the deploy (on the gateway) creates it as ingest; oncall
    # reads it from the gateway, so the deploy proves a reader's rights as oncall. On 18.16 a
    # reader is the allow-list (allow_databases) plus the readonly profile; there is no TTL,
    # no encrypted disk and no insert-only writer.
    return {
        "clickhouse_version": "18.16",
        "listen_hosts": [address],
        "ports": {"http": None, "native": None, "https": 8443, "native_tls": 9440},
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
            "min_protocol": "tlsv1_2",
        },
        "default_user": "remove",
        "users": [
            # The deploy machine (the network's gateway) writes logs: the deploy's login check uses it.
            {
                "name": "ingest",
                "password_file": str(secrets_dir / "ingest"),
                "networks": [gateway],
                "profile": "writer",
            },
            # Analysts sit elsewhere: the deploy machine must be refused as analyst.
            {
                "name": "analyst",
                "password_file": str(secrets_dir / "analyst"),
                "networks": [analysts],
                "profile": "readonly",
            },
            # The on-call engineer reads the application's logs from the deploy machine.
            {
                "name": "oncall",
                "password_file": str(secrets_dir / "oncall"),
                "networks": [gateway],
                "profile": "readonly",
            },
        ],
        "profiles": {"writer": {"max_execution_time": 300}, "readonly": {"readonly": 1}},
        "log_databases": {
            LOG_DATABASE: {
                "tables": {
                    "requests": {
                        "columns": {"ts": "DateTime", "level": "String", "message": "String"},
                        "time_column": "ts",
                        # Applications write into requests_ingest; secrets are rewritten on the way.
                        "redact": {},
                    }
                },
                "retention_days": None,  # 18.16 has no TTL
                "readers": ["oncall", "analyst"],
                "owners": ["ingest"],
            }
        },
    }


def sandbox_cluster_spec(
    address: str, nodes: Sequence[str], zookeeper: str, gateway: str, subnet: str, secrets_dir: Path
) -> dict[str, Any]:
    """A replica of cluster `logs` (one shard, every node a replica), from the standalone spec."""
    spec = sandbox_spec(address, gateway, subnet, secrets_dir)
    # 18.16's replication registers the plaintext native port in ZooKeeper (22.8+ can close it).
    spec["ports"]["native"] = 9000
    # Replicas verify each other's certificates with the sandbox CA.
    spec["tls"]["ca_certificate"] = "/etc/clickhouse-server/tls/ca.crt"
    # Distributed queries log in on the other replicas as `cluster`, from the replicas only.
    spec["users"].append(
        {
            "name": "cluster",
            "password_file": str(secrets_dir / "cluster"),
            "networks": list(nodes),
            "profile": "readonly",
        }
    )
    spec["log_databases"][LOG_DATABASE]["readers"].append("cluster")
    spec["cluster"] = {
        "name": CLUSTER,
        "replica": address,
        "shards": [{"replicas": [{"host": node, "address": node} for node in nodes]}],
        "secure": True,
        "user": "cluster",
        "password_file": str(secrets_dir / "cluster"),
        "interserver": {"https_port": 9010, "user": "replication", "password_file": str(secrets_dir / "replication")},
        "zookeeper": {
            "nodes": [{"host": zookeeper, "port": 2181}],
            "user": "clickhouse",
            "password_file": str(secrets_dir / "zookeeper"),
        },
    }
    return spec


def _waiver(control: str, reason: str) -> dict[str, Any]:
    # Renewed whenever the sandbox's inventory is written.
    return {
        "control": control,
        "reason": reason,
        "expires": (datetime.date.today() + datetime.timedelta(days=365)).isoformat(),
    }


def sandbox_waivers() -> list[dict[str, Any]]:
    """What the sandbox's 18.16 spec opens that a control refuses, accepted with a reason (the
    deploy's audit fails a host on every failing control that no waiver covers)."""
    return [
        _waiver(
            "HH-EGRESS-2",
            "18.16 has no grants: ingest owns and writes app_logs, so it cannot be read-only and keeps "
            "every table function (23.6+ refuses them unless users[].table_functions names one)",
        )
    ]


def cluster_waivers() -> list[dict[str, Any]]:
    """The sandbox's waivers, and what the cluster's spec opens besides."""
    return sandbox_waivers() + [
        _waiver(
            "HH-PORT-1", "18.16's replication registers the plaintext native port in ZooKeeper (22.8+ can close it)"
        )
    ]


def zookeeper_data(address: str, secrets_dir: Path) -> dict[str, Any]:
    """The ZooKeeper host's hardening (hardhouse.deploy.zookeeper): one address, ClickHouse's identity."""
    return {
        "listen": address,
        "clickhouse_identity": {"user": "clickhouse", "password_file": str(secrets_dir / "zookeeper")},
    }


class Sandbox:
    """N host containers on one Docker network, and the inventory data to deploy to them."""

    def __init__(
        self,
        state: Path | None = None,
        network: str = DEFAULT_NETWORK,
        subnet: str = DEFAULT_SUBNET,
        prefix: str = "hardhouse-sandbox-host",
        systemd: bool = False,
    ):
        self.state = Path(state) if state else state_dir()
        self.network = network
        self.subnet = ipaddress.ip_network(subnet)
        self.prefix = prefix
        self.systemd = systemd

    # -- paths --------------------------------------------------------------------------------
    @property
    def key(self) -> Path:
        return self.state / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state / "ssh" / "known_hosts"

    @property
    def secrets_dir(self) -> Path:
        return self.state / "secrets"

    @property
    def ca_dir(self) -> Path:
        return self.state / "ca"

    @property
    def hosts_file(self) -> Path:
        return self.state / "hosts.json"

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def address(self, index: int) -> str:
        return str(self.subnet.network_address + FIRST_HOST_INDEX + index)

    def _container(self, index: int) -> str:
        return f"{self.prefix}-zk" if index == ZOOKEEPER_INDEX else f"{self.prefix}-{index}"

    # -- lifecycle ----------------------------------------------------------------------------
    def up(self, n_hosts: int = DEFAULT_HOSTS, cluster: bool = False) -> list[SandboxHost]:
        """Start the hosts; with `cluster`, they are replicas of one cluster, and a ZooKeeper host
        (the first in the list) comes too."""
        from hardhouse_dev.images import ensure_docker_engine, ensure_image, systemd_run_args

        step("Docker engine")
        ensure_docker_engine()
        if self.systemd:
            step("systemd host image (Debian bookworm, systemd as PID 1, sshd; built once, about a minute)")
            image = ensure_image("systemd-host")
        else:
            step("host image (Debian bookworm with sshd, no ClickHouse; built once, about a minute)")
            image = ensure_image("host")
        self.state.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.state, 0o700)
        self._ssh_key()
        self._passwords()
        self._network()
        indexes = ([ZOOKEEPER_INDEX] if cluster else []) + list(range(1, n_hosts + 1))
        wanted = [self._container(i) for i in indexes]
        for container in self._containers():
            if container not in wanted:
                step(f"removing {container} (not among the {n_hosts} hosts)")
                _docker("rm", "-f", container)
        hosts = []
        running = set(self._containers(running_only=True))
        for index, container in zip(indexes, wanted, strict=True):
            address = self.address(index)
            if container not in running or self._image_of(container) != image:
                _docker("rm", "-f", container, check=False)
                step(f"starting {container} at {address}")
                _docker(
                    "run",
                    "-d",
                    "--name",
                    container,
                    "--hostname",
                    container,
                    "--label",
                    f"{LABEL}={self.network}",
                    "--network",
                    self.network,
                    "--ip",
                    address,
                    "-e",
                    f"AUTHORIZED_KEY={self.key.with_suffix('.pub').read_text().strip()}",
                    "-p",
                    "127.0.0.1::22",
                    *(systemd_run_args() if self.systemd else []),
                    image,
                )
            name = "sandbox-zookeeper" if index == ZOOKEEPER_INDEX else f"sandbox-{index}"
            hosts.append(SandboxHost(name, container, address, self._ssh_port(container)))
        self._pin_host_keys(hosts)
        self.write_inventory(hosts, cluster=cluster)
        step(
            f"{len(hosts)} hosts up: " + ", ".join(f"{h.name} (ssh 127.0.0.1:{h.ssh_port}, {h.address})" for h in hosts)
        )
        return hosts

    def down(self) -> None:
        for container in self._containers():
            step(f"removing {container}")
            _docker("rm", "-f", container, check=False)
        if _docker("network", "inspect", self.network, check=False).returncode == 0:
            step(f"removing network {self.network}")
            _docker("network", "rm", self.network, check=False)
        if self.state.exists():
            step(f"removing {self.state} (keys, passwords, CA)")
            shutil.rmtree(self.state)

    def hosts(self) -> list[SandboxHost]:
        if not self.hosts_file.exists():
            raise RuntimeError(
                f"no sandbox hosts ({self.hosts_file} is missing); start them with: python -m hardhouse_dev.sandbox up"
            )
        data = json.loads(self.hosts_file.read_text())
        return [SandboxHost(**h["sandbox"]) for h in data["hosts"]]

    # -- inventory data -----------------------------------------------------------------------
    def ssh_data(self, host: SandboxHost) -> dict[str, Any]:
        return {
            "ssh_hostname": "127.0.0.1",
            "ssh_port": host.ssh_port,
            "ssh_user": "root",
            "ssh_key": str(self.key),
            "ssh_known_hosts_file": str(self.known_hosts),
            "ssh_strict_host_key_checking": "yes",
        }

    def host_data(self, host: SandboxHost, spec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return {
            **self.ssh_data(host),
            "hardhouse_spec": spec or sandbox_spec(host.address, self.gateway, str(self.subnet), self.secrets_dir),
            "hardhouse_tls_source": "sandbox-ca",
            "hardhouse_sandbox_ca_dir": str(self.ca_dir),
            "hardhouse_verify_address": host.address,
            "hardhouse_waivers": sandbox_waivers(),
            **extra,
        }

    def cluster_data(self, host: SandboxHost, hosts: Sequence[SandboxHost]) -> dict[str, Any]:
        """A cluster host's data: the ZooKeeper host's hardening, or a replica's spec."""
        zookeeper = next(h for h in hosts if h.name == "sandbox-zookeeper")
        if host == zookeeper:
            # No ClickHouse here: hardhouse_spec None overrides the policy's (group_data/all.py).
            return {
                **self.ssh_data(host),
                "hardhouse_spec": None,
                "hardhouse_zookeeper": zookeeper_data(host.address, self.secrets_dir),
            }
        nodes = [h.address for h in hosts if h != zookeeper]
        spec = sandbox_cluster_spec(
            host.address, nodes, zookeeper.address, self.gateway, str(self.subnet), self.secrets_dir
        )
        return self.host_data(host, spec, hardhouse_waivers=cluster_waivers())

    def write_inventory(
        self, hosts: Sequence[SandboxHost], data: dict[str, dict[str, Any]] | None = None, cluster: bool = False
    ) -> None:
        """hosts.json for inventories/sandbox.py; `data` replaces a host's data by name."""

        def default(host: SandboxHost) -> dict[str, Any]:
            return self.cluster_data(host, hosts) if cluster else self.host_data(host)

        entries = [
            {"name": h.name, "sandbox": h.__dict__, "data": (data or {}).get(h.name) or default(h)} for h in hosts
        ]
        document = {
            "network": self.network,
            "subnet": str(self.subnet),
            "gateway": self.gateway,
            "cluster": cluster,
            "hosts": entries,
        }
        temporary = self.hosts_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n")
        os.replace(temporary, self.hosts_file)

    def passwords(self) -> dict[str, str]:
        return {name: (self.secrets_dir / name).read_text().strip() for name in USERS}

    # -- running the deploy -------------------------------------------------------------------
    def pyinfra_command(self, *args: str) -> list[str]:
        pyinfra = Path(sys.executable).with_name("pyinfra")
        executable = str(pyinfra) if pyinfra.exists() else (shutil.which("pyinfra") or "pyinfra")
        return [executable, str(ROOT / "inventories" / "sandbox.py"), str(ROOT / "deploy" / "harden.py"), "-y", *args]

    def environment(self) -> dict[str, str]:
        return {**os.environ, STATE_VARIABLE: str(self.state)}

    def deploy(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the deploy over SSH; output streams to this terminal unless captured."""
        command = self.pyinfra_command(*args)
        step(
            "deploying: "
            + " ".join(
                Path(command[0]).name if i == 0 else os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c
                for i, c in enumerate(command)
            )
        )
        return subprocess.run(command, cwd=ROOT, env=self.environment(), text=True, capture_output=capture)

    def report(self) -> tuple[bool, list[dict[str, Any]]]:
        """Verify every host from this machine, as the deploy's last step does."""
        from hardhouse.provision.desired import describe
        from hardhouse.spec import load_spec
        from hardhouse.verify.deployment import verify_deployment

        data = json.loads(self.hosts_file.read_text())
        results = []
        for entry in data["hosts"]:
            host_data = entry["data"]
            if host_data.get("hardhouse_spec") is None:
                continue  # the ZooKeeper host: each replica's report says what ZooKeeper refuses
            spec = load_spec(host_data["hardhouse_spec"])
            address = host_data.get("hardhouse_verify_address") or spec.listen_hosts[0]
            checks = verify_deployment(address, spec, ca=self.ca_dir / "ca.crt")
            results.append(
                {
                    "host": entry["name"],
                    "address": address,
                    "ok": all(c.ok for c in checks),
                    "log_databases": describe(spec),
                    "checks": checks,
                }
            )
        return all(r["ok"] for r in results), results

    # -- helpers ------------------------------------------------------------------------------
    def _containers(self, running_only: bool = False) -> list[str]:
        args = ["ps", "--filter", f"label={LABEL}={self.network}", "--format", "{{.Names}}"]
        if not running_only:
            args.insert(1, "-a")
        return sorted(_docker(*args).stdout.split())

    def _ssh_key(self) -> None:
        if self.key.exists():
            return
        self.key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hardhouse-sandbox", "-f", str(self.key)], check=True
        )
        step(f"SSH key for this sandbox: {self.key}")

    def _passwords(self) -> None:
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in USERS + CLUSTER_SECRETS:
            path = self.secrets_dir / name
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(24) + "\n")

    def _network(self) -> None:
        found = _docker("network", "inspect", self.network, check=False)
        if found.returncode == 0:
            configs = json.loads(found.stdout)[0].get("IPAM", {}).get("Config") or []
            if any(c.get("Subnet") == str(self.subnet) for c in configs):
                return
            raise RuntimeError(
                f"Docker network {self.network} exists with another subnet; "
                f"remove it (docker network rm {self.network}) or run down first"
            )
        step(f"network {self.network} ({self.subnet}, this machine is {self.gateway})")
        _docker(
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            str(self.subnet),
            "--gateway",
            self.gateway,
            "--label",
            f"{LABEL}={self.network}",
            self.network,
        )

    @staticmethod
    def _image_of(container: str) -> str:
        return _docker("inspect", "-f", "{{.Config.Image}}", container, check=False).stdout.strip()

    @staticmethod
    def _ssh_port(container: str) -> int:
        mapping = _docker("port", container, "22/tcp").stdout.split()[0]
        return int(mapping.rsplit(":", 1)[1])

    def _pin_host_keys(self, hosts: Sequence[SandboxHost]) -> None:
        """Read each container's freshly made host key from inside it and pin it, so SSH
        checks keys strictly instead of trusting whatever answers first."""
        lines = []
        deadline = time.monotonic() + SSH_WAIT
        for host in hosts:
            while True:
                key = _docker("exec", host.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False)
                if key.returncode == 0 and _ssh_banner(host.ssh_port):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sshd in {host.container} did not come up within {SSH_WAIT:.0f} s")
                time.sleep(0.2)
            kind, blob = key.stdout.split()[:2]
            lines.append(f"[127.0.0.1]:{host.ssh_port} {kind} {blob}\n")
        self.known_hosts.write_text("".join(lines))


def _ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def print_report(results: list[dict[str, Any]]) -> None:
    from hardhouse.verify.checks import report_text

    for result in results:
        print(f"\n{result['host']} ({result['address']}): {'VERIFIED' if result['ok'] else 'NOT VERIFIED'}")
        for line in result.get("log_databases", []):
            print(f"  {line}")
        print(report_text(result["checks"]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardhouse_dev.sandbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["run", "up", "deploy", "report", "down"], nargs="?", default="run")
    parser.add_argument("--hosts", type=int, default=None, help=f"number of ClickHouse hosts (default {DEFAULT_HOSTS})")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help=f"the hosts are replicas of one cluster (default {CLUSTER_HOSTS}) with a ZooKeeper host",
    )
    parser.add_argument(
        "--systemd",
        action="store_true",
        help="hosts boot systemd as PID 1 (the systemd-host image): Debian's units run the services",
    )
    parser.add_argument("--json", action="store_true", help="print the verification report as JSON")
    parser.add_argument("pyinfra_args", nargs="*", help="extra pyinfra arguments for deploy (after --), e.g. -- -vv")
    args = parser.parse_args(argv)
    sandbox = Sandbox(systemd=args.systemd)
    try:
        if args.action == "down":
            sandbox.down()
            return 0
        if args.action in ("run", "up"):
            hosts = args.hosts if args.hosts is not None else CLUSTER_HOSTS if args.cluster else DEFAULT_HOSTS
            if hosts < 1 or (args.cluster and hosts < 2):
                parser.error("--hosts must be at least 1 (2 with --cluster: a cluster replicates)")
            sandbox.up(hosts, cluster=args.cluster)
            if args.action == "up":
                return 0
        if args.action in ("run", "deploy"):
            sandbox.hosts()
            if sandbox.deploy(*args.pyinfra_args).returncode != 0:
                step("the deploy failed (see above); the report below shows what each host serves now")
                deployed = False
            else:
                deployed = True
            if args.action == "deploy":
                return 0 if deployed else 1
        else:
            deployed = True
        step("verifying every host from this machine")
        ok, results = sandbox.report()
        if args.json:
            print(json.dumps([{**r, "checks": [c.as_dict() for c in r["checks"]]} for r in results], indent=2))
        else:
            print_report(results)
            print(
                f"\n{sum(r['ok'] for r in results)} of {len(results)} hosts verified. "
                "Tear down with: scripts/sandbox down"
            )
        return 0 if ok and deployed else 1
    except RuntimeError as error:
        step(str(error))
        return 1


if __name__ == "__main__":
    sys.exit(main())
