"""The probe and the deploy's anonymous check against modern ClickHouse on the network
(hardhouse.testing.ModernClickHouse, 26.9): an authenticated login refused only by the user's
session limit (700) is named and judged as the open door it is, never as a refusal. The fixture
keeps a passwordless `default` whose one session slot its own process holds, which is exactly
that server."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from hardhouse.cli.probe import probe_command
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.testing.modern_server import HOST, ModernClickHouse
from hardhouse.verify.checks import outside_checks
from tests.provision.scenarios import modern_spec

pytestmark = [pytest.mark.integration, pytest.mark.chdb]

PASSWORDS = {
    name: secrets.token_urlsafe(24) for name in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD", "CH_ADMIN_PASSWORD")
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModernClickHouse]:
    modern = ModernClickHouse(tmp_path_factory.mktemp("probe-modern"))
    modern.install(render(load_spec(modern_spec("26.9")), environ=PASSWORDS))
    modern.start()
    try:
        yield modern
    finally:
        modern.stop()


def test_the_probe_names_700_as_an_accepted_password_and_fails(server: ModernClickHouse) -> None:
    result = CliRunner().invoke(
        probe_command, ["--no-progress", "--no-tls-scan", "--json", f"{HOST}:{server.native}", f"{HOST}:{server.http}"]
    )
    assert result.exit_code == 1, result.output
    findings = [f for e in json.loads(result.output)["endpoints"] for f in e["findings"]]
    anonymous = [f for f in findings if f["rule"] == "anonymous-access"]
    assert anonymous, findings
    assert all("700 USER_SESSION_LIMIT_EXCEEDED" in f["message"] for f in anonymous), anonymous


def test_the_deploys_anonymous_check_fails_on_700_and_says_why(server: ModernClickHouse) -> None:
    (check,) = [c for c in outside_checks(HOST, {"native": server.native}) if c.check == "anonymous refused"]
    assert not check.ok
    assert "the password was accepted" in check.detail and "700" in check.detail
