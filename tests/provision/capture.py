"""Record what real servers answer to the provisioning's state queries, for the unit tests.

    python -m tests.provision.capture      # rewrites tests/provision/states.json

Each scenario of tests/provision/scenarios.py is set up on Debian's live ClickHouse 18.16
(LocalClickHouse, over native TLS as the owner) and in the embedded 26.9 engine (chdb-core,
as the owner), and the rows of hardhouse.provision.state_queries are kept as they came. The
integration tests (test_live_18_16.py, test_embedded_26_9.py) capture again and compare with
the file, so the unit tests never plan against an invented shape.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.clickhouse.native import Session
from hardhouse.clickhouse.versions import Version
from hardhouse.provision.state import server_version, state_queries
from hardhouse.render import render
from hardhouse.spec import load_spec
from tests.provision.scenarios import LEGACY_ADDRESS, LEGACY_SCENARIOS, MODERN_SCENARIOS, legacy_spec, modern_spec

STATES = Path(__file__).with_name("states.json")
LEGACY, MODERN = "live 18.16", "embedded 26.9"
VERSION_QUERY = "SELECT version() AS version"


@dataclass
class LiveServer:
    """Debian's 18.16 running the legacy spec, and the secrets to use it."""

    native_tls: int
    https: int
    tls: TlsFiles
    environ: dict[str, str]
    data: Path  # the server's data directory (what reached the disk)

    def session(self, user: str) -> Session:
        return Session(
            LEGACY_ADDRESS, self.native_tls, user, self.environ[f"HH_{user.upper()}"], self.tls.ca_certificate
        )

    @property
    def spec(self) -> dict[str, Any]:
        return legacy_spec(self.https, self.native_tls, str(self.tls.certificate.parent))


@contextmanager
def live_server(work: Path) -> Iterator[LiveServer]:
    from hardhouse.testing.local_server import LocalClickHouse, free_port

    tls = write_server_material(work / "tls", [LEGACY_ADDRESS])
    https, native_tls = free_port(LEGACY_ADDRESS), free_port(LEGACY_ADDRESS)
    environ = {f"HH_{name.upper()}": secrets.token_urlsafe(24) for name in ("admin", "analyst", "app")}
    local = LocalClickHouse(work)
    server = LiveServer(native_tls, https, tls, environ, local.data)
    local.install(render(load_spec(server.spec), environ))
    local.start([(LEGACY_ADDRESS, native_tls)])
    try:
        yield server
    finally:
        local.stop()


def read_rows(session: Session) -> dict[str, Any]:
    version = session.rows(VERSION_QUERY)[0]["version"]
    queries = state_queries(["logs"], server_version(version))
    return {"version": version, **{name: session.rows(query) for name, query in queries.items()}}


def capture_live(server: LiveServer) -> dict[str, Any]:
    scenarios = {}
    with server.session("admin") as session:
        for name, ddl in LEGACY_SCENARIOS.items():
            session.execute("DROP DATABASE IF EXISTS logs")
            for statement in ddl:
                session.execute(statement)
            scenarios[name] = read_rows(session)
        session.execute("DROP DATABASE IF EXISTS logs")
    return scenarios


MODERN_ENVIRON = {
    "CH_INGEST_PASSWORD": secrets.token_urlsafe(24),
    "CH_ANALYST_PASSWORD": secrets.token_urlsafe(24),
    "CH_ADMIN_PASSWORD": secrets.token_urlsafe(24),
}


def embedded_rows(setup: list[str], queries: list[str] | None = None, data_dir: Path | None = None) -> dict[str, Any]:
    """The state rows as the owner sees them in the embedded engine after `setup` (run first,
    as the harness's inspector); `queries` run as the owner before the rows are read, their
    rows under "answers"."""
    from hardhouse.embedded import run_as

    files = render(load_spec(modern_spec(encryption={"key_env": "CH_LOGS_KEY"})), MODERN_ENVIRON)
    names = state_queries(["logs"], Version(26, 9))
    queries = list(queries or [])
    report = run_as(
        files, "admin", [*queries, VERSION_QUERY, *names.values()], setup=setup, apply_sql=False, data_dir=data_dir
    )
    if report.errors or not report.logged_in:
        raise RuntimeError(f"the embedded engine failed: {report.errors or report.login}")
    failed = [o for o in report.outcomes if not o.ok]
    if failed:
        raise RuntimeError("; ".join(f"{o.query}: {o.message}" for o in failed))
    outcomes = report.outcomes[len(queries) :]
    rows = {"version": outcomes[0].rows[0]["version"], **{n: o.rows for n, o in zip(names, outcomes[1:], strict=True)}}
    if queries:
        rows["answers"] = [o.rows for o in report.outcomes[: len(queries)]]
    return rows


def capture_embedded() -> dict[str, Any]:
    return {name: embedded_rows(ddl) for name, ddl in MODERN_SCENARIOS.items()}


def load_states() -> dict[str, Any]:
    return json.loads(STATES.read_text())  # type: ignore[no-any-return]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hardhouse-capture-") as work, live_server(Path(work)) as server:
        legacy = capture_live(server)
    states = {LEGACY: legacy, MODERN: capture_embedded()}
    STATES.write_text(json.dumps(states, indent=1, sort_keys=True) + "\n")
    print(f"wrote {STATES}")


if __name__ == "__main__":
    main()
