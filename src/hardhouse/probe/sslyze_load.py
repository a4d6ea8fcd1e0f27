"""What hardhouse loads of sslyze: the whole package (the full scan), or only its TLS
connection (the quick posture), whose import costs a third as much."""

from __future__ import annotations

import importlib.util
import sys
import threading
import warnings
from types import SimpleNamespace
from typing import Any

_SSLYZE_LOCK = threading.Lock()
_SSLYZE_DEFERRED = "_hardhouse_init_deferred"  # set on sslyze's package while its __init__ has not run


def sslyze_package() -> Any:
    """The whole sslyze package (the full scan: its scanner, plugins, certificate analysis)."""
    from cryptography.utils import CryptographyDeprecationWarning

    # sslyze's bundled trust stores hold a few old certificates that cryptography warns about.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
    with _SSLYZE_LOCK:
        package = sys.modules.get("sslyze")
        if package is not None and getattr(package, _SSLYZE_DEFERRED, False):
            # sslyze_connections registered it without running its __init__: run it now, in place.
            delattr(package, _SSLYZE_DEFERRED)
            package.__spec__.loader.exec_module(package)
    import sslyze

    return sslyze


def sslyze_connections() -> SimpleNamespace:
    """What the quick posture uses of sslyze: its TLS connection and what that takes (network
    location and settings, the version enum, the suite repository, its errors), loaded without
    the package's __init__, which imports every scan plugin, the scanner and its JSON models:
    about 0.3 s of CPU in each worker child, four times what these modules and the handshakes of
    a deploy's verification need. The package is registered the way the import system registers
    one before running it; sslyze_package() runs it in place if a full scan follows in the process."""
    with _SSLYZE_LOCK:
        if "sslyze" not in sys.modules:
            spec = importlib.util.find_spec("sslyze")
            if spec is None or spec.loader is None:
                raise ImportError("sslyze is not installed")
            package = importlib.util.module_from_spec(spec)
            setattr(package, _SSLYZE_DEFERRED, True)
            sys.modules["sslyze"] = package
        from nassl.ssl_client import ClientCertificateRequested
        from sslyze.connection_helpers.tls_connection import SslConnection
        from sslyze.errors import ServerRejectedTlsHandshake, ServerTlsConfigurationNotSupported, TlsHandshakeTimedOut
        from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuitesRepository
        from sslyze.server_connectivity import TlsVersionEnum
        from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

    return SimpleNamespace(
        ClientCertificateRequested=ClientCertificateRequested,
        SslConnection=SslConnection,
        ServerRejectedTlsHandshake=ServerRejectedTlsHandshake,
        ServerTlsConfigurationNotSupported=ServerTlsConfigurationNotSupported,
        TlsHandshakeTimedOut=TlsHandshakeTimedOut,
        CipherSuitesRepository=CipherSuitesRepository,
        TlsVersionEnum=TlsVersionEnum,
        ServerNetworkConfiguration=ServerNetworkConfiguration,
        ServerNetworkLocation=ServerNetworkLocation,
    )
