"""The sandbox CA: keep-or-reissue, key modes, and the `hardhouse ca` commands."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from hardhouse.ca import store as ca_store
from hardhouse.cli.ca import ca_group


def _sans(pem: bytes) -> set[str]:
    certificate = x509.load_pem_x509_certificate(pem)
    return {
        str(a)
        for a in certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.IPAddress
        )
    }


def test_server_certificate_is_kept_while_it_covers_the_addresses(tmp_path: Path) -> None:
    first = ca_store.ensure_server(tmp_path, "db1", ["10.0.0.5", "10.0.0.6"])
    assert ca_store.ensure_server(tmp_path, "db1", ["10.0.0.5", "10.0.0.6"]).certificate == first.certificate
    assert ca_store.ensure_server(tmp_path, "db1", ["10.0.0.5"]).certificate == first.certificate  # still covered
    wider = ca_store.ensure_server(tmp_path, "db1", ["10.0.0.5", "10.0.0.7"])
    assert wider.certificate != first.certificate and _sans(wider.certificate) == {"10.0.0.5", "10.0.0.7"}
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "hosts" / "db1" / "server.key").stat().st_mode & 0o777 == 0o600


def test_server_certificate_near_expiry_is_issued_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ca_store.ensure_server(tmp_path, "db1", ["10.0.0.5"])
    monkeypatch.setattr(ca_store, "RENEW_BEFORE", datetime.timedelta(days=365))
    assert ca_store.ensure_server(tmp_path, "db1", ["10.0.0.5"]).certificate != first.certificate


def test_ca_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(ca_group, ["init", "--dir", str(tmp_path)]).exit_code == 0
    issued = runner.invoke(ca_group, ["issue", "--dir", str(tmp_path), "--name", "db1", "--ip", "10.0.0.5", "--json"])
    assert issued.exit_code == 0 and '"private_key"' in issued.output
    listed = runner.invoke(ca_group, ["list", "--dir", str(tmp_path)])
    assert listed.exit_code == 0 and "10.0.0.5" in listed.output
    bad = runner.invoke(ca_group, ["issue", "--dir", str(tmp_path), "--name", "../x", "--ip", "10.0.0.5"])
    assert bad.exit_code == 2 and "cannot name a certificate directory" in bad.output
    none = runner.invoke(ca_group, ["issue", "--dir", str(tmp_path), "--name", "db2"])
    assert none.exit_code == 2 and "at least one IP address or DNS name" in none.output
