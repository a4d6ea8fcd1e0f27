"""Helpers shared by the test modules."""

from __future__ import annotations

import dataclasses
import os
import resource
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hardhouse.render import RenderedFile
from hardhouse.testing.local_server import STOCK_CONFIG_DIR

# Strong random passwords, generated per test run and passed through `environ=`; never
# written to a file or printed.
PASSWORDS = {"CH_INGEST_PASSWORD": secrets.token_urlsafe(24), "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24)}

VALID_SPEC: dict[str, Any] = {
    "clickhouse_version": "24.8",
    "listen_hosts": ["10.0.0.5"],
    "ports": {"http": None, "native": None, "https": 8443, "native_tls": 9440},
    "tls": {
        "certificate": "/etc/clickhouse-server/tls/server.crt",
        "private_key": "/etc/clickhouse-server/tls/server.key",
        "min_protocol": "tlsv1_2",
    },
    "default_user": "remove",
    "users": [
        {
            "name": "ingest",
            "password_env": "CH_INGEST_PASSWORD",
            "networks": ["10.0.0.0/8"],
            "profile": "writer",
            "databases": ["logs"],
        },
        {
            "name": "analyst",
            "password_env": "CH_ANALYST_PASSWORD",
            "networks": ["10.1.2.0/24", "2001:db8::/64"],
            "profile": "readonly",
        },
    ],
    "profiles": {"writer": {"max_execution_time": 300}, "readonly": {"readonly": 1}},
}


def require(condition: bool, reason: str) -> None:
    """Skip when a dependency is missing on a developer machine; fail in CI, where
    .ci/run installs everything and a skip would hide a test that never ran."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it: see scripts/setup-machine)")
    pytest.skip(reason)


def weaken(files: list[RenderedFile]) -> list[RenderedFile]:
    """Remove three controls by hand, to show a check catches their absence: the stock
    passwordless users survive, TLS 1.0/1.1 and CBC suites are allowed again."""
    weakened = []
    for file in files:
        if file.path.endswith("stock-users.xml"):
            continue
        if file.path.endswith("tls.xml"):
            root = etree.fromstring(file.content.encode())
            root.find("openSSL/server/disableProtocols").text = "sslv2,sslv3"
            root.find("openSSL/server/cipherList").text = "ALL:@SECLEVEL=0"
            file = dataclasses.replace(file, content=etree.tostring(root, encoding="unicode"))
        weakened.append(file)
    return weakened


def write_password_file(path: Path, secret: str, mode: int = 0o600) -> Path:
    """A password file as an operator keeps it: the password and a newline, owner-only by
    default (hardhouse refuses one that group or others may read, as ssh does for keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    os.chmod(path, mode)
    return path


# Limits for a CLI run that faces input which could expand: address space and wall clock.
CAPPED_MEMORY = 1 << 30
CAPPED_SECONDS = 30
SMALL_OUTPUT = 64 * 1024


def run_cli_capped(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `hardhouse ARGS` (with bytes on stdin if given) in a child limited to CAPPED_MEMORY
    of address space and CAPPED_SECONDS; a hang raises subprocess.TimeoutExpired, a blow-up
    ends in MemoryError."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAPPED_MEMORY, CAPPED_MEMORY))

    return subprocess.run(
        [sys.executable, "-c", "from hardhouse.cli import main; main()", *args],
        preexec_fn=limit_memory,
        input=stdin,
        capture_output=True,
        timeout=CAPPED_SECONDS,
        env={**os.environ, **(env or {})},
        check=False,
    )


def assert_refused_briefly(result: Any, *expected: str) -> str:
    """A capped CLI run (run_cli_capped) refused its input: exit 2, short output, no
    traceback, each expected text said. Returns the output."""
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 2, output[:2000]
    assert len(result.stdout) + len(result.stderr) < SMALL_OUTPUT
    assert "Traceback" not in output
    for text in expected:
        assert text in output, output[:2000]
    return output


def stock_tree(etc: Path) -> Path:
    """A copy of Debian's 18.16 config.xml and users.xml in a new directory `etc` (skipped, or
    failed under CI, when Debian's clickhouse-server is not installed)."""
    require((STOCK_CONFIG_DIR / "config.xml").is_file(), "Debian's clickhouse-server is not installed")
    etc.mkdir()
    for name in ("config.xml", "users.xml"):
        shutil.copyfile(STOCK_CONFIG_DIR / name, etc / name)
    return etc


def outcome_within(call: Callable[[], object], seconds: float = 5.0) -> BaseException | None:
    """Run `call` in a thread and fail the test if it still runs after `seconds` (a read that
    would wait for ever); else what it raised, or None if it returned."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting after {seconds:g} s"
    return outcome[0]


class TlsServer:
    """Answers TLS handshakes on 127.0.0.1 with the certificate given, one connection at a time,
    as a server would. With `read`, it then reads what the client sends and counts the bytes
    (`received`): a client that must send nothing can be held to it."""

    def __init__(self, certificate: Path, private_key: Path, *, read: bool = False) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate, private_key)
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.socket.settimeout(0.2)
        self.port: int = self.socket.getsockname()[1]
        self.read, self.received = read, 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    with self.context.wrap_socket(connection, server_side=True) as tls:
                        if self.read:
                            self.received += len(tls.recv(65536))
                except (ssl.SSLError, OSError):
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.socket.close()
