"""The deploy verification's quick TLS check (one handshake per deprecated version) against
Debian's live 18.16: a hardened server refuses SSL 2.0 through TLS 1.1 on both TLS ports, a
weakened one (TLS 1.0/1.1 and every suite allowed again) is caught, and on both the answer
equals what the probe's full sslyze enumeration finds for those versions."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.ca import write_server_material
from hardhouse.clickhouse.tls import OLD_LABELS
from hardhouse.probe.tls import old_versions_accepted, tls_posture
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


def test_a_weakened_server_is_caught_and_the_quick_check_agrees_with_the_full_scan(
    weakened: tuple[int, int, Path],
) -> None:
    https, native_tls, ca = weakened
    quick = old_versions_accepted(SERVE, [https, native_tls])
    for port in (https, native_tls):
        assert isinstance(quick[port], list) and {"TLSv1.0", "TLSv1.1"} <= set(quick[port]), quick
        full = tls_posture(SERVE, port, ca=ca)
        assert full.error is None
        assert quick[port] == [label for label in OLD_LABELS if label in full.accepted_versions]


def test_a_port_that_does_not_answer_proves_nothing(hardened: tuple[int, int, Path]) -> None:
    https, _, _ = hardened
    closed = free_port(SERVE)
    answer = old_versions_accepted(SERVE, [https, closed], timeout=2)
    assert answer[https] == []
    assert isinstance(answer[closed], str) and "failed" in answer[closed]
