"""Connections: TCP and TLS through asyncio, every read bounded in bytes and every step in time.

Nothing here blocks a thread: each connect, write and read is awaited under a deadline, so a
caller's own deadline (asyncio.wait_for) really ends the work, whatever the peer does.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hardhouse.verifying_tls import verifying_context

READ_CHUNK = 65536
# What each kind of answer may cost at most; a peer sending more is cut off there.
SMALL_ANSWER = 64 * 1024  # a ping, a login refusal, a native Hello answer
LISTING_ANSWER = 1024 * 1024  # one listing query's result


class Unreachable(Exception):
    def __init__(self, state: str, detail: str):
        super().__init__(detail)
        self.state = state
        self.detail = detail


class NotTls(Exception):
    pass


@cache
def permissive_context() -> ssl.SSLContext:
    """What a scanner offers: every version and suite, no certificate check. Never used to
    send a secret: only anonymous attempts and the public default credentials go over it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # offering TLS 1.0/1.1 is the point
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def tls_context(ca: Path | None) -> ssl.SSLContext:
    return permissive_context() if ca is None else verifying_context(ca)


async def connect(
    host: str, port: int, tls: bool, timeout: float, ca: Path | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = tls_context(ca) if tls else None
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(
                host,
                port,
                ssl=context,
                server_hostname=host if tls else None,
                limit=READ_CHUNK,
                ssl_handshake_timeout=timeout if tls else None,
            ),
            timeout,
        )
    except ConnectionRefusedError:
        raise Unreachable("closed", "connection refused") from None
    except TimeoutError:
        raise Unreachable("filtered", f"no answer within {timeout:g}s") from None
    except socket.gaierror as error:
        raise Unreachable("unreachable", f"name does not resolve: {error.strerror}") from None
    except ssl.SSLError as error:
        raise NotTls(str(error)[:200]) from None
    except OSError as error:
        if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EACCES, errno.EPERM):
            raise Unreachable("unreachable", error.strerror or str(error)) from None
        if tls:
            raise NotTls(f"{type(error).__name__}: {error}"[:200]) from None
        raise Unreachable("error", f"{type(error).__name__}: {error}"[:200]) from None


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (Exception, asyncio.CancelledError):  # closing a half-dead TLS session may fail; it is closed anyway
        pass


@dataclass
class Exchange:
    data: bytes
    eof: bool  # the server closed the connection
    truncated: bool = False  # the server had more to say than `limit` bytes


async def exchange(
    host: str,
    port: int,
    payload: bytes,
    *,
    tls: bool = False,
    timeout: float = 3.0,
    complete: Callable[[bytes], bool] | None = None,
    limit: int = SMALL_ANSWER,
    ca: Path | None = None,
) -> Exchange:
    """Connect, send `payload`, read until `complete(data)`, EOF, `limit` bytes or `timeout`
    seconds after the connection was made, whichever comes first."""
    reader, writer = await connect(host, port, tls, timeout, ca)
    data = bytearray()
    eof = truncated = False
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if payload:
            writer.write(payload)
            await asyncio.wait_for(writer.drain(), timeout)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if len(data) >= limit:
                truncated = True
                break
            try:
                chunk = await asyncio.wait_for(reader.read(min(READ_CHUNK, limit - len(data))), remaining)
            except TimeoutError:
                break
            if not chunk:
                eof = True
                break
            data += chunk
            if complete is not None and complete(bytes(data)):
                break
    except (ConnectionError, ssl.SSLError, OSError, TimeoutError):
        eof = True
    finally:
        await close(writer)
    return Exchange(bytes(data), eof, truncated)


async def port_state(host: str, port: int, timeout: float = 3.0) -> tuple[str, str]:
    """(state, detail): open, closed (refused), filtered (no answer), unreachable or error."""
    try:
        _, writer = await connect(host, port, False, timeout)
    except Unreachable as error:
        return error.state, error.detail
    await close(writer)
    return "open", "accepts connections"
