"""Helpers to prove a hardened ClickHouse from the outside: real servers, real clients."""
