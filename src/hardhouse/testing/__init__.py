"""Helpers to prove a hardened ClickHouse from the outside: real servers, real clients.

plugin (pytest fixtures), containers (testcontainers), assertions (checks for teams' tests),
local_server (the machine's own Debian server as a process), modern_server (a rendered set
served by ClickHouse 26.9 from chdb-core on loopback), clients (real HTTP, native and
TLS clients), network (address ranges for a test's own Docker network), zookeeper (Debian's
ZooKeeper as a process, and a tiny bounded ZooKeeper client)."""
