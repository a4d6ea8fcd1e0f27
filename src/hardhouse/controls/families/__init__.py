"""The controls, one module per family; each module declares its controls once
(hardhouse.controls.control.Control) in a tuple named CONTROLS. The catalog
(hardhouse.controls.catalog) gathers them in the order hardhouse.controls.ids lists the ids.

auth       who may log in, and with what password
network    who reaches which port: listen addresses, ports, each user's networks
tls        the TLS clients meet
logs       the log tables, the server's own logs, secrets in SHOW
http       what clients are told: banners, stack traces, CORS, web pages
limits     quotas, profile limits, connection and query caps
drift      the running server still matches its spec
cluster    nodes talking to each other
zookeeper  the coordination service a cluster trusts
egress     what the server may reach beyond itself
"""
