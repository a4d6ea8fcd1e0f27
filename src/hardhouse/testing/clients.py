"""Real clients for tests: HTTP(S) over http.client, native over clickhouse-driver, raw TLS
handshakes over ssl, and the listening sockets of a server process read from /proc.

Each talks to whatever address it is given; tests give only loopback addresses or
containers they created.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path

from hardhouse.clickhouse.codes import code_in
from hardhouse.probe.transport import tls_context
from hardhouse.probe.wire.http import basic_auth


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str

    @property
    def error_code(self) -> int | None:
        return code_in(self.body)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_query(
    host: str,
    port: int,
    query: str,
    *,
    user: str | None = None,
    password: str | None = None,
    tls: bool = False,
    ca: Path | None = None,
    source: str | None = None,
    timeout: float = 10.0,
) -> HttpAnswer:
    """POST a query; user=None sends no credentials at all (what an anonymous scanner does)."""
    source_address = (source, 0) if source else None
    connection: http.client.HTTPConnection
    if tls:
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=tls_context(ca), source_address=source_address
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout, source_address=source_address)
    headers = {}
    if user is not None:
        headers["Authorization"] = basic_auth(user, password or "")
    try:
        connection.request("POST", "/?" + urllib.parse.urlencode({"query": query}), headers=headers)
        response = connection.getresponse()
        return HttpAnswer(response.status, response.read().decode(errors="replace"))
    finally:
        connection.close()


def native_client(
    host: str,
    port: int,
    *,
    user: str = "default",
    password: str = "",
    tls: bool = False,
    ca: Path | None = None,
    timeout: float = 10.0,
):  # type: ignore[no-untyped-def]
    from hardhouse.clickhouse.driver import Client  # imported late so the core package stays light

    options: dict[str, object] = {}
    if tls:
        options.update(secure=True, verify=ca is not None)
        if ca is not None:
            options["ca_certs"] = str(ca)
    return Client(
        host, port=port, user=user, password=password, connect_timeout=timeout, send_receive_timeout=timeout, **options
    )


def native_query(host: str, port: int, query: str, **kwargs: object) -> list[tuple]:  # type: ignore[type-arg]
    client = native_client(host, port, **kwargs)  # type: ignore[arg-type]
    try:
        return client.execute(query)  # type: ignore[no-any-return]
    finally:
        client.disconnect()


def tls_handshake(
    host: str,
    port: int,
    *,
    version: ssl.TLSVersion,
    ciphers: str | None = None,
    timeout: float = 5.0,
) -> str | None:
    """Try one TLS version (and optionally only some suites); return the negotiated version or None.

    The client is deliberately permissive (security level 0) so that a refusal comes from the
    server's policy, not from the local OpenSSL's defaults.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        # Python deprecates TLS 1.0/1.1; offering them is the point of this probe.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    context.set_ciphers(f"{ciphers or 'ALL'}:@SECLEVEL=0")
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw) as tls:
                return tls.version()
    except (TimeoutError, ssl.SSLError, ConnectionError):
        return None


def _proc_address(text: str) -> tuple[str, int]:
    hex_ip, hex_port = text.split(":")
    raw = bytes.fromhex(hex_ip)
    # /proc/net/tcp{,6} stores each 32-bit word in host (little-endian) order.
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address), int(hex_port, 16)


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """Every TCP (address, port) the process listens on, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    tables = [Path(f"/proc/{pid}/net/{name}") for name in ("tcp", "tcp6")]
    return parse_listening("\n".join(t.read_text() for t in tables if t.exists()), inodes)


def parse_listening(proc_net_tcp: str, inodes: set[str] | None = None) -> set[tuple[str, int]]:
    """LISTEN sockets in the text of /proc/net/tcp{,6}, optionally only those with given inodes."""
    found = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[3] != "0A":  # 0A = LISTEN; also skips the header lines
            continue
        if inodes is None or fields[9] in inodes:
            found.add(_proc_address(fields[1]))
    return found
