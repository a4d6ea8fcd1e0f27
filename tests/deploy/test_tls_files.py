"""The TLS files the deploy ships from the deploy machine (hardhouse_tls_files) are read bounded:
a regular file of at most TLS_FILE_MAX bytes; a FIFO, a device, a directory or a huge file fails
the host naming the field and the fix, never hangs or fills memory."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pyinfra.context import ctx_host

from hardhouse.deploy.settings import DATA_DEFAULTS, HardhouseDeployError, read_settings
from hardhouse.deploy.tls import TLS_FILE_MAX, tls_material
from tests.helpers import VALID_SPEC

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def material(paths: dict[str, str]) -> dict[str, bytes]:
    data: dict[str, Any] = {**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC}
    data.update(hardhouse_tls_source="files", hardhouse_tls_files=paths)
    with ctx_host.use(SimpleNamespace(name="db1")):
        pems, _ = tls_material(read_settings(data), data)
    return pems


def files(tmp_path: Path) -> dict[str, str]:
    found = {}
    for kind in ("certificate", "private_key", "ca_certificate"):
        path = tmp_path / f"{kind}.pem"
        path.write_bytes(PEM)
        found[kind] = str(path)
    return found


def test_regular_pem_files_are_read(tmp_path: Path) -> None:
    pems = material(files(tmp_path))
    assert pems["certificate"] == PEM and pems["private_key"] == PEM


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "huge", "missing"])
def test_a_file_that_is_not_a_pem_file_fails_the_host_naming_the_field(tmp_path: Path, kind: str) -> None:
    paths = files(tmp_path)
    target = tmp_path / "odd"
    if kind == "fifo":
        os.mkfifo(target)  # no writer: a plain read would block for ever
    elif kind == "device":
        target = Path("/dev/zero")  # endless: a plain read would fill memory
    elif kind == "directory":
        target.mkdir()
    elif kind == "huge":
        target.write_bytes(b"A" * (TLS_FILE_MAX + 1))
    paths["certificate"] = str(target)
    with pytest.raises(HardhouseDeployError) as failed:
        material(paths)
    message = str(failed.value)
    assert "hardhouse_tls_files.certificate" in message and "Fix:" in message and str(target) in message
