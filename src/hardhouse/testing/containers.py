"""ClickHouse in a container, started from rendered hardhouse files, with testcontainers.

The image is a parameter: the pytest plugin takes it from HARDHOUSE_CLICKHOUSE_IMAGE (e.g.
clickhouse/clickhouse-server:24.8) or its ini option; this project's own tests build a Debian
18.16 image locally (dev/hardhouse_dev/images.py) and pass that.

Containers join a Docker network the test creates (fixed subnet, fixed addresses), and
tests talk to them only at those addresses. Rendered files and TLS material are copied in
before the server starts, owned root:clickhouse 0640 (key 0640 too), as a deploy ships them.
"""

from __future__ import annotations

import io
import ipaddress
import os
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testcontainers.core.container import DockerContainer

from hardhouse.ca import TlsFiles
from hardhouse.render import RenderedFile
from hardhouse.testing.clients import parse_listening, port_open
from hardhouse.testing.network import free_subnet

IMAGE_VARIABLE = "HARDHOUSE_CLICKHOUSE_IMAGE"
CONFIG_DIR = "/etc/clickhouse-server"
TLS_DIR = f"{CONFIG_DIR}/tls"  # where test specs point tls.certificate / private_key
FILES_MARKER = "/.hardhouse-files"  # stands for "our files" in testcontainers' copy list


@dataclass
class DockerNetwork:
    name: str
    subnet: ipaddress.IPv4Network
    # Addresses .10-.199 are handed out by allocate(); tests may pick others for clients.
    _free: Iterator[int] = field(default_factory=lambda: iter(range(10, 200)), repr=False)

    def address(self, index: int) -> str:
        """A fixed address in the subnet (.1 is Docker's gateway, i.e. this machine)."""
        return str(self.subnet.network_address + index)

    def allocate(self) -> str:
        """An address no other container of this network was given by allocate()."""
        return self.address(next(self._free))

    @property
    def gateway(self) -> str:
        return self.address(1)


@contextmanager
def docker_network(prefix: str = "hardhouse-test") -> Iterator[DockerNetwork]:
    """A Docker network with a subnet no other network uses, removed afterwards."""
    import docker
    from docker.types import IPAMConfig, IPAMPool

    client = docker.from_env()
    taken = set()
    for existing in client.networks.list():
        for config in (existing.attrs.get("IPAM") or {}).get("Config") or []:
            if "Subnet" in config:
                taken.add(ipaddress.ip_network(config["Subnet"], strict=False))
    subnet = free_subnet(taken, "172.31")
    name = f"{prefix}-{subnet.network_address.packed[2]}-{os.getpid()}"
    network = client.networks.create(
        name,
        driver="bridge",
        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=str(subnet.network_address + 1))]),
    )
    try:
        yield DockerNetwork(name, subnet)
    finally:
        network.remove()
        client.close()


def _tar(entries: list[tuple[str, bytes, int]], gid: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, data, mode in entries:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(data), mode, 0, gid
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# The clickhouse group's id in each image (by image id): a property of the image, not of a
# container, so every container of a test session started from one image reads it once.
_GROUP_IDS: dict[str, int] = {}
READY_POLL = 0.02  # seconds between readiness checks: a refused connect costs microseconds


class ClickHouseContainer(DockerContainer):
    """One ClickHouse server; `files` are rendered hardhouse files (may be empty: stock)."""

    def __init__(
        self,
        network: DockerNetwork,
        address: str,
        files: list[RenderedFile] = (),  # type: ignore[assignment]
        tls: TlsFiles | None = None,
        *,
        image: str,
        data_volume: str | None = None,
        extra_networks: dict[str, str] | None = None,
    ):
        super().__init__(image)
        self.network = network
        self.address = address
        self.files = list(files)
        self.tls = tls
        self.extra_networks = extra_networks or {}
        from docker.types import EndpointConfig

        self.with_kwargs(
            network=network.name,
            networking_config={network.name: EndpointConfig("1.41", ipv4_address=address)},
            user="root",  # the image's own start script drops to the clickhouse user
        )
        if data_volume:
            self.with_volume_mapping(data_volume, "/var/lib/clickhouse", mode="rw")
        self.with_copy_into_container(b"", FILES_MARKER)

    def _clickhouse_gid(self) -> int:
        """The image's clickhouse group, read once per image (by its id) from its /etc/group."""
        image = self._container.attrs.get("Image") or self.image  # type: ignore[union-attr]
        if image not in _GROUP_IDS:
            _GROUP_IDS[image] = self._read_clickhouse_gid()
        return _GROUP_IDS[image]

    def _read_clickhouse_gid(self) -> int:
        stream, _ = self._container.get_archive("/etc/group")  # type: ignore[union-attr]
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(tar.getmembers()[0])
            assert member is not None
            for line in member.read().decode().splitlines():
                name, _, gid, _ = line.split(":", 3)
                if name == "clickhouse":
                    return int(gid)
        raise RuntimeError("the image has no clickhouse group")

    def _transfer_into_container(self, transferable: bytes | Path, destination: str, mode: int) -> None:
        # testcontainers copies transferables after creating the container and before
        # starting it; our set-up rides that hook (see __init__).
        if destination == FILES_MARKER:
            self._before_start()
        else:
            super()._transfer_into_container(transferable, destination, mode)

    def _before_start(self) -> None:
        """Files in place (owned by the image's own clickhouse group) and extra networks joined."""
        entries = [(f"{CONFIG_DIR}/{f.path}", f.content.encode(), f.mode) for f in self.files]
        if self.tls is not None:
            entries += [
                (f"{TLS_DIR}/ca.crt", self.tls.ca_certificate.read_bytes(), 0o644),
                (f"{TLS_DIR}/server.crt", self.tls.certificate.read_bytes(), 0o644),
                (f"{TLS_DIR}/server.key", self.tls.private_key.read_bytes(), 0o640),
            ]
        if entries:
            self._container.put_archive("/", _tar(entries, self._clickhouse_gid()))  # type: ignore[union-attr]
        client = self.get_docker_client().client
        for network, address in self.extra_networks.items():
            client.networks.get(network).connect(self._container, ipv4_address=address)

    def wait_ready(self, ports: list[int], timeout: float = 60.0) -> None:
        """Wait until each port accepts connections at the container's address."""
        deadline = time.monotonic() + timeout
        pending = list(ports)
        while pending:
            self._container.reload()  # type: ignore[union-attr]
            if self._container.status == "exited":  # type: ignore[union-attr]
                raise RuntimeError(f"ClickHouse container exited:\n{self.server_log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"ports {pending} of {self.address} not open after {timeout:.0f}s:\n{self.server_log()}"
                )
            pending = [port for port in pending if not port_open(self.address, port)]
            if pending:
                time.sleep(READY_POLL)

    def server_log(self, lines: int = 30) -> str:
        """The server's error log (it logs to files, not to stdout)."""
        if self._container is None:
            return ""
        result = self._container.exec_run(
            ["sh", "-c", f"tail -n {lines} /var/log/clickhouse-server/clickhouse-server.err.log 2>/dev/null"]
        )
        logs = self._container.logs(tail=lines).decode(errors="replace")
        return logs + result.output.decode(errors="replace")

    def listening(self) -> set[tuple[str, int]]:
        """Every TCP (address, port) the container listens on, from its own /proc.

        Where the engine runs on this machine, the tables are read through /proc/<pid>/net of
        the container's main process (the container's network namespace), which costs a file
        read; elsewhere (a remote or virtualised engine) through `docker exec`."""
        text = self._proc_net_tcp_from_host()
        if text is None:
            _, text = self.exec("sh", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null")
        return parse_listening(text)

    def _proc_net_tcp_from_host(self) -> str | None:
        """/proc/net/tcp{,6} of the container, read from this machine's /proc; None when its
        main process is not visible here as a process of this very container.

        The pid last inspected is tried first: any process in the container's cgroup sees the
        container's network. When it is gone, the engine is asked for the current one."""
        for inspect in (False, True):
            if inspect:
                self._container.reload()  # type: ignore[union-attr]
            text = self._read_proc_net_tcp()
            if text is not None:
                return text
        return None

    def _read_proc_net_tcp(self) -> str | None:
        state = self._container.attrs.get("State") or {}  # type: ignore[union-attr]
        pid, container_id = state.get("Pid") or 0, self._container.id  # type: ignore[union-attr]
        if not (state.get("Running") and pid > 0 and container_id):
            return None
        proc = Path(f"/proc/{pid}")
        try:
            # The same pid on this machine must be this container's process (its cgroup path
            # names the container), not an unrelated one of a remote engine's numbering.
            if container_id not in (proc / "cgroup").read_text():
                return None
            tables = [proc / "net" / name for name in ("tcp", "tcp6")]
            text = "\n".join(table.read_text() for table in tables if table.exists())
            if container_id not in (proc / "cgroup").read_text():
                return None  # the process ended and the pid was reused while we read
        except OSError:
            return None
        return text

    def exec(self, *command: str) -> tuple[int, str]:
        result = self._container.exec_run(list(command))  # type: ignore[union-attr]
        return result.exit_code, result.output.decode(errors="replace")
