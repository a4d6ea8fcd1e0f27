"""The small CA of hardhouse.ca, kept on disk: one CA per directory, one server certificate
per host, issued again only when it no longer fits (an address it lacks, or close to expiry).

Layout of a CA directory (the deploy machine's, never a ClickHouse host's):

    ca.crt, ca.key              the CA (key 0600)
    hosts/NAME/server.crt       a server certificate for host NAME
    hosts/NAME/server.key       its key (0600)

Re-using what fits keeps deploys idempotent: the same host gets the same certificate on
every run, so a re-run changes nothing on the server.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hardhouse.ca.issue import Issued, issue_ca, issue_leaf

# A certificate this close to its end is issued again (VALIDITY in hardhouse.ca is 30 days).
RENEW_BEFORE = datetime.timedelta(days=7)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


class CaError(ValueError):
    """A CA directory or host name that cannot be used (the message says why and the fix)."""


@dataclass(frozen=True)
class ServerMaterial:
    """PEM bytes for one server: what a deploy ships (the key is a secret: no repr)."""

    certificate: bytes
    private_key: bytes
    ca_certificate: bytes
    ca_path: Path  # the CA certificate on the deploy machine, for verifying the server

    def __repr__(self) -> str:
        return f"ServerMaterial(ca_path={self.ca_path})"


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write via a temporary file created with the final mode, then rename (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load(cert_path: Path, key_path: Path) -> Issued:
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError(
            f"{key_path} is not an EC key made by hardhouse ca; remove the directory and run `hardhouse ca init` again"
        )
    return Issued(certificate, key)


def ensure_ca(directory: Path) -> Issued:
    """The CA in directory, created on first use."""
    directory = Path(directory)
    with _locked(directory):
        cert_path, key_path = directory / "ca.crt", directory / "ca.key"
        if cert_path.exists() and key_path.exists():
            return _load(cert_path, key_path)
        ca = issue_ca()
        _write(key_path, ca.key_pem, 0o600)
        _write(cert_path, ca.cert_pem, 0o644)
        return ca


def _sans(certificate: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    addresses = {str(a) for a in extension.get_values_for_type(x509.IPAddress)}
    names = set(extension.get_values_for_type(x509.DNSName))
    return addresses, names


def _fits(leaf: Issued, ca: Issued, addresses: set[str], dns_names: set[str]) -> bool:
    if leaf.certificate.issuer != ca.certificate.subject:
        return False
    if leaf.certificate.not_valid_after_utc - RENEW_BEFORE < datetime.datetime.now(datetime.UTC):
        return False
    # A certificate that still covers every address clients use is kept, so a change that
    # was rolled back (or an address dropped) does not churn the certificate.
    have_addresses, have_names = _sans(leaf.certificate)
    return addresses <= have_addresses and dns_names <= have_names


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise CaError(f"{name!r} cannot name a certificate directory; use letters, digits, '.', '_', '@' or '-'")
    return name


def ensure_server(
    directory: Path, name: str, addresses: Sequence[str] = (), dns_names: Sequence[str] = ()
) -> ServerMaterial:
    """A server certificate for host `name` covering these SANs; issued only when the
    stored one is missing, from another CA, misses an address or name, or nears expiry."""
    directory = Path(directory)
    check_name(name)
    wanted_addresses = {str(ipaddress.ip_address(a)) for a in addresses}
    wanted_names = set(dns_names)
    if not wanted_addresses and not wanted_names:
        raise CaError(f"a server certificate for {name} needs at least one IP address or DNS name")
    ca = ensure_ca(directory)
    host_dir = directory / "hosts" / name
    cert_path, key_path = host_dir / "server.crt", host_dir / "server.key"
    with _locked(directory):
        leaf = _load(cert_path, key_path) if cert_path.exists() and key_path.exists() else None
        if leaf is None or not _fits(leaf, ca, wanted_addresses, wanted_names):
            leaf = issue_leaf(ca, name, sorted(wanted_addresses), sorted(wanted_names))
            _write(key_path, leaf.key_pem, 0o600)
            _write(cert_path, leaf.cert_pem, 0o644)
    return ServerMaterial(leaf.cert_pem, leaf.key_pem, ca.cert_pem, directory / "ca.crt")


@dataclass(frozen=True)
class CertificateSummary:
    path: Path
    subject: str
    issuer: str
    not_after: datetime.datetime
    addresses: list[str]
    dns_names: list[str]

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after.isoformat(),
            "addresses": self.addresses,
            "dns_names": self.dns_names,
        }


def summarize(path: Path) -> CertificateSummary:
    certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    addresses, names = _sans(certificate)
    return CertificateSummary(
        Path(path),
        certificate.subject.rfc4514_string(),
        certificate.issuer.rfc4514_string(),
        certificate.not_valid_after_utc,
        sorted(addresses),
        sorted(names),
    )


def list_certificates(directory: Path) -> list[CertificateSummary]:
    directory = Path(directory)
    found = [directory / "ca.crt"] if (directory / "ca.crt").exists() else []
    found += sorted((directory / "hosts").glob("*/server.crt"))
    return [summarize(path) for path in found]
