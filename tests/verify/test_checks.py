"""Each verification line names the registered check it is part of, and so its control: the
stock ports a spec closes are proven closed, the client ports under HH-PORT-1 and the
interserver port under HH-PORT-2, each with a check of its own. No server: reachability is
stubbed, so this runs with the fast tests."""

from __future__ import annotations

import pytest

from hardhouse.clickhouse.ports import BY_NAME
from hardhouse.spec import load_spec
from hardhouse.verify import checks
from hardhouse.verify.checks import verify_server
from tests.provision.scenarios import legacy_spec


@pytest.mark.parametrize("reachable", [False, True])
def test_closed_stock_ports_are_proven_under_their_own_control(
    monkeypatch: pytest.MonkeyPatch, reachable: bool
) -> None:
    spec = load_spec(legacy_spec())
    opened = set(spec.ports.open().values())
    # The spec's own ports are not reached, so no login runs and the TLS scan answers nothing;
    # every stock port answers `reachable`.

    async def observe(host: str, open_ports: dict[str, int], ca: object) -> tuple[dict[int, bool], dict]:
        ports = {*open_ports.values(), *checks.STOCK_PORTS.values()}
        return {port: reachable and port not in opened for port in ports}, {}

    monkeypatch.setattr(checks, "_observe", observe)
    monkeypatch.setattr(checks, "ask_old_versions", lambda host, ports: lambda: {})
    lines = {c.endpoint: c for c in verify_server("127.0.0.2", spec) if c.proves is not None}
    interserver = lines[f"127.0.0.2:{BY_NAME['interserver_http'].stock} (interserver_http)"]
    http = lines[f"127.0.0.2:{BY_NAME['http'].stock} (http)"]
    assert (interserver.check, interserver.control, interserver.ok) == (
        "interserver port closed",
        "HH-PORT-2",
        not reachable,
    )
    assert (http.check, http.control, http.ok) == ("closed", "HH-PORT-1", not reachable)
    assert interserver.as_dict()["check_id"] == "interserver port closed"
