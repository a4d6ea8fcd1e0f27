"""hardhouse.clickhouse.addresses reads numeric addresses with glibc's own getaddrinfo, never
through a replacement an event loop installs (gevent in pyinfra's process hands each call to
a thread, which made every host's audit stop halfway and wait for the others)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from hardhouse.clickhouse.addresses import try_parse


def test_a_numeric_lookup_does_not_go_through_a_patched_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    def patched(*_: object, **__: object) -> None:
        raise AssertionError("went through socket.getaddrinfo")

    monkeypatch.setattr(socket, "getaddrinfo", patched)
    assert try_parse("::1") == ipaddress.ip_address("::1")
    assert try_parse("0:0:0:0:0:ffff:7f00:1") == ipaddress.ip_address("::ffff:127.0.0.1")
    assert try_parse("db.example.invalid") is None  # a name: never resolved
