"""Helpers shared by the test modules."""

from __future__ import annotations

import dataclasses
import os

import pytest
from lxml import etree

from hardhouse.render import RenderedFile


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
