"""Debian's ZooKeeper as a child process, and a tiny bounded ZooKeeper client.

LocalZooKeeper runs one standalone server (`zkServer.sh start-foreground CONFIG`) on a
loopback address, with the admin HTTP server and JMX off and only `ruok` among the
four-letter words; start() waits a bounded time, stop() always ends the process it started
(used as a context manager, also when a test fails).

ZooKeeperClient (hardhouse.probe.wire.zookeeper, the probe's own client, re-exported here)
speaks just enough of ZooKeeper's wire protocol (jute) to prove who may read and write a
znode: connect, add digest auth, getData, getChildren, getACL, create. Debian's zkCli.sh
would do the same job at the cost of a JVM start per call.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from hardhouse.probe.wire.zookeeper import (
    AUTH_FAILED,
    MAX_FRAME,
    NO_AUTH,
    NO_NODE,
    NODE_EXISTS,
    OK,
    PERM_ALL,
    WORLD_ANYONE,
    ZooKeeperClient,
    ZooKeeperError,
)
from hardhouse.testing.clients import port_open
from hardhouse.testing.processes import end_process

__all__ = [
    "AUTH_FAILED",
    "MAX_FRAME",
    "NODE_EXISTS",
    "NO_AUTH",
    "NO_NODE",
    "OK",
    "PERM_ALL",
    "WORLD_ANYONE",
    "LocalZooKeeper",
    "ZooKeeperClient",
    "ZooKeeperError",
    "zookeeper_installed",
]

ZK_SERVER = Path("/usr/share/zookeeper/bin/zkServer.sh")
ZK_CLIENT = Path("/usr/share/zookeeper/bin/zkCli.sh")
# The heap a test ZooKeeper may use; its JVM would otherwise size itself from the machine.
HEAP = "-Xmx256m"


def zookeeper_installed() -> bool:
    return ZK_SERVER.exists() and shutil.which("java") is not None


class LocalZooKeeper:
    """One standalone ZooKeeper; use as a context manager, or call start()/stop()."""

    def __init__(self, workdir: Path, address: str, port: int, four_letter_words: str = "ruok"):
        self.workdir = workdir
        self.address = address
        self.port = port
        self.config = workdir / "zoo.cfg"
        self.process: subprocess.Popen[bytes] | None = None
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "tickTime=2000\n"
            f"dataDir={workdir / 'data'}\n"
            f"clientPort={port}\n"
            # Only this loopback address, never every interface.
            f"clientPortAddress={address}\n"
            # No admin HTTP server (stock: 8080 on every interface).
            "admin.enableServer=false\n"
            # Four-letter words off except the liveness check (ZooKeeper answers srvr whatever this says).
            f"4lw.commands.whitelist={four_letter_words}\n"
            "maxClientCnxns=60\n",
            encoding="utf-8",
        )

    def start(self, timeout: float = 30.0) -> None:
        if not zookeeper_installed():
            raise FileNotFoundError("ZooKeeper is not installed (scripts/setup-machine installs Debian's zookeeper)")
        log = (self.workdir / "zookeeper.log").open("ab")
        self.process = subprocess.Popen(
            [str(ZK_SERVER), "start-foreground", str(self.config)],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # JMX would open an RMI port on every interface.
            env={"PATH": "/usr/bin:/bin", "JVMFLAGS": HEAP, "JMXDISABLE": "true", "ZOO_LOG_DIR": str(self.workdir)},
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.serving():
            if self.process.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"ZooKeeper did not open {self.address}:{self.port} within {timeout:.0f}s")
            time.sleep(0.1)

    def serving(self) -> bool:
        """A session can be opened (the port opens a moment before the server serves)."""
        if not port_open(self.address, self.port):
            return False
        try:
            ZooKeeperClient(self.address, self.port, timeout=2.0).close()
        except (OSError, ZooKeeperError):
            return False
        return True

    def log_tail(self, size: int = 4000) -> str:
        path = self.workdir / "zookeeper.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def stop(self) -> None:
        end_process(self.process, grace=15)  # zkServer.sh execs java: this is the JVM itself

    def __enter__(self) -> LocalZooKeeper:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
