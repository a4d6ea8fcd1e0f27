"""Everything the probe sends, in words; `hardhouse probe --help` prints it. Keep it true:
a change to what the scanner sends changes this text in the same commit."""

from __future__ import annotations

from hardhouse.probe.enumerate import QUERY_TIMEOUT
from hardhouse.probe.scanner import DEFAULT_CREDENTIALS
from hardhouse.probe.wire.http import USER_AGENT
from hardhouse.probe.wire.zookeeper import READ_ONLY_WORDS
from hardhouse.probe.zookeeper import CLICKHOUSE_PATHS
from hardhouse.scan.sent import QUERIES_SENT

WORDS = " ".join(READ_ONLY_WORDS)


def _indented(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


PATHS = " ".join(CLICKHOUSE_PATHS[:3]) + "[/ddl]"

WHAT_IS_SENT = f"""\b
What it sends, to each TARGET port and to nothing else:
  1. a TCP connection; if accepted, `GET /ping` (HTTP/1.1, User-Agent {USER_AGENT}).
  2. if the answer is neither HTTP nor a MySQL greeting: a TLS handshake (TLS 1.0-1.3,
     any suite, certificate not checked) and `GET /ping` over it. If TLS works but that
     gets no answer: a native Hello over TLS. If TLS fails and the port said nothing:
     a native Hello, then a PostgreSQL SSLRequest (8 bytes) and a ZooKeeper
     ConnectRequest (on 2181/9181/9281 the ConnectRequest comes before the native Hello).
     A MySQL greeting is only read, never answered.
  3. ClickHouse HTTP(S): `GET /?query=SELECT version()` without credentials, then with
     each default credential (HTTP Basic). Port 9363, if not ClickHouse HTTP: `GET /metrics`.
  3b. ClickHouse interserver (an answer naming a missing endpoint, or a 401 asking for
     Basic auth): one `GET /?endpoint=DataPartsExchange:...` for a part of a replica no
     table has, without credentials (the status says whether parts are served to anyone).
  3c. ZooKeeper or Keeper (a ConnectResponse came back): the read-only four-letter
     words {WORDS},
     one per connection (never crst, srst, stmk or Keeper's csnp/rqld/ydld); an anonymous
     session that lists the children of / and {PATHS}
     (counted, not read) and reads their ACLs (getACL). Nothing is created or written.
  4. ClickHouse native (plain or TLS): a Hello (the login packet) as `default` with an
     empty password, then one Hello per default credential; each on its own connection,
     closed after the server's answer. No query is sent with a Hello.
  5. only where a login succeeded, read-only listings (HTTP GET, which ClickHouse runs
     read-only, or native through clickhouse-driver, both with readonly=1 and
     max_execution_time={QUERY_TIMEOUT}, resent without settings to a user that may not set
     them): system.databases; system.tables (names, engines, total_rows); system.parts (row
     counts); system.columns (names); `SELECT count()` on Memory/Log/MergeTree tables that
     have no count yet. Only `system` tables ending in _log are listed from `system`.
     No row of user data is read.
  6. TLS ports: an sslyze scan (one handshake per protocol version and cipher suite from
     SSL 2.0 to TLS 1.3, and the certificate chain; no application data); with --ca, also
     one OpenSSL handshake that validates the chain against that CA.
  7. only with --count-secrets, where a login succeeded: as that login, on the same port
     and protocol (native through clickhouse-driver; HTTP: one GET per query, settings in the
     URL, the query's first word in `query` and the rest in the body, FORMAT JSON), what
     `hardhouse scan` sends, with MAX_ROWS = --count-max-rows and MAX_SECONDS =
     --count-max-seconds, for at most --count-max-tables tables within --count-seconds:
{_indented(QUERIES_SENT)}
Every answer is read up to a size bound (64 KiB for a login, 1 MiB for a listing or a
ZooKeeper frame, 16 KiB for a four-letter word) and within --timeout; everything for
one endpoint ends within --deadline.
Default credentials: {", ".join(f"{u}/{p or '(empty)'}" for u, p in DEFAULT_CREDENTIALS)}.
"""
