"""The encrypted disk hardhouse renders for a log database (config.d log_storage): ClickHouse's
AES_256_CTR takes a 32-byte key, given as hex digits in key_hex. The deploy checks a key by
this length and the embedded engine's stand-in keys have it."""

from __future__ import annotations

KEY_HEX_DIGITS = 64
