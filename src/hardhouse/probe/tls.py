"""TLS posture of one port: protocol versions, cipher suites and the certificate, scanned by
sslyze (it speaks SSL 2.0 to TLS 1.3 itself, through nassl) in a worker child that the
caller's deadline can end (hardhouse.probe.worker)."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import re
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hardhouse.clickhouse.tls import OLD_LABELS, weak_suite_reason
from hardhouse.probe import text
from hardhouse.probe.model import CertificateInfo, TlsPosture
from hardhouse.probe.sslyze_load import sslyze_connections, sslyze_package
from hardhouse.probe.worker import JobFailed, JobServer, run_job, run_job_sync
from hardhouse.verifying_tls import verifying_context

# How long a whole scan may take, beyond the per-connection timeout: one handshake per
# protocol version and suite (three connections at a time) plus the certificate chain.
SCAN_DEADLINE = 60.0
QUICK_THREADS = 4  # ports one quick-posture child checks at once


async def scan_tls(
    host: str, port: int, *, ca: Path | None = None, timeout: float = 5.0, deadline: float = SCAN_DEADLINE
) -> TlsPosture:
    """Scan one TLS port; a scan that fails or overruns is a posture with an error."""
    arguments = {"host": host, "port": port, "ca": str(ca) if ca else None, "timeout": timeout}
    try:
        return TlsPosture.from_dict(await run_job("tls_posture", arguments, deadline))
    except JobFailed as error:
        return TlsPosture("sslyze", error=f"TLS scan: {error}")


def quick_postures(
    host: str,
    ports: Sequence[int],
    *,
    timeout: float = 5.0,
    deadline: float = SCAN_DEADLINE,
    gather: bool = True,
    versions: Sequence[str] | None = None,
) -> dict[int, TlsPosture]:
    """Which versions each TLS port negotiates and which weak suites it accepts, found by
    handshakes rather than by enumerating every suite (tls_quick_posture_job): what the deploy's
    verification and the pytest assertions need, in a few dozen milliseconds a port. No
    certificate details. Calls from several threads at about the same time (one per host when a
    deploy verifies a fleet) share one warm worker child: see _QuickScans. gather=False runs in a
    child of its own instead (the spare, if one is ready): for a caller that asks once (a
    test's assertion) and should leave no child behind. With `versions` (labels of
    hardhouse.clickhouse.tls.LABELS), only those versions are tried, one handshake each, and no
    weak suite is looked for: accepted_versions then says which of them the port negotiates."""
    options = {"timeout": timeout} if versions is None else {"timeout": timeout, "versions": list(versions)}
    if not gather:
        found = _QuickScans._run([[host, port] for port in ports], options, deadline)
        missing = TlsPosture("handshakes", error="TLS scan: no answer for this port")
        return {port: found.get((host, port), missing) for port in ports}
    return _QUICK_SCANS.scan(host, list(ports), options, deadline)


def old_versions_accepted(
    host: str, ports: Sequence[int], *, timeout: float = 5.0, deadline: float = SCAN_DEADLINE
) -> dict[int, list[str] | str]:
    """The deprecated versions (OLD_LABELS) each port negotiates, or why that is not known: one
    handshake per deprecated version and port (a refused one ends at the server's first answer)."""
    return ask_old_versions(host, ports, timeout=timeout, deadline=deadline)()


def ask_old_versions(
    host: str, ports: Sequence[int], *, timeout: float = 5.0, deadline: float = SCAN_DEADLINE
) -> Callable[[], dict[int, list[str] | str]]:
    """old_versions_accepted in two halves: the scan is asked for now (_QuickScans) and runs
    while the caller does other work; the returned function waits for its answer."""
    options = {"timeout": timeout, "versions": list(OLD_LABELS)}
    answer = _QUICK_SCANS.ask(host, list(ports), options, deadline)

    def old() -> dict[int, list[str] | str]:
        return {
            port: posture.error
            if posture.error
            else [label for label in posture.accepted_versions if label in OLD_LABELS]
            for port, posture in answer().items()
        }

    return old


class _QuickScans:
    """Runs the quick scans asked for in one warm server child (hardhouse.probe.worker.JobServer)
    that lives as long as this process: a scan asked for while the child is idle starts at once;
    scans asked for while it works (a fleet's hosts ask within moments of each other) wait and
    then run together, as one job. Nobody waits for company, and sslyze is loaded once."""

    def __init__(self) -> None:
        self.server = JobServer()
        self._lock = threading.Lock()
        self._queue: list[tuple[dict[str, Any], float, dict[str, Any]]] = []
        self._running = False

    def scan(self, host: str, ports: list[int], options: dict[str, Any], deadline: float) -> dict[int, TlsPosture]:
        return self.ask(host, ports, options, deadline)()

    def ask(
        self, host: str, ports: list[int], options: dict[str, Any], deadline: float
    ) -> Callable[[], dict[int, TlsPosture]]:
        """Queue the scan now; the returned function waits for its answer."""
        entry: dict[str, Any] = {"targets": [[host, port] for port in ports], "done": threading.Event(), "result": {}}
        with self._lock:
            self._queue.append((options, deadline, entry))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run_queued, daemon=True).start()

        def answer() -> dict[int, TlsPosture]:
            # It may wait for the job before its own: two deadlines at most.
            entry["done"].wait(2 * deadline + 10)
            missing = TlsPosture("handshakes", error="TLS scan: no answer for this port")
            return {port: entry["result"].get((host, port), missing) for port in ports}

        return answer

    def _run_queued(self) -> None:
        while True:
            with self._lock:
                queued, self._queue = self._queue, []
                if not queued:
                    self._running = False
                    return
            groups: dict[str, list[tuple[dict[str, Any], float, dict[str, Any]]]] = {}
            for item in queued:
                groups.setdefault(json.dumps(item[0], sort_keys=True), []).append(item)
            for group in groups.values():
                entries = [entry for _, _, entry in group]
                try:
                    found = self._run(
                        [target for entry in entries for target in entry["targets"]],
                        group[0][0],
                        max(deadline for _, deadline, _ in group),
                        self.server,
                    )
                    for entry in entries:
                        entry["result"] = found
                finally:
                    for entry in entries:
                        entry["done"].set()

    @staticmethod
    def _run(
        targets: list[list[Any]], options: dict[str, Any], deadline: float, server: JobServer | None = None
    ) -> dict[tuple[str, int], TlsPosture]:
        """One job: in `server`, or in a one-shot child (the spare, if one is ready)."""
        arguments = {"targets": targets, **options}
        try:
            if server is None:
                answer = run_job_sync("tls_quick_posture", arguments, deadline)
            else:
                answer = server.run("tls_quick_posture", arguments, deadline)
        except JobFailed as error:
            return {(host, port): TlsPosture("handshakes", error=f"TLS scan: {error}") for host, port in targets}
        return {(host, int(port)): TlsPosture.from_dict(posture) for host, port, posture in answer}


_QUICK_SCANS = _QuickScans()


def prepare_quick_scans() -> None:
    """Start the child that runs this process's quick scans now, so that it has loaded the TLS
    scanner when the first one is asked for (the deploy's helper does, as it starts)."""
    _QUICK_SCANS.server.start()


def end_quick_scans() -> None:
    """End that child (a process about to end without its interpreter's teardown)."""
    _QUICK_SCANS.server.close()


# ------------------------------------------------------------------------------ in the child


def hostname_matches(certificate: Any, host: str) -> bool | None:
    from cryptography import x509

    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return names is not None and address in names.get_values_for_type(x509.IPAddress)
    candidates = (
        names.get_values_for_type(x509.DNSName)
        if names is not None
        else [a.value for a in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    )
    host = host.lower().rstrip(".")
    for candidate in candidates:
        candidate = str(candidate).lower().rstrip(".")
        if candidate == host:
            return True
        if candidate.startswith("*.") and "." in host and host.split(".", 1)[1] == candidate[2:]:
            return True
    return False


def certificate_info(certificate: Any, host: str, trusted: bool | None, trust_detail: str) -> CertificateInfo:
    not_after = certificate.not_valid_after_utc
    not_before = certificate.not_valid_before_utc
    now = dt.datetime.now(dt.UTC)
    return CertificateInfo(
        subject=text.excerpt(certificate.subject.rfc4514_string()) or "",
        issuer=text.excerpt(certificate.issuer.rfc4514_string()) or "",
        not_after=not_after.isoformat(),
        expired=not (not_before <= now <= not_after),
        days_left=(not_after - now).days,
        self_signed=certificate.subject == certificate.issuer,
        trusted=trusted,
        trust_detail=text.excerpt(trust_detail) or "",
        hostname_match=hostname_matches(certificate, host),
    )


_OID_NAMES = {
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.19": "basicConstraints",
    "2.5.29.15": "keyUsage",
    "2.5.29.37": "extendedKeyUsage",
    "2.5.29.17": "subjectAltName",
}


def _short_validation_error(stores: Sequence[Any]) -> str:
    errors = sorted({str(s.validation_error) for s in stores if s.validation_error})
    message = (
        "; ".join(re.sub(r"\s*\(encountered processing.*", "", e, flags=re.S) for e in errors) or "does not validate"
    )
    for oid, name in _OID_NAMES.items():
        message = message.replace(oid, f"{oid} ({name})")
    return message[:200]


def _openssl_validates(host: str, port: int, ca: Path, timeout: float) -> bool:
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            verifying_context(ca).wrap_socket(raw, server_hostname=host),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def warm_up() -> None:
    """What a quick posture job loads before its first handshake, done ahead (a spare worker
    child, hardhouse.probe.worker.prewarm, runs this while it waits for its job)."""
    sslyze_connections()
    _legacy_tls12_suites()


@functools.cache
def _legacy_tls12_suites() -> frozenset[str]:
    """The TLS 1.2 suites (OpenSSL names) that sslyze offers through its legacy OpenSSL: the
    list sslyze's WorkaroundForTls12ForCipherSuites.requires_legacy_openssl reads, which it
    builds again for every suite it is asked about."""
    from nassl.legacy_ssl_client import LegacySslClient
    from nassl.ssl_client import OpenSslVerifyEnum, OpenSslVersionEnum

    client = LegacySslClient(ssl_version=OpenSslVersionEnum.TLSV1_2, ssl_verify=OpenSslVerifyEnum.NONE)
    client.set_cipher_list("ALL:COMPLEMENTOFALL")
    return frozenset(client.get_cipher_list())


def _version_commands(sslyze: Any) -> dict[str, Any]:
    """Each protocol label (hardhouse.clickhouse.tls.LABELS) with the sslyze command that tries it."""
    return {
        "SSLv2": sslyze.ScanCommand.SSL_2_0_CIPHER_SUITES,
        "SSLv3": sslyze.ScanCommand.SSL_3_0_CIPHER_SUITES,
        "TLSv1.0": sslyze.ScanCommand.TLS_1_0_CIPHER_SUITES,
        "TLSv1.1": sslyze.ScanCommand.TLS_1_1_CIPHER_SUITES,
        "TLSv1.2": sslyze.ScanCommand.TLS_1_2_CIPHER_SUITES,
        "TLSv1.3": sslyze.ScanCommand.TLS_1_3_CIPHER_SUITES,
    }


def _location(sslyze: Any, host: str, port: int, timeout: float) -> tuple[Any, Any]:
    address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    return (
        sslyze.ServerNetworkLocation(hostname=host, port=port, ip_address=address),
        sslyze.ServerNetworkConfiguration(
            tls_server_name_indication=host, network_timeout=max(1, int(timeout)), network_max_retries=1
        ),
    )


def _accepted(result: Any, command: Any) -> list[str] | None:
    attempt = getattr(result.scan_result, command.value)
    return None if attempt.result is None else [s.cipher_suite.name for s in attempt.result.accepted_cipher_suites]


def tls_quick_posture_job(
    targets: list[list[Any]], timeout: float, versions: list[str] | None = None
) -> list[list[Any]]:
    """Versions and weak suites of [host, port] targets by handshakes (blocking; in the worker
    child): [[host, port, TlsPosture as a dict], ...]. With `versions`, only those versions,
    and no weak suites.

    A version is accepted when a handshake offering every suite the client knows for it
    succeeds (for TLS 1.2 with the modern and with the legacy OpenSSL, as each knows different
    suites). Weak suites (clickhouse.tls.weak_suite_reason) are found by elimination: offer all
    weak ones, note the one the server picks, offer the rest again, until the server refuses;
    that is one handshake per weak suite it accepts plus one, where enumerating costs one per
    suite the client knows (hundreds). accepted_suites lists only what was negotiated."""

    def one(target: list[Any]) -> list[Any]:
        host, port = target
        try:
            posture = _quick_posture(host, port, timeout, versions)
        except Exception as error:  # no TCP connection, a timeout: nothing is proven
            posture = TlsPosture("handshakes", error=text.excerpt(f"TLS scan failed: {error}") or "TLS scan failed")
        return [host, port, asdict(posture)]

    # A few ports at a time: each thread reserves stack and heap under the child's memory cap.
    with ThreadPoolExecutor(max_workers=max(1, min(QUICK_THREADS, len(targets)))) as pool:
        return list(pool.map(one, targets))


def _quick_posture(host: str, port: int, timeout: float, only: list[str] | None = None) -> TlsPosture:
    sslyze = sslyze_connections()
    SslConnection, CipherSuitesRepository = sslyze.SslConnection, sslyze.CipherSuitesRepository  # noqa: N806
    tls13 = sslyze.TlsVersionEnum.TLS_1_3
    versions = {
        "SSLv2": sslyze.TlsVersionEnum.SSL_2_0,
        "SSLv3": sslyze.TlsVersionEnum.SSL_3_0,
        "TLSv1.0": sslyze.TlsVersionEnum.TLS_1_0,
        "TLSv1.1": sslyze.TlsVersionEnum.TLS_1_1,
        "TLSv1.2": sslyze.TlsVersionEnum.TLS_1_2,
        "TLSv1.3": tls13,
    }
    location, network = _location(sslyze, host, port, timeout)

    def negotiated(version: Any, legacy: bool, openssl_names: list[str]) -> str | None:
        """The suite the server picked (OpenSSL name; "" when accepted but not named), or None: refused."""
        connection = SslConnection(
            location, network, version, should_ignore_client_auth=True, should_use_legacy_openssl=legacy
        )
        if version == tls13:
            connection.ssl_client.set_ciphersuites(":".join(openssl_names))
        else:
            connection.ssl_client.set_cipher_list(":".join(openssl_names))
        try:
            connection.connect(should_retry_connection=False)
            return connection.ssl_client.get_current_cipher_name() or ""
        except (sslyze.ServerTlsConfigurationNotSupported, sslyze.ClientCertificateRequested):
            return ""  # as sslyze reads these: the server accepted, the client stopped
        except (sslyze.ServerRejectedTlsHandshake, sslyze.TlsHandshakeTimedOut):
            return None
        finally:
            connection.close()

    if only is not None:
        unknown = sorted(set(only) - versions.keys())
        if unknown:
            raise ValueError(f"unknown TLS versions {unknown}")
        versions = {label: version for label, version in versions.items() if label in only}
    posture = TlsPosture("handshakes")
    for label, version in versions.items():
        suites = sorted(CipherSuitesRepository.get_all_cipher_suites(version), key=lambda suite: suite.name)
        if version == tls13:
            groups = [(False, suites)]
        elif label == "TLSv1.2":
            legacy_names = _legacy_tls12_suites()
            legacy_only = [s for s in suites if s.openssl_name in legacy_names]
            groups = [(False, [s for s in suites if s.openssl_name not in legacy_names]), (True, legacy_only)]
        else:
            groups = [(True, suites)]
        for legacy, group in groups:
            if not group:
                continue
            first = negotiated(version, legacy, [s.openssl_name for s in group])
            if first is None:
                continue
            if label not in posture.accepted_versions:
                posture.accepted_versions.append(label)
            by_name = {s.openssl_name: s for s in group}
            if first in by_name:
                posture.accepted_suites.setdefault(label, []).append(by_name[first].name)
            candidates = [s for s in group if weak_suite_reason(s.name, label)] if only is None else []
            while candidates:
                picked = negotiated(version, legacy, [s.openssl_name for s in candidates])
                if picked is None:
                    break
                suite = next((s for s in candidates if s.openssl_name == picked), None)
                if suite is None:
                    # Accepted without a name: try the rest one by one, as an enumeration would.
                    found = [s for s in candidates if negotiated(version, legacy, [s.openssl_name]) is not None]
                else:
                    found = [suite]
                for weak in found:
                    reason = weak_suite_reason(weak.name, label)
                    posture.weak_suites.append(f"{label} {weak.name} ({reason})")
                    if weak.name not in posture.accepted_suites.get(label, []):
                        posture.accepted_suites.setdefault(label, []).append(weak.name)
                if suite is None:
                    break
                candidates.remove(suite)
    return posture


def tls_posture_job(host: str, port: int, ca: str | None, timeout: float) -> dict[str, Any]:
    """The sslyze scan itself (blocking; runs in the worker child)."""
    sslyze = sslyze_package()
    ca_path = Path(ca) if ca else None
    commands = _version_commands(sslyze)
    try:
        location, network = _location(sslyze, host, port, timeout)
    except socket.gaierror as error:
        return asdict(TlsPosture("sslyze", error=f"name does not resolve: {error}"))
    extra = (
        sslyze.ScanCommandsExtraArguments(certificate_info=sslyze.CertificateInfoExtraArgument(custom_ca_file=ca_path))
        if ca_path
        else sslyze.ScanCommandsExtraArguments()
    )
    request = sslyze.ServerScanRequest(
        server_location=location,
        network_configuration=network,
        scan_commands={*commands.values(), sslyze.ScanCommand.CERTIFICATE_INFO},
        scan_commands_extra_arguments=extra,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scanner = sslyze.Scanner(per_server_concurrent_connections_limit=3, concurrent_server_scans_limit=1)
        scanner.queue_scans([request])
        result = next(iter(scanner.get_results()))
    if result.scan_result is None:
        trace = result.connectivity_error_trace
        detail = f"{result.connectivity_status.name}: {str(trace).strip()[:200] if trace else ''}"
        return asdict(TlsPosture("sslyze", error=text.excerpt(f"TLS scan failed: {detail}")))
    posture = TlsPosture("sslyze")
    for label, command in commands.items():
        suites = _accepted(result, command)
        if suites:
            posture.accepted_versions.append(label)
            posture.accepted_suites[label] = suites
            posture.weak_suites += [f"{label} {s} ({why})" for s in suites if (why := weak_suite_reason(s, label))]
    info = result.scan_result.certificate_info
    if info.result is not None and info.result.certificate_deployments:
        deployment = info.result.certificate_deployments[0]
        leaf = deployment.received_certificate_chain[0]
        stores = deployment.path_validation_results
        if ca_path is not None:
            stores = [s for s in stores if s.trust_store.path == ca_path] or stores
        ok = [s.trust_store.name for s in stores if s.was_validation_successful]
        detail = f"validates against {', '.join(ok)}" if ok else _short_validation_error(stores)
        posture.certificate = certificate_info(leaf, host, bool(ok), detail)
        if not ok and ca_path is not None and _openssl_validates(host, port, ca_path, timeout):
            posture.certificate.trusted = True
            posture.certificate.strict_failure = detail
            posture.certificate.trust_detail = f"validates against {ca_path} with OpenSSL"
    elif info.error_reason is not None:
        posture.error = f"certificate: {info.error_reason.name}"
    return asdict(posture)
