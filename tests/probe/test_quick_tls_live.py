"""The quick TLS posture (versions and weak suites found by handshakes, for the deploy's
verification and the pytest assertions) against Debian's live 18.16: a hardened server refuses
SSL 2.0 through TLS 1.1 and every weak suite on both TLS ports, a weakened one (TLS 1.0/1.1 and
every suite allowed again) is caught, and on both the answer equals what the probe's full
sslyze enumeration finds."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.ca import write_server_material
from hardhouse.probe.scanner import tls_posture
from hardhouse.probe.tls import old_versions_accepted, quick_postures
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.testing.local_server import LocalClickHouse, free_port, server_binary
from tests.helpers import require, weaken
from tests.render.test_live_18_16 import SERVE, spec_for

pytestmark = [pytest.mark.integration, pytest.mark.live]


def _server(workdir: Path, weakened: bool) -> Iterator[tuple[int, int, Path]]:
    require(server_binary() is not None, "Debian's clickhouse-server is not installed")
    tls = write_server_material(workdir / "tls", [SERVE])
    https, native_tls = free_port(SERVE), free_port(SERVE)
    environ = {name: secrets.token_urlsafe(24) for name in ("HH_ADMIN", "HH_INGEST", "HH_ANALYST")}
    files = render(load_spec(spec_for(tls, https, native_tls)), environ)
    server = LocalClickHouse(workdir)
    server.install(weaken(files) if weakened else files)
    server.start([(SERVE, https), (SERVE, native_tls)])
    with server:
        yield https, native_tls, tls.ca_certificate


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    yield from _server(tmp_path_factory.mktemp("tls-hardened"), weakened=False)


@pytest.fixture(scope="module")
def weakened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    yield from _server(tmp_path_factory.mktemp("tls-weakened"), weakened=True)


def test_a_hardened_server_refuses_every_deprecated_version_on_both_tls_ports(
    hardened: tuple[int, int, Path],
) -> None:
    https, native_tls, _ = hardened
    assert old_versions_accepted(SERVE, [https, native_tls]) == {https: [], native_tls: []}


@pytest.mark.parametrize("server", ["hardened", "weakened"])
def test_the_quick_posture_agrees_with_the_full_scan(server: str, request: pytest.FixtureRequest) -> None:
    https, native_tls, ca = request.getfixturevalue(server)
    quick = quick_postures(SERVE, [https, native_tls])
    for port in (https, native_tls):
        full = tls_posture(SERVE, port, ca=ca)
        assert full.error is None and quick[port].error is None, (full.error, quick[port].error)
        assert quick[port].accepted_versions == full.accepted_versions
        # Weakened: TLS 1.0 to 1.3 and 32 weak suites on 18.16 with OpenSSL 3, found by elimination.
        assert sorted(quick[port].weak_suites) == sorted(full.weak_suites)
        if server == "weakened":
            assert {"TLSv1.0", "TLSv1.1"} <= set(quick[port].accepted_versions) and quick[port].weak_suites
        else:
            assert quick[port].accepted_versions == ["TLSv1.2", "TLSv1.3"] and quick[port].weak_suites == []


def test_a_weakened_server_is_caught_by_the_verifications_old_version_check(
    weakened: tuple[int, int, Path],
) -> None:
    https, native_tls, _ = weakened
    quick = old_versions_accepted(SERVE, [https, native_tls])
    for port in (https, native_tls):
        assert isinstance(quick[port], list) and {"TLSv1.0", "TLSv1.1"} <= set(quick[port]), quick


def test_a_port_that_does_not_answer_proves_nothing(hardened: tuple[int, int, Path]) -> None:
    https, _, _ = hardened
    closed = free_port(SERVE)
    answer = old_versions_accepted(SERVE, [https, closed], timeout=2)
    assert answer[https] == []
    assert isinstance(answer[closed], str) and "failed" in answer[closed]
