"""The PostgreSQL SSLRequest: 8 bytes whose one-byte answer (S or N) only PostgreSQL gives."""

from __future__ import annotations

import struct

SSL_REQUEST = struct.pack(">ii", 8, 80877103)


def answers_ssl_request(data: bytes) -> bool:
    return data in (b"S", b"N")
