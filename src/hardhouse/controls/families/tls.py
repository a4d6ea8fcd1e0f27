"""The TLS clients meet on 8443 and 9440: no protocol older than 1.2, strong suites, a certificate
clients can verify."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.TLS_1,
        "TLS 1.2 or newer only",
        Severity.HIGH,
        "SSL 2.0 and 3.0 are prohibited (RFC 6176, RFC 7568), TLS 1.0 and 1.1 deprecated (RFC 8996), and "
        "all have practical attacks; a server that accepts one lets a client that still speaks it send its "
        "password over a broken channel.",
        ("RFC 8996", "RFC 7568", "RFC 6176", "RFC 9325", f"{SERVER_SETTINGS}#openssl"),
        ("tls.min_protocol",),
        templates=("tls",),
    ),
    Control(
        ControlId.TLS_2,
        "Strong cipher suites only",
        Severity.MEDIUM,
        "Suites without forward secrecy or AEAD let a recorded session be decrypted later or "
        "tampered with; ClickHouse's stock cipherList allows them.",
        ("RFC 9325", "RFC 7905"),
        ("tls.min_protocol",),
        templates=("tls",),
    ),
    Control(
        ControlId.TLS_3,
        "A certificate clients can verify",
        Severity.MEDIUM,
        "Without a certificate that validates and names the server, a client cannot tell the "
        "server from a machine in the middle, and its password goes to whoever answers.",
        ("RFC 5280", "RFC 6125", f"{DOCS}/guides/sre/configuring-ssl"),
        ("tls.certificate", "tls.private_key", "tls.ca_certificate", "tls.verify_clients"),
        templates=("tls",),
    ),
)
