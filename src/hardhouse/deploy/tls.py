"""Where the TLS material comes from: local files, or the sandbox CA (hardhouse.ca)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pyinfra import host

from hardhouse.bounded_file import FileRefused, read_bounded
from hardhouse.ca.store import CaError, ensure_server
from hardhouse.deploy.settings import Settings, _fail

# A PEM certificate chain or key is kilobytes; a file this large is not one (or not the one meant).
TLS_FILE_MAX = 1024 * 1024


def tls_material(settings: Settings, data: Any) -> tuple[dict[str, bytes], Path | None]:
    """PEM bytes by kind (certificate, private_key, ca_certificate) and the local CA that
    verifies the server, read or issued on the deploy machine."""
    spec = settings.spec
    if spec.tls is None or not spec.tls_ports_open():
        return {}, None
    source = data.get("hardhouse_tls_source")
    if source == "sandbox-ca":
        ca_dir = data.get("hardhouse_sandbox_ca_dir")
        if not ca_dir:
            raise _fail(
                "hardhouse_tls_source is sandbox-ca but hardhouse_sandbox_ca_dir is not set. "
                "Fix: name a directory on the deploy machine"
            )
        addresses = sorted(
            {a for a in [*spec.listen_hosts, settings.verify_address] if not ipaddress.ip_address(a).is_unspecified}
        )
        try:
            material = ensure_server(Path(ca_dir), host.name, addresses)
        except (CaError, OSError) as error:
            raise _fail(f"cannot issue a sandbox certificate: {error}") from None
        pems = {"certificate": material.certificate, "private_key": material.private_key}
        if spec.tls.ca_certificate:
            pems["ca_certificate"] = material.ca_certificate
        return pems, material.ca_path
    if source != "files":
        raise _fail(f"hardhouse_tls_source is {source!r}. Fix: use files or sandbox-ca")
    # Paths may name the host: "{host}" is replaced by its inventory name (one PKI per fleet).
    paths = {
        kind: str(value).replace("{host}", host.name)
        for kind, value in (data.get("hardhouse_tls_files") or {}).items()
        if value
    }
    wanted = ["certificate", "private_key"] + (["ca_certificate"] if spec.tls.ca_certificate else [])
    pems = {}
    for kind in wanted:
        local = paths.get(kind)
        if not local:
            raise _fail(
                f"hardhouse_tls_files.{kind} is not set. "
                f"Fix: give the local path of the {kind.replace('_', ' ')} to ship"
            )
        try:
            pems[kind] = read_bounded(Path(local).expanduser(), TLS_FILE_MAX, shown_as=local)
        except FileRefused as error:
            raise _fail(
                f"cannot read hardhouse_tls_files.{kind}: {error}. "
                f"Fix: give the local path of the PEM {kind.replace('_', ' ')} (a regular file of at most "
                f"{TLS_FILE_MAX} bytes)"
            ) from None
    verify_ca = paths.get("verify_ca")
    return pems, Path(verify_ca).expanduser() if verify_ca else None
