"""hardhouse.verifying_tls.verifying_context: one TLS context per CA file's content, shared by
a proof's connections (the logins, the native sessions, the certificate check), never trusting
more than the file says now. Real handshakes with a local TLS server whose certificate names
127.0.0.1 and is signed by its own CA."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardhouse.ca import TlsFiles, write_server_material
from hardhouse.clickhouse.native import Session, Unreachable
from hardhouse.verifying_tls import verifying_context
from tests.helpers import TlsServer, outcome_within

HOST = "127.0.0.1"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TlsFiles, TlsServer]]:
    material = write_server_material(tmp_path / "served", [HOST])
    server = TlsServer(material.certificate, material.private_key, read=True)
    yield material, server
    server.close()


def handshake(context: ssl.SSLContext, port: int, name: str = HOST) -> str | None:
    with socket.create_connection((HOST, port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            return tls.version()


def test_one_context_per_ca_content_and_it_verifies(served: tuple[TlsFiles, TlsServer]) -> None:
    material, server = served
    context = verifying_context(material.ca_certificate)
    assert verifying_context(material.ca_certificate) is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert handshake(context, server.port) in ("TLSv1.2", "TLSv1.3")


def test_a_certificate_naming_another_address_is_refused(served: tuple[TlsFiles, TlsServer]) -> None:
    material, server = served
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(verifying_context(material.ca_certificate), server.port, name="127.0.0.2")


def test_a_ca_replaced_at_the_same_path_is_the_one_trusted_next(
    served: tuple[TlsFiles, TlsServer], tmp_path: Path
) -> None:
    material, server = served
    named = tmp_path / "ca.pem"
    shutil.copyfile(material.ca_certificate, named)
    trusted = verifying_context(named)
    assert handshake(trusted, server.port)
    # Rewritten in place, at once: the same path and inode, and likely the same size and
    # modification time (the kernel's clock for it is coarse).
    named.write_bytes(write_server_material(tmp_path / "other", [HOST]).ca_certificate.read_bytes())
    replaced = verifying_context(named)
    assert replaced is not trusted
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(replaced, server.port)


def test_a_native_session_checks_the_ca_file_as_it_is_now(served: tuple[TlsFiles, TlsServer], tmp_path: Path) -> None:
    """The deploy's sessions share the context: after the CA file changed, the server gets
    nothing from the next session (the handshake fails before the Hello, which would carry the
    password)."""
    material, server = served
    named = tmp_path / "ca.pem"
    shutil.copyfile(material.ca_certificate, named)
    verifying_context(named)  # kept for the file as it was
    named.write_bytes(write_server_material(tmp_path / "other", [HOST]).ca_certificate.read_bytes())
    with pytest.raises(Unreachable, match="certificate verify failed"):
        with Session(HOST, server.port, "ingest", secrets.token_urlsafe(16), named) as session:
            session.rows("SELECT 1")
    assert server.received == 0


def test_a_missing_ca_file_fails_as_before(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        verifying_context(tmp_path / "absent.pem")


def test_a_ca_path_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """OpenSSL would wait for a writer for ever; the connection fails instead, naming why."""
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    refused = outcome_within(lambda: verifying_context(fifo))
    assert isinstance(refused, OSError)
    assert "FIFO" in str(refused) and "not a regular file" in str(refused)
