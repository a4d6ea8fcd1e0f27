"""What the probe can report: one Rule per kind of finding, registered against the control it
checks, and the notes it can make. Data only, so the report model can check a finding's rule
without importing the judgement (hardhouse.probe.rules).

A rule names the control it checks (hardhouse.controls.ids) and has no severity of its own: a
finding is as severe as its control (hardhouse.controls.catalog). What the probe sees that
fails no control (ZooKeeper answering an anonymous session, as every ZooKeeper does; the name
a server gives itself; a chain that does not validate when no --ca said which CA clients
trust) is a note on the endpoint: reported, never ranked, never failing a scan."""

from __future__ import annotations

from dataclasses import dataclass

from hardhouse.controls.catalog import BY_ID
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, register
from hardhouse.controls.severity import Severity


@dataclass(frozen=True)
class Rule:
    """One kind of finding, registered against the control it checks (hardhouse.controls.registry)."""

    id: str
    control: ControlId
    title: str
    help: str

    def __post_init__(self) -> None:
        register(Tool.PROBE, self.id, self.control)

    @property
    def severity(self) -> Severity:
        return BY_ID[self.control].severity


# One entry per kind of finding. Reports name the rule beside its control; SARIF's rules are the controls.
RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "anonymous-access",
            ControlId.AUTH_1,
            "Queries answered without credentials",
            "Remove the passwordless default user or give it a password (hardhouse spec: default_user: remove).",
        ),
        Rule(
            "default-credentials",
            ControlId.AUTH_3,
            "A well-known default credential logs in",
            "Give every user a strong password stored as a hash (password_sha256_hex).",
        ),
        Rule(
            "sensitive-data-readable",
            ControlId.DATA_1,
            "Tables whose names suggest secrets or personal data are readable",
            "Close anonymous access; restrict users to the databases they need.",
        ),
        Rule(
            "secret-rows-readable",
            ControlId.DATA_1,
            "Rows holding secret-shaped values (API keys, tokens, passwords) are readable",
            "Close anonymous access now; then find every copy (hardhouse scan), rotate the secrets, "
            "and redact at ingest (log_databases.*.tables.*.redact).",
        ),
        Rule(
            "plaintext-port",
            ControlId.PORT_1,
            "ClickHouse accepts logins over plaintext",
            "Close the plaintext HTTP and native ports (ports.http: null, ports.native: null) and use 8443/9440.",
        ),
        Rule(
            "interserver-reachable",
            ControlId.PORT_2,
            "The interserver port answers and nothing shows it requires credentials",
            "Close interserver_http_port unless the server replicates; set interserver_http_credentials "
            "(hardhouse spec: cluster.interserver). Fails closed: the part request got no answer to judge.",
        ),
        Rule(
            "interserver-unauthenticated",
            ControlId.PORT_2,
            "The interserver port serves without credentials",
            "Set interserver_http_credentials on every replica (hardhouse spec: cluster.interserver), "
            "or close the port.",
        ),
        Rule(
            "zookeeper-znodes-readable",
            ControlId.ZK_1,
            "ClickHouse's znodes can be listed without credentials",
            "Give ClickHouse a digest identity (hardhouse spec: cluster.zookeeper.user) so its znodes "
            "carry an ACL only the identity passes; fix the ACL of znodes made before.",
        ),
        Rule(
            "zookeeper-znodes-writable",
            ControlId.ZK_1,
            "The world may create or change ClickHouse's znodes",
            "Give ClickHouse a digest identity (hardhouse spec: cluster.zookeeper.user) and setAcl "
            "the existing znodes to that digest only.",
        ),
        Rule(
            "zookeeper-four-letter-words",
            ControlId.ZK_2,
            "Four-letter words that leak clients, paths or configuration answer",
            "Allow only ruok: 4lw.commands.whitelist=ruok (Keeper: four_letter_word_white_list).",
        ),
        Rule(
            "web-ui-served",
            ControlId.HTTP_2,
            "Built-in web pages (SQL console, dashboard) are served",
            "Serve only the query handler and /ping: http_handlers without <defaults/> (hardhouse spec: http.web_ui).",
        ),
        Rule(
            "metrics-readable",
            ControlId.PORT_3,
            "Prometheus metrics are readable without credentials",
            "Bind the metrics endpoint to a management network only.",
        ),
        Rule(
            "tls-old-protocol",
            ControlId.TLS_1,
            "TLS endpoint accepts a protocol older than TLS 1.2",
            "Disable sslv2, sslv3, tlsv1 and tlsv1_1 (tls.min_protocol: tlsv1_2).",
        ),
        Rule(
            "tls-weak-cipher",
            ControlId.TLS_2,
            "TLS endpoint accepts cipher suites without forward secrecy or AEAD",
            "Allow ECDHE/DHE suites with GCM or ChaCha20-Poly1305 only.",
        ),
        Rule(
            "tls-certificate-expired",
            ControlId.TLS_3,
            "The server certificate has expired or is not valid yet",
            "Renew the certificate.",
        ),
        Rule(
            "tls-certificate-untrusted",
            ControlId.TLS_3,
            "The certificate chain does not validate",
            "Use a certificate from a CA the clients trust; pass --ca to validate against a private CA.",
        ),
        Rule(
            "tls-certificate-self-signed",
            ControlId.TLS_3,
            "The server certificate is self-signed",
            "Sign the server certificate with a CA instead.",
        ),
        Rule(
            "tls-certificate-hostname",
            ControlId.TLS_3,
            "The certificate does not name the address it is served on",
            "Put the server's DNS names and addresses in subjectAltName.",
        ),
        Rule(
            "version-disclosure",
            ControlId.LEAK_1,
            "The server version is told to clients that did not log in",
            "Upgrade; modern servers still say their version in errors, so keep the ports private.",
        ),
        Rule(
            "stack-trace-disclosure",
            ControlId.LEAK_1,
            "Server stack traces are sent to clients that did not log in",
            "Set calculate_text_stack_trace to 0 for the default profile.",
        ),
    )
}

# What a note can say: observations that fail no control, by id, with why each is not a finding.
NOTES: dict[str, str] = {
    "zookeeper-answers": "ZooKeeper or Keeper answers an anonymous session. Every ZooKeeper does; what "
    "an anonymous session may read or write is judged by the znode rules (HH-ZK-1). Let only "
    "ClickHouse's nodes reach the coordination port.",
    "interserver-asks-credentials": "The interserver port answers and refuses a part request without "
    "credentials (HTTP 401): HH-PORT-2 holds there.",
    "display-name": "The name the server gives itself (display_name, the host name unless set) to "
    "clients that did not log in. Set display_name to a neutral value if the host name says too much.",
    "secret-count": "What --count-secrets counted where a login could read: tables counted, clean or "
    "undecided, and those the bounds left out. Tables with secret-shaped rows are findings "
    "(secret-rows-readable); this note says what the count covered.",
    "certificate-not-validated": "The certificate chain does not validate against this machine's trust "
    "store, and no --ca named the CA the clients trust, so HH-TLS-3 was not judged: pass --ca.",
}
