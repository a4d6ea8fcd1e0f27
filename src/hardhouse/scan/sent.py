"""What `hardhouse scan` sends, in words for its --help (hardhouse.scan.sql builds exactly
these), and its default bounds: a light module the command line imports at start-up."""

DEFAULT_MAX_ROWS = 1_000_000
DEFAULT_MAX_SECONDS = 30.0
CLIENT_MARGIN = 5.0  # seconds the client waits beyond max_execution_time before it gives up

# The SELECTs and settings alone: `hardhouse probe --count-secrets` sends these too (hardhouse.probe.sent).
QUERIES_SENT = """\
  1. SELECT name, substring(value, 1, 64) AS value FROM system.settings WHERE
     name IN ('readonly', 'max_execution_time', 'timeout_overflow_mode',
     'read_overflow_mode'),
     once as is and once with the settings below, whose readonly must not be 0.
  2. system.tables (names as hex, engine, whether a sampling key exists),
     system.parts (active rows per table), system.columns (names and types as hex;
     ALIAS columns are computed, not stored, and not asked),
     for the chosen databases (default: all but system and information_schema).
  3. per table, ONE query:
       SELECT count() AS examined, countIf(match(col, 'RULE')) AS m0, ...
       FROM (SELECT cols FROM db.table [SAMPLE F] LIMIT MAX_ROWS)
     (Nullable: ifNull(..., 0); Array and Map: arrayExists(x -> match(x, 'RULE'), col)).
     Its answer is one row of counts: no value of a table leaves the server.
Settings sent with every query: readonly=1 (when the user's profile allows writes),
max_execution_time=MAX_SECONDS (rounded up), timeout_overflow_mode and read_overflow_mode =
throw. A user whose profile has readonly=1 may set nothing: then nothing is sent,
and each table is bounded by the client's timeout (MAX_SECONDS + 5 s).
Views, Null, Distributed, Buffer, Merge and dictionary tables hold no rows of their
own and are skipped; engines that read elsewhere (Kafka, URL, S3, MySQL, ...) are
never read."""

WHAT_IS_SENT = (
    """\b
What it sends: one native TLS session as --user (the server's certificate must
chain to --ca and name --host before the password is sent), and only these SELECTs:
"""
    + QUERIES_SENT
)
