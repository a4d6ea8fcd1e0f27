"""Log tables on an encrypted disk, created by the provisioner over the network on ClickHouse 26.9
(log_databases.*.encryption with key_env, the key in the server process's environment): rows
written with a plaintext marker built at run time leave no trace of it anywhere under the data
directory, every file of the table starts with the encrypted disk's magic (ENC), and after a
restart with the same key the rows read back. The same steps without encryption find the
marker on disk in the clear: the proof fails when the control is off.

The server is hardhouse.testing.ModernClickHouse (chdb-core 26.9) behind its TLS front: the
provisioner's Session and the writer's client run as the deploy and an application would; the
TLS endpoint is the fixture's, not ClickHouse's. The rows are sent as native data blocks, not in
the query text, so the query log (on the unencrypted disk) holds no marker either."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hardhouse.clickhouse.driver import Client
from hardhouse.clickhouse.native import Session
from hardhouse.provision import provision
from hardhouse.render import render
from hardhouse.spec import HardeningSpec, load_spec
from hardhouse.testing.modern_server import HOST, ModernClickHouse
from tests.provision.scenarios import modern_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

PASSWORDS = {
    name: secrets.token_urlsafe(24) for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD", "CH_ADMIN_PASSWORD")
}
KEY_ENV = "CH_LOGS_KEY"
ENCRYPTED_MAGIC = b"ENC"
ROWS = 20
READ_LIMIT = 256 * 1024 * 1024  # bytes read from the data directory at most: a test's few parts are far less
TABLE = "logs.log_stream"


@contextmanager
def provisioned(workdir: Path, *, encryption: bool) -> Iterator[tuple[HardeningSpec, ModernClickHouse, dict[str, str]]]:
    """A 26.9 server on the rendered files, its log tables created by the provisioner as the owner."""
    server = ModernClickHouse(workdir, tls=True)
    data = modern_spec("26.9", encryption={"key_env": KEY_ENV} if encryption else None)
    data["ports"] = {"https": server.https, "native_tls": server.native_tls}
    for user in data["users"]:
        user["networks"] = ["127.0.0.1"]
    spec = load_spec(data)
    environ = {KEY_ENV: secrets.token_hex(32)} if encryption else {}
    server.install(render(spec, environ=PASSWORDS))
    with server:
        server.start(environ=environ)
        report = provision(HOST, spec, ca=server.ca, apply=True, environ=PASSWORDS)
        assert report.ok, report.as_dict()
        assert TABLE in {o.target for o in report.outcomes if o.outcome == "created"}
        yield spec, server, environ


def write_marked_rows(server: ModernClickHouse, marker: str) -> None:
    """As the writer, over native TLS, the marker only in the data blocks."""
    client = Client(
        HOST,
        port=server.native_tls,
        user="ingest",
        password=PASSWORDS["CH_INGEST_PASSWORD"],
        secure=True,
        verify=True,
        ca_certs=str(server.ca),
        connect_timeout=10,
        send_receive_timeout=60,
    )
    now = datetime.datetime.now().replace(microsecond=0)
    try:
        client.execute(f"INSERT INTO {TABLE} (ts, message) VALUES", [(now, f"{marker} {i}") for i in range(ROWS)])
    finally:
        client.disconnect()


def marked_rows(server: ModernClickHouse, marker: str) -> int:
    """The owner's count of the marked rows (the rows themselves are never shown). The marker is
    asked for in hex: the query text, which the query log keeps, never holds it."""
    prefix = f"lower(hex(substring(message, 1, {len(marker)})))"
    with Session(HOST, server.native_tls, "admin", PASSWORDS["CH_ADMIN_PASSWORD"], server.ca) as owner:
        return int(owner.rows(f"SELECT count() AS n FROM {TABLE} WHERE {prefix} = '{marker.encode().hex()}'")[0]["n"])


def table_files(server: ModernClickHouse) -> list[Path]:
    """Every file of the table's data, from the paths the server reports."""
    with Session(HOST, server.native_tls, "admin", PASSWORDS["CH_ADMIN_PASSWORD"], server.ca) as owner:
        (row,) = owner.rows(f"SELECT data_paths FROM system.tables WHERE database || '.' || name = '{TABLE}'")
    files = [path for data_path in row["data_paths"] for path in Path(data_path).rglob("*") if path.is_file()]
    assert files, row
    return files


def files_holding(root: Path, needle: bytes) -> list[Path]:
    """Files under root that contain needle, read with a total bound."""
    found, budget = [], READ_LIMIT
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        size = path.stat().st_size
        budget -= size
        assert budget >= 0, "the data directory is larger than this test reads"
        if needle in path.read_bytes():
            found.append(path)
    return found


def test_encrypted_log_rows_leave_no_plaintext_on_disk_and_survive_a_restart(tmp_path: Path) -> None:
    marker = "hh-plain-" + secrets.token_hex(8)
    with provisioned(tmp_path, encryption=True) as (_, server, environ):
        write_marked_rows(server, marker)
        assert marked_rows(server, marker) == ROWS
        files = table_files(server)
        assert all(str(path).startswith(str(server.data / "hardhouse" / "logs")) for path in files)
        not_encrypted = [p.relative_to(server.data) for p in files if p.read_bytes()[:3] != ENCRYPTED_MAGIC]
        assert not_encrypted == []
        assert files_holding(server.data, marker.encode()) == []
        server.stop()
        server.start(environ=environ)
        assert marked_rows(server, marker) == ROWS
        assert files_holding(server.data, marker.encode()) == []


def test_without_encryption_the_same_rows_are_found_on_disk(tmp_path: Path) -> None:
    """The negative control: the proof above would fail if the table were not encrypted."""
    marker = "hh-plain-" + secrets.token_hex(8)
    with provisioned(tmp_path, encryption=False) as (_, server, _):
        write_marked_rows(server, marker)
        assert marked_rows(server, marker) == ROWS
        assert any(p.read_bytes()[:3] != ENCRYPTED_MAGIC for p in table_files(server))
        assert files_holding(server.data, marker.encode()) != []
