"""Load rendered files into modern ClickHouse's own code (chdb-core, embedded) and prove them.

chdb-core is the ClickHouse engine (clickhouse-local) as a Python library. Given a
config.xml it merges config.d/ and users.d/ with ClickHouse's own config processor, parses
every user with ClickHouse's own access code, and then authenticates its one session. What
was learnt about chdb-core 26.9 by experiment, and what this module relies on:

* `chdb.connect(":memory:?config-file=/abs/config.xml")` starts the engine on that config
  (query parameters become `--key=value` start-up arguments). Unknown parameters are
  ignored silently, including `user=` and `password=`.
* The session always authenticates as user `default` with an EMPTY password, from a
  loopback address (a `default` limited to 127.0.0.1 or ::1 gets in, one limited to
  10.0.0.0/8 or 0.0.0.0 does not). When the rendered files remove or lock `default`, the
  engine refuses to start with ClickHouse's own Code 516 (AUTHENTICATION_FAILED): that
  is the expected outcome for a hardened set, not an error.
* A malformed users file stops the engine before authentication. The Python exception then
  often says only "Error initializing EmbeddedServer: . (BAD_ARGUMENTS)"; ClickHouse's real
  message (e.g. "Cannot read password hash in hex ... while parsing user 'ingest'") is
  written to file descriptor 2, so it is captured from there.
* One engine per process, bound to one configuration at a time; it shuts down when its last
  connection closes and can then be started again on another configuration (restart takes
  ~0.05 s). `import chdb` itself starts an engine, and clickhouse-local picks up a
  `config.xml` from the current directory, so the engine runs in a child process started
  in an empty directory: the caller's process never loads chdb and each call is isolated.
* system.users shows `auth_type` but not whether a password is empty (the stock `default`
  with `<password></password>` is listed as `plaintext_password`; a SHA-256 of the empty
  string is listed as `sha256_password`). Whether a user can log in without a password is
  therefore decided by a real login, see below.
* config.d/ overlays next to config.xml are merged (the openSSL.server.* values appear in
  system.server_settings), but clickhouse-local opens no listener: ports and listen_host
  are accepted and not acted on, and TLS certificate files are never opened.

How "no user can log in without a password" is proved, one engine start each:
1. as rendered: ClickHouse's stock users.xml (STOCK_USERS_XML) + the rendered users.d/
   (+ config.d/). Any failure other than 516 is a load error. Success means `default` logs
   in with no password from loopback.
2. inspect: the same files with `default` renamed consistently in every users file, plus
   an inspector `default` added last; system.users then lists every account the rendered
   set leaves, as ClickHouse merged it.
3. one login per user U: the same files with U and `default` swapped consistently in every
   users file (ClickHouse's merge is by element name, so the merged account is U's exact
   definition under the session's name), and U's networks widened to any address so that
   only the authentication method decides. The engine's empty-password login then either
   succeeds (U is passwordless) or fails with 516.

The inspect run also executes the rendered sql/ files (log database DDL) as the inspector,
so ClickHouse's own parser judges the tables, their TTL and their storage policy too.

Secrets the rendered files leave to the server (from_env keys, include_from key files) are
never handed to the engine: each gets a fresh random stand-in of the right shape, enough for
ClickHouse to build the encrypted disk, and the stand-in dies with the run.

run_as() runs queries as one rendered user: a first start as the inspector creates what the
queries need (the rendered DDL, then setup statements) in a data directory that a second start
reuses with U swapped into `default` as above. In that second start only U's authentication
(replaced by the empty password the session presents) and its networks (any address) are
changed; its grants, database allow-list, profile, quota and access_management are exactly
the rendered ones. Each query's result or ClickHouse's error code comes back.
"""

from hardhouse.embedded.parent import EmbeddedUnavailable, run_as, validate_embedded
from hardhouse.embedded.protocol import EmbeddedReport, QueryOutcome, RunAsReport, UserLogin

__all__ = [
    "EmbeddedReport",
    "EmbeddedUnavailable",
    "QueryOutcome",
    "RunAsReport",
    "UserLogin",
    "run_as",
    "validate_embedded",
]
