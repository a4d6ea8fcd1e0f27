"""TLS protocol names as ClickHouse's openSSL section and scanners spell them, the suites
hardhouse allows, and what makes a negotiated suite weak."""

from __future__ import annotations

# openSSL/server/disableProtocols names, oldest first.
OPENSSL_PROTOCOLS = ("sslv2", "sslv3", "tlsv1", "tlsv1_1", "tlsv1_2", "tlsv1_3")
# Scanner labels (sslyze, ssl.SSLSocket.version()), oldest first.
LABELS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
LABEL_OF = dict(zip(OPENSSL_PROTOCOLS, LABELS, strict=True))
# Broken or deprecated (RFC 8996): never acceptable on a hardened port.
OLD_LABELS = LABELS[:4]

# Forward-secret AEAD suites for TLS 1.2; TLS 1.3 suites are all strong.
STRONG_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
)


def disabled_protocols(min_protocol: str) -> str:
    """disableProtocols for a minimum (openSSL name): every older protocol."""
    return ",".join(OPENSSL_PROTOCOLS[: OPENSSL_PROTOCOLS.index(min_protocol)])


def labels_below(min_label: str) -> tuple[str, ...]:
    return LABELS[: LABELS.index(min_label)]


def weak_suite_reason(suite: str, version: str) -> str | None:
    """Why a negotiated suite (RFC name) is weak; TLS 1.3 suites are all strong."""
    if version == "TLSv1.3":
        return None
    name = suite.upper()
    for marker, reason in (
        ("NULL", "no encryption"),
        ("_ANON_", "no authentication"),
        ("EXPORT", "export grade"),
        ("RC4", "RC4"),
        ("RC2", "RC2"),
        ("_DES_", "DES"),
        ("3DES", "3DES"),
        ("DES_192", "3DES"),
        ("IDEA", "IDEA"),
        ("MD5", "MD5"),
    ):
        if marker in name:
            return reason
    if "ECDHE" not in name and "DHE" not in name:
        return "no forward secrecy"
    if not any(aead in name for aead in ("GCM", "CHACHA20", "CCM")):
        return "CBC mode, not AEAD"
    return None
