"""What hardhouse knows about ClickHouse itself: versions and their features, ports, error
codes, TLS protocol names, the stock users. Facts only: no I/O, no dependency on the rest of
hardhouse, so the spec, the renderer, the probe and the deploy all read them from here."""
