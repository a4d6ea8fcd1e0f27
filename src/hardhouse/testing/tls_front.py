"""A TLS front for a plaintext loopback port (tests only): terminates TLS with a certificate of
hardhouse's test CA and forwards the bytes to the plaintext port, both ways, unchanged.

Why: the 26.9 network server (hardhouse.testing.modern_server) opens no TLS listener, and the
deploy and the audit send a password only over TLS to a server whose certificate validates
against a named CA. With this front their real code paths run unmodified against 26.9.

What it proves and what it does not: the TLS endpoint is this fixture's (Python's ssl, TLS 1.2
and newer), not ClickHouse's. A test through it proves the client's path (certificate checked
before the password goes out) and the engine's answers to what arrives (logins, grants,
constraints, row filters); it proves nothing about ClickHouse's own TLS settings
(openSSL.server, disableProtocols, ciphers), which only a server with a TLS listener can.

Bounded: at most `max_connections` at once (more are closed at accept), a handshake and each
idle wait limited to `idle_timeout` seconds, the whole front stops after `lifetime` seconds,
and stop() closes every connection and joins every thread.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
import time
from pathlib import Path
from types import TracebackType

from hardhouse.ca import TlsFiles, write_server_material

CHUNK = 64 * 1024  # bytes read per step; each step's bytes are written on before the next read
ACCEPT_POLL = 0.2  # seconds between checks of the stop flag while no client connects


class TlsFront:
    """Listen with TLS on host:port (a free one when port is 0), forward to host:target."""

    def __init__(
        self,
        host: str,
        target: int,
        tls: TlsFiles,
        *,
        port: int = 0,
        max_connections: int = 32,
        idle_timeout: float = 30.0,
        lifetime: float = 3600.0,
    ):
        self.host, self.target, self.tls = host, target, tls
        self.max_connections, self.idle_timeout, self.lifetime = max_connections, idle_timeout, lifetime
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(str(tls.certificate), str(tls.private_key))
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(ACCEPT_POLL)
        self.port = int(self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        self.refused = 0  # connections closed at accept because max_connections were open
        self._acceptor = threading.Thread(target=self._accept, name=f"tls-front-{self.port}", daemon=True)
        self._acceptor.start()

    @classmethod
    def with_new_certificate(cls, directory: Path, host: str, target: int, **bounds: float) -> TlsFront:
        """A front whose certificate (for `host`) comes from a fresh test CA written to directory."""
        return cls(host, target, write_server_material(directory, [host]), **bounds)  # type: ignore[arg-type]

    @property
    def ca(self) -> Path:
        """The CA certificate a client must validate the front's certificate against."""
        return self.tls.ca_certificate

    def _accept(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # the listener was closed by stop()
            with self._lock:
                self._workers = [w for w in self._workers if w.is_alive()]
                if len(self._workers) >= self.max_connections:
                    self.refused += 1
                    client.close()
                    continue
                self._open.add(client)
                worker = threading.Thread(target=self._serve, args=(client,), daemon=True)
                self._workers.append(worker)
            worker.start()
        self._stopping.set()
        self._close_all()

    def _serve(self, client: socket.socket) -> None:
        held: list[socket.socket] = [client]  # wrap_socket detaches client: the TLS socket is closed instead
        try:
            client.settimeout(self.idle_timeout)
            secure = self._context.wrap_socket(client, server_side=True)  # handshake, bounded by the timeout
            held.append(secure)
            upstream = socket.create_connection((self.host, self.target), timeout=self.idle_timeout)
            held.append(upstream)
            with self._lock:
                self._open.update(held)
            self._pump(secure, upstream)
        except (OSError, ssl.SSLError):
            pass  # a failed handshake or a closed peer ends this connection only
        finally:
            with self._lock:
                self._open.difference_update(held)
            for sock in held:
                sock.close()

    def _pump(self, secure: ssl.SSLSocket, upstream: socket.socket) -> None:
        """Copy bytes both ways until either side closes, the front stops, or nothing moves for idle_timeout."""
        peer = {secure: upstream, upstream: secure}
        with selectors.DefaultSelector() as selector:
            for sock in peer:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            idle_since = time.monotonic()
            while not self._stopping.is_set():
                if time.monotonic() - idle_since > self.idle_timeout:
                    return
                # An SSL socket may hold decrypted bytes the selector cannot see.
                ready = [secure] if secure.pending() else [key.fileobj for key, _ in selector.select(ACCEPT_POLL)]
                for sock in ready:
                    try:
                        data = sock.recv(CHUNK)  # type: ignore[union-attr]
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    if not data:
                        return
                    idle_since = time.monotonic()
                    _send_all(peer[sock], data, self.idle_timeout)  # type: ignore[index]

    def _close_all(self) -> None:
        with self._lock:
            sockets = list(self._open)
            self._open.clear()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection; join the threads."""
        self._stopping.set()
        self._listener.close()
        self._acceptor.join(timeout)
        self._close_all()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)

    def __enter__(self) -> TlsFront:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Write all of data to a non-blocking socket, waiting at most `timeout` for room."""
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE)
        while view:
            try:
                sent = sock.send(view)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                sent = 0
            view = view[sent:]
            if view:
                if time.monotonic() > deadline:
                    raise TimeoutError("the peer did not take the bytes in time")
                selector.select(ACCEPT_POLL)
