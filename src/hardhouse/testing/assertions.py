"""Assertions a team can call in its own tests against a running ClickHouse.

Each one looks from the network, the way an attacker would, and fails with a message that
says exactly what was reachable. A `Target` is an address, the TCP ports it listens on, and
optionally the CA that signed its certificate.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from clickhouse_driver.errors import Error as DriverError
from clickhouse_driver.errors import ServerException

from hardhouse.clients import http_query, native_query, tls_handshake

OLD_TLS = {"TLSv1.0": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}
# CBC suites without forward-secret AEAD: a hardened server refuses them when offered alone.
WEAK_SUITES = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA:DES-CBC3-SHA"


@dataclass(frozen=True)
class Target:
    address: str
    ports: tuple[int, ...]
    ca: Path | None = None
    min_tls: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    credentials: tuple[tuple[str, str], ...] = field(default=(("default", ""),))


def speaks_tls(address: str, port: int) -> bool:
    return tls_handshake(address, port, version=ssl.TLSVersion.TLSv1_2) is not None or tls_handshake(address, port, version=ssl.TLSVersion.TLSv1_3) is not None


def anonymous_sessions(address: str, port: int, ca: Path | None, credentials: Iterable[tuple[str, str]]) -> list[str]:
    """What an anonymous client gets on one port, over every protocol ClickHouse speaks there."""
    tls = speaks_tls(address, port)
    found = []
    speaks_http = False
    # HTTP: no credentials at all, then each default credential.
    for user, password in [(None, None), *credentials]:
        try:
            answer = http_query(address, port, "SELECT 1", user=user, password=password, tls=tls, ca=None, timeout=5)
        except (OSError, http.client.HTTPException):
            break  # not HTTP
        speaks_http = True
        if answer.status == 200 and answer.body.strip() == "1":
            who = "no credentials" if user is None else f"user {user!r} with {'an empty password' if not password else 'a default password'}"
            found.append(f"{address}:{port} ({'https' if tls else 'http'}): SELECT 1 answered for {who}")
    if speaks_http:
        return found  # an HTTP server would only wait out a native Hello
    for user, password in credentials:
        try:
            native_query(address, port, "SELECT 1", user=user, password=password, tls=tls, timeout=5)
        except (ServerException, DriverError, OSError, EOFError):
            continue
        found.append(f"{address}:{port} ({'native over TLS' if tls else 'native'}): SELECT 1 answered for user {user!r} with {'an empty password' if not password else 'a default password'}")
    return found


def assert_anonymous_refused(target: Target) -> None:
    """No port lets a client in without a password (or with a stock default credential)."""
    exposures = [line for port in target.ports for line in anonymous_sessions(target.address, port, target.ca, target.credentials)]
    if exposures:
        raise AssertionError("anonymous access is possible:\n  " + "\n  ".join(exposures))


def assert_tls_only(target: Target) -> None:
    """Every open port speaks TLS, refuses versions below the minimum and weak suites."""
    problems = []
    for port in target.ports:
        if not speaks_tls(target.address, port):
            problems.append(f"{target.address}:{port} accepts connections without TLS")
            continue
        for version in (*OLD_TLS.values(), ssl.TLSVersion.TLSv1_2):
            if version >= target.min_tls:
                continue
            negotiated = tls_handshake(target.address, port, version=version)
            if negotiated:
                problems.append(f"{target.address}:{port} negotiated {negotiated} (minimum is {target.min_tls.name})")
        if target.min_tls <= ssl.TLSVersion.TLSv1_2:
            weak = tls_handshake(target.address, port, version=ssl.TLSVersion.TLSv1_2, ciphers=WEAK_SUITES)
            if weak:
                problems.append(f"{target.address}:{port} accepted a weak (CBC, non-AEAD) cipher suite over {weak}")
    if problems:
        raise AssertionError("TLS is not enforced:\n  " + "\n  ".join(problems))
