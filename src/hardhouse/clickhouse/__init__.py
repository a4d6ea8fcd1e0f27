"""What hardhouse knows about ClickHouse itself: versions and their features, ports, error
codes, TLS protocol names, the stock users, addresses as glibc reads them, the column type
grammar; and how to read and speak its formats: configuration XML as its Poco DOM builds it
(xmltree), a logged-in native TLS session (native). Nothing here depends on the rest of
hardhouse, so the spec, the renderer, the audit, the probe and the deploy all read it from here."""
