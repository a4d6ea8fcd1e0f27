"""Run the machine's own Debian ClickHouse server as a child process, on a private copy of
its stock configuration plus rendered hardhouse files.

The stock config.xml and users.xml are copied byte for byte; the only addition is a sandbox
file that moves data and logs into the work directory (and, for a "stock" run, moves the
stock ports to free ones). Everything hardhouse renders sorts after it and wins.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from hardhouse.render import RenderedFile, write_files
from hardhouse.testing.clients import port_open
from hardhouse.testing.processes import end_process

STOCK_CONFIG_DIR = Path("/etc/clickhouse-server")
SERVER_BINARY_CANDIDATES = ("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server")
SANDBOX_PATHS = "config.d/00-sandbox-paths.xml"
SANDBOX_PORTS = "config.d/00-sandbox-ports.xml"


def server_binary() -> str | None:
    for candidate in SERVER_BINARY_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


# Ports handed out for servers are taken below the kernel's ephemeral range: a port bind(0)
# gives is in that range, where an outgoing connection of a parallel test (or a container's
# published port) may take it before the server binds it (seen once in CI: a 26.9 server's
# "Address already in use"). Each port is also reserved across processes (pytest-xdist's
# workers pick from the same range) by a file created exclusively, kept RESERVED_FOR seconds.
LOWEST_PORT = 20000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
RESERVED_FOR = 900.0
_handed_out: set[int] = set()  # one process never hands a port out twice


def _below_ephemeral() -> range:
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    return range(LOWEST_PORT, low)


def _reservations() -> Path | None:
    """This user's directory of port reservations (0700, its own), or None when it cannot be trusted."""
    directory = Path(tempfile.gettempdir()) / f"hardhouse-ports-{os.getuid()}"
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        found = directory.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        return None
    return directory


def _reserve(directory: Path, port: int) -> bool:
    """Whether this process now holds `port` (no other process reserved it in RESERVED_FOR s)."""
    path = directory / str(port)
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
            return True
        except FileExistsError:
            try:
                if time.time() - path.lstat().st_mtime < RESERVED_FOR:
                    return False
                path.unlink()  # an old reservation: its server is gone or holds the port bound
            except FileNotFoundError:
                continue
        except OSError:
            return False
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at `host` now, for a server to bind: below the ephemeral range
    when that leaves room (reserved for this process), else one the kernel picks."""
    choices = _below_ephemeral()
    directory = _reservations() if len(choices) > 1000 else None
    for _ in range(100 if directory is not None else 0):
        port = choices[secrets.randbelow(len(choices))]
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        if not _reserve(directory, port):
            continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalClickHouse:
    """One server process; use as a context manager, or call start()/stop()."""

    def __init__(self, workdir: Path, stock_dir: Path = STOCK_CONFIG_DIR):
        binary = server_binary()
        if binary is None:
            raise FileNotFoundError("clickhouse-server is not installed (scripts/setup-machine installs it)")
        self.binary = binary
        self.workdir = workdir
        self.etc = workdir / "etc"
        self.data = workdir / "data"
        self.process: subprocess.Popen[bytes] | None = None
        (self.etc / "config.d").mkdir(parents=True, exist_ok=True)
        (self.etc / "users.d").mkdir(parents=True, exist_ok=True)
        for name in ("config.xml", "users.xml"):
            shutil.copyfile(stock_dir / name, self.etc / name)
        self._write(
            SANDBOX_PATHS,
            f"""<clickhouse>
    <path>{self.data}/</path>
    <tmp_path>{self.data}/tmp/</tmp_path>
    <user_files_path>{self.data}/user_files/</user_files_path>
    <format_schema_path>{self.data}/format_schemas/</format_schema_path>
    <logger>
        <level>information</level>
        <log>{workdir}/server.log</log>
        <errorlog>{workdir}/server.err.log</errorlog>
    </logger>
</clickhouse>
""",
        )

    def _write(self, relative: str, content: str) -> None:
        (self.etc / relative).write_text(content, encoding="utf-8")

    def use_stock_ports(self, http: int, native: int, interserver: int) -> None:
        """Keep the stock exposure (default user, plaintext ports) but on free ports."""
        self._write(
            SANDBOX_PORTS,
            f"""<clickhouse>
    <http_port>{http}</http_port>
    <tcp_port>{native}</tcp_port>
    <interserver_http_port>{interserver}</interserver_http_port>
</clickhouse>
""",
        )

    def install(self, files: list[RenderedFile]) -> None:
        """Drop rendered files in, as an operator would into /etc/clickhouse-server."""
        (self.etc / SANDBOX_PORTS).unlink(missing_ok=True)
        write_files(files, self.etc)

    def start(self, ready: list[tuple[str, int]], timeout: float = 60.0) -> None:
        """Start the server and wait until every (host, port) in ready accepts connections."""
        self.process = subprocess.Popen(
            [self.binary, f"--config-file={self.etc / 'config.xml'}"],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=(self.workdir / "stdout.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        pending = list(ready)
        while pending:
            if self.process.poll() is not None:
                raise RuntimeError(f"clickhouse-server exited with {self.process.returncode}:\n{self.error_log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"clickhouse-server did not open {pending} within {timeout:.0f}s:\n{self.error_log()}"
                )
            pending = [(host, port) for host, port in pending if not port_open(host, port)]
            if pending:
                time.sleep(0.1)

    def error_log(self, lines: int = 30) -> str:
        log = self.workdir / "server.err.log"
        if not log.exists():
            return (
                (self.workdir / "stdout.log").read_text(errors="replace")[-4000:]
                if (self.workdir / "stdout.log").exists()
                else ""
            )
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 30) -> None:
        """Stop the server: TERM, then KILL after `grace` seconds (a caller whose data is thrown
        away may not wait for 18.16's shutdown of replicated tables)."""
        end_process(self.process, grace=grace)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> LocalClickHouse:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
