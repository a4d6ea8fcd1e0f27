"""Serve a rendered hardhouse configuration with modern ClickHouse (chdb-core 26.9) on loopback:
one child process per server, plaintext native and HTTP on free ports, started and stopped like
LocalClickHouse (readiness by port, bounded).

How: chdb-core contains clickhouse-local's `SYSTEM START LISTEN TCP|HTTP`. The child runs one
query through chdb's raw one-shot entry in a directory laid out like /etc/clickhouse-server
(config.xml, users.xml = ClickHouse's stock users, config.d/, users.d/ with the rendered files):
the optional setup SQL, then SYSTEM START LISTEN TCP and HTTP, then a sleep that keeps the
listeners alive. Two files of this fixture sort after every rendered one and win:
* config.d/zzzz-modern-server.xml: listen on 127.0.0.1 only, free tcp_port and http_port, the
  data path in the work directory; the secure ports (which clickhouse-local never opens) and
  the rendered listen_host entries are removed.
* users.d/zzzz-modern-server.xml: `default` replaced (also where the render removed it) by the
  account the in-process session needs: it always logs in as `default` with an empty password
  from ::1, so it is an empty-password SHA-256 (accepted where allow_no_password is 0) limited
  to ::1, with only the grants the query needs (SYSTEM LISTEN, SELECT on system.numbers, plus
  those for the setup SQL),
  and a profile whose max_sessions_for_user is 1: the session holds the only slot for as long
  as the server lives.

Caveats a test must respect (the engine is real, the server around it is clickhouse-local):
* An anonymous network login (`default` with the empty password, or HTTP with no credentials)
  is refused with 700 (USER_SESSION_LIMIT_EXCEEDED), not 516 (AUTHENTICATION_FAILED) as on a
  server where the render removed `default`; a test naming the code must name 700. `default`
  with any other password fails its password check first: 516 native, 194 over HTTP.
* NOT enforced here, so a test that needs one must skip and say so (NOT_ENFORCED holds the
  reasons): TLS listeners (only plaintext TCP and HTTP open); per-user `<networks>` beyond
  loopback or not (every client comes from 127.0.0.1, and ClickHouse treats loopback addresses
  as one host; a user whose networks exclude loopback is refused, 516, as on a server);
  SQL-created users (CREATE USER fails, 514); query_masking_rules (query_log keeps the
  plaintext); remote_url_allow_hosts and user_files_path (file() reads any path). `default`
  itself is never the rendered one.
* Enforced: password hashes (wrong password: 516), users.d grants (497), settings
  constraints, row filters, encrypted disks (keys from the child's environment).

TLS for the clients that insist on it (tls=True): `native_tls` and `https` are ports of the
fixture's own TLS front (hardhouse.testing.tls_front: Python's ssl with a certificate for
127.0.0.1 from a fresh test CA, `ca`), forwarding to the plaintext ports. The TLS endpoint is
the fixture's, not ClickHouse's: it lets the deploy's and the audit's real code paths (a
password only to a certificate that validates against a named CA) run against the 26.9 engine,
and proves their path and the engine's answers, never ClickHouse's TLS settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.clickhouse.stock import EMPTY_SHA256
from hardhouse.embedded.harness import STOCK_USERS_XML
from hardhouse.render import RenderedFile, write_files
from hardhouse.render.sql import sql_statements
from hardhouse.testing.clients import port_open
from hardhouse.testing.local_server import free_port
from hardhouse.testing.processes import end_process
from hardhouse.testing.tls_front import TlsFront

HOST = "127.0.0.1"
OVERRIDE = "zzzz-modern-server.xml"  # sorts after every rendered "zz-hardhouse-*" file
SESSION_PROFILE = "hardhouse_modern_server_session"
# What the serving query itself needs: open the listeners, then sleep row by row.
SERVE_GRANTS = ("GRANT SYSTEM LISTEN ON *.*", "GRANT SELECT ON system.numbers")
# What the setup SQL may do by default: rendered DDL (databases, tables, views) and seed rows.
SETUP_GRANTS = (
    "GRANT CREATE, ALTER, DROP, INSERT, SELECT, TRUNCATE, OPTIMIZE ON *.*",
    "GRANT TABLE ENGINE ON *",
)
NOT_ENFORCED = {
    "tls": "the 26.9 network server (clickhouse-local) opens no TLS listener",
    "networks": "the 26.9 network server's clients all come from loopback: networks are proven only as loopback or not",
    "sql_users": "the 26.9 network server (clickhouse-local) has no SQL access storage (CREATE USER: 514)",
    "query_masking": "the 26.9 network server (clickhouse-local) does not apply query_masking_rules",
    "egress": (
        "the 26.9 network server (clickhouse-local) applies neither remote_url_allow_hosts (url() to a loopback "
        "port outside the list is fetched) nor user_files_path (file() reads any path)"
    ),
}
STDERR_TAIL = 4000  # bytes of the child's stderr shown when it fails; never more

# clickhouse-local reads ./config.xml; `import chdb` before chdir. The listeners live while the
# one query runs; it is split into statements by the engine, not here.
SERVE = """
import os, sys, chdb
os.chdir(sys.argv[1])
chdb._chdb.query(open("serve.sql", encoding="utf-8").read(), "TabSeparated")
"""

CONFIG_XML = """<clickhouse>
    <users_config>{etc}/users.xml</users_config>
</clickhouse>
"""

# listen_host removes: each consumes one entry the render (or anything earlier) set.
CONFIG_OVERRIDE = """<clickhouse>
    <!-- hardhouse ModernClickHouse (test fixture): loopback only, free ports, private data. -->
{removes}    <listen_host>{host}</listen_host>
    <tcp_port>{native}</tcp_port>
    <http_port>{http}</http_port>
    <https_port remove="1"/>
    <tcp_port_secure remove="1"/>
    <interserver_http_port remove="1"/>
    <path>{data}/</path>
    <tmp_path>{data}/tmp/</tmp_path>
    <user_files_path>{data}/user_files/</user_files_path>
    <format_schema_path>{data}/format_schemas/</format_schema_path>
    <access_control_path>{data}/access/</access_control_path>
</clickhouse>
"""

USERS_OVERRIDE = """<clickhouse>
    <!-- hardhouse ModernClickHouse (test fixture): the in-process session's account. -->
    <profiles>
        <{profile} replace="1">
            <max_sessions_for_user>1</max_sessions_for_user>
        </{profile}>
    </profiles>
    <users>
        <default replace="1">
            <password_sha256_hex>{empty}</password_sha256_hex>
            <networks>
                <ip>::1</ip>
            </networks>
            <profile>{profile}</profile>
            <quota>default</quota>
            <access_management>0</access_management>
            <grants>
{grants}            </grants>
        </default>
    </users>
</clickhouse>
"""


def rendered_sql(files: Sequence[RenderedFile]) -> list[str]:
    """The statements of the rendered sql/ files, in file-name order (as the deploy applies them)."""
    statements: list[str] = []
    for file in sorted(files, key=lambda f: f.path):
        if file.path.startswith("sql/"):
            statements.extend(sql_statements(file.content))
    return statements


class ModernClickHouse:
    """One 26.9 server process on loopback; use as a context manager, or call start()/stop().

    install(files) as an operator would into /etc/clickhouse-server, then start(); the ports
    are `native` and `http` on `host` (127.0.0.1). With tls=True, also `native_tls` and `https`
    (the fixture's TLS front, see the module's docstring) and `ca`, the CA certificate to
    validate them against."""

    def __init__(
        self,
        workdir: Path,
        *,
        native: int | None = None,
        http: int | None = None,
        tls: bool = False,
        native_tls: int | None = None,
        https: int | None = None,
    ):
        self.workdir = workdir
        self.tls = tls
        self._fronts: dict[str, TlsFront] = {}
        self._tls_files: TlsFiles | None = None  # issued at the first start, kept across restarts
        self.etc = workdir / "etc"
        self.data = workdir / "data"
        self.host = HOST
        self.native = native or free_port(HOST)
        self.http = http or free_port(HOST)
        # The fronts' ports are known before start, so a spec can name them (ports.native_tls).
        self.native_tls = (native_tls or free_port(HOST)) if tls else 0
        self.https = (https or free_port(HOST)) if tls else 0
        self.process: subprocess.Popen[bytes] | None = None
        for sub in ("config.d", "users.d"):
            (self.etc / sub).mkdir(parents=True, exist_ok=True)
        (self.etc / "config.xml").write_text(CONFIG_XML.format(etc=self.etc), encoding="utf-8")
        (self.etc / "users.xml").write_text(STOCK_USERS_XML, encoding="utf-8")

    def install(self, files: list[RenderedFile]) -> None:
        """Drop rendered files in, as an operator would into /etc/clickhouse-server."""
        write_files(files, self.etc)

    def _write_overrides(self, grants: Sequence[str]) -> None:
        removes = '    <listen_host remove="1"/>\n' * 16
        config = CONFIG_OVERRIDE.format(
            removes=removes, host=self.host, native=self.native, http=self.http, data=self.data
        )
        (self.etc / "config.d" / OVERRIDE).write_text(config, encoding="utf-8")
        queries = "".join(f"                <query>{_xml_text(grant)}</query>\n" for grant in grants)
        users = USERS_OVERRIDE.format(profile=SESSION_PROFILE, empty=EMPTY_SHA256, grants=queries)
        (self.etc / "users.d" / OVERRIDE).write_text(users, encoding="utf-8")

    def start(
        self,
        setup: Sequence[str] = (),
        *,
        setup_grants: Sequence[str] = SETUP_GRANTS,
        environ: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        lifetime: int = 3600,
    ) -> None:
        """Run the setup statements, then listen; return once both ports accept connections.

        setup_grants: what the in-process session may do for the setup (only when there is
        setup). environ: extra variables for the child (e.g. the keys of encrypted disks).
        lifetime: seconds after which the server stops by itself, so a lost one cannot linger."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("this ModernClickHouse is already running")
        self._write_overrides([*SERVE_GRANTS, *(setup_grants if setup else ())])
        statements = [s.strip().rstrip(";") for s in setup if s.strip()]
        serve = "".join(f"{s};\n" for s in statements) + (
            "SYSTEM START LISTEN TCP;\nSYSTEM START LISTEN HTTP;\n"
            f"SELECT sleepEachRow(1) FROM system.numbers LIMIT {int(lifetime)} "
            "SETTINGS max_block_size = 1 FORMAT Null\n"
        )
        (self.etc / "serve.sql").write_text(serve, encoding="utf-8")
        stderr = (self.workdir / "stderr.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(self.etc)],
            cwd=self.etc,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, **(environ or {})},
        )
        stderr.close()
        deadline = time.monotonic() + timeout
        pending = [(self.host, self.native), (self.host, self.http)]
        while pending:
            if self.process.poll() is not None:
                raise RuntimeError(f"26.9 server exited with {self.process.returncode}:\n{self.error_log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"26.9 server did not open {pending} within {timeout:.0f}s:\n{self.error_log()}")
            pending = [(host, port) for host, port in pending if not port_open(host, port)]
            if pending:
                time.sleep(0.05)
        if self.tls:
            if self._tls_files is None:
                self._tls_files = write_server_material(self.workdir / "tls", [self.host])
            material = self._tls_files
            self._fronts = {
                "native_tls": TlsFront(self.host, self.native, material, port=self.native_tls, lifetime=lifetime),
                "https": TlsFront(self.host, self.http, material, port=self.https, lifetime=lifetime),
            }

    @property
    def ca(self) -> Path:
        """The CA certificate the TLS fronts' certificate validates against (tls=True, once started)."""
        if self._tls_files is None:
            raise RuntimeError("no TLS front: create ModernClickHouse(..., tls=True) and start() it")
        return self._tls_files.ca_certificate

    def error_log(self) -> str:
        """The end of the child's stderr (bounded)."""
        log = self.workdir / "stderr.log"
        if not log.exists():
            return ""
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - STDERR_TAIL))
            return handle.read(STDERR_TAIL).decode("utf-8", errors="replace")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the TLS fronts, then the server: SIGTERM, then SIGKILL after timeout (the
        sleeping query can outlast SIGTERM)."""
        for front in self._fronts.values():
            front.stop()
        self._fronts = {}
        end_process(self.process, grace=timeout)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> ModernClickHouse:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
