"""The TLS context hardhouse sends a secret through: it trusts only the CA file the operator
named and checks that the certificate names the address it is served on (Python's defaults for
a client, as ssl.create_default_context makes them).

One context per CA file's content, shared by every connection of the process (callers never
change it): making one parses the CA (about 0.6 ms of CPU), and a deploy's proof of one host
connects a dozen times (the logins, the native sessions, the certificate check). The file is
read on every call, so a CA replaced at the same path is the one trusted from the next call on.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from pathlib import Path

from hardhouse.bounded_file import FileRefused, NotRegularFile, read_bounded

CA_READ_LIMIT = 4 * 1024 * 1024  # a CA file read to know its content (larger ones are loaded, not kept)
KEPT_CONTEXTS = 16  # contexts kept, one per CA file's content

# (the CA file's path, its content's SHA-256) -> its context.
_CONTEXTS: dict[tuple[str, bytes], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def verifying_context(ca: Path) -> ssl.SSLContext:
    """Trusts only `ca` and checks that the certificate names the address it is served on."""
    try:
        content = _ca_digest(ca)
    except NotRegularFile as refused:
        # OpenSSL would wait on a FIFO for ever: refused as a failed connection is.
        raise OSError(f"the CA file {refused}") from None
    except FileRefused:
        return ssl.create_default_context(cafile=str(ca))  # not kept: missing (raises) or very large
    key = (str(ca), content)
    with _CONTEXTS_LOCK:
        kept = _CONTEXTS.get(key)
    if kept is not None:
        return kept
    context = ssl.create_default_context(cafile=str(ca))
    try:
        unchanged = _ca_digest(ca) == content  # not replaced while it was loaded
    except FileRefused:
        unchanged = False
    if unchanged:
        with _CONTEXTS_LOCK:
            if len(_CONTEXTS) >= KEPT_CONTEXTS:
                _CONTEXTS.pop(next(iter(_CONTEXTS)))
            _CONTEXTS[key] = context
    return context


def _ca_digest(ca: Path) -> bytes:
    return hashlib.sha256(read_bounded(ca, CA_READ_LIMIT)).digest()
