"""`hardhouse scan`: secrets already at rest in log tables, counted by the server, never read.

Layout, the way a scan flows:
  run       the session's read-only mode and time bound, the catalog, one count query per table
  sql       every statement sent; sent: the same in words for --help, and the default bounds
  names     server-sent names decoded and refused or quoted (hostile identifiers)
  columns   which column types can hold text, and the match() expression for each
  report    the verdict per table (counts only) and the judge of HH-DATA-4
  output    text, JSON and SARIF

Import the modules themselves (hardhouse.scan.run.scan): this package imports nothing, so the
`hardhouse` command pays nothing for the scan until it runs one.
"""
