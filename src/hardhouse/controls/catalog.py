"""The catalog of controls: what "hardened" means, one entry per control.

Each control has a stable, typed id (hardhouse.controls.ids: never reused or renumbered:
waivers, SARIF dashboards and rendered files name it), a title, its severity (the only one: a
probe, audit or verify finding is as severe as its control), why it matters, references, the
versions it applies to, the spec fields that implement it, the templates that render it, and
the checks that verify it: from outside (probe rules, deploy verification) and from inside
(audit rules). Each of those checks declares its control beside its own code
(hardhouse.controls.registry); the lists here are the published index of them, and
tests/test_controls.py keeps the two equal both ways. Reports, rendered comments, SARIF rule
ids and the README's control table all come from here.

The module is over 500 lines because it is data, one entry per control: kept in one file, the
ids stay unique at a glance and the order is the one the README's table and SARIF show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hardhouse.clickhouse import versions
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

DOCS = "https://clickhouse.com/docs"
SERVER_SETTINGS = f"{DOCS}/operations/server-configuration-parameters/settings"
INCIDENT = "The incident behind hardhouse: a ClickHouse open on 8123/9000 without a password leaked log_stream"


@dataclass(frozen=True)
class Control:
    id: ControlId
    title: str
    severity: Severity
    rationale: str
    references: tuple[str, ...]
    spec_fields: tuple[str, ...]  # dotted paths in the hardening spec ("users[].networks")
    templates: tuple[str, ...] = ()  # render concerns (templates/<concern>.xml.j2) that implement it
    probe_rules: tuple[str, ...] = ()  # hardhouse.probe.rules ids: seen from the network
    verify_checks: tuple[str, ...] = ()  # deploy verification check ids (registered in hardhouse.verify)
    audit_rules: tuple[str, ...] = ()  # hardhouse.audit.rules ids: read from the configuration tree
    feature: str | None = None  # the versions.FEATURES entry it needs (None: every version)

    def applies_to(self, version: versions.Version | None) -> bool:
        """True when the control means something on this version (unknown version: it applies)."""
        return version is None or self.feature is None or versions.has(version, self.feature)

    @property
    def since(self) -> str | None:
        return None if self.feature is None else str(versions.FEATURES[self.feature].since)

    @property
    def sarif_name(self) -> str:
        return "".join(word.capitalize() for word in self.title.replace("-", " ").split()[:6])


CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.AUTH_1,
        "No login without a password",
        Severity.CRITICAL,
        "A user without a password (the stock `default`) lets anyone who reaches a port run queries; "
        "that is how the log_stream table leaked. Every user has a password or certificate, and "
        "`default` is removed or locked.",
        (INCIDENT, f"{DOCS}/operations/settings/settings-users", f"{SERVER_SETTINGS}#allow_no_password"),
        ("default_user", "users[].password_env", "users[].password_file", "refuse_insecure_auth"),
        templates=("stock_users", "auth"),
        probe_rules=("anonymous-access",),
        verify_checks=("anonymous refused",),
        audit_rules=("passwordless-user", "online-passwordless-user"),
    ),
    Control(
        ControlId.AUTH_2,
        "Passwords stored only as hashes",
        Severity.HIGH,
        "A plaintext `<password>` in a users file is readable by anyone who can read the file, its "
        "backups or a config-management log. Only hashes are written.",
        (f"{DOCS}/operations/settings/settings-users", f"{SERVER_SETTINGS}#allow_plaintext_password"),
        ("password_hash", "users[].password_env", "users[].password_file", "users[].password_hash"),
        templates=("users", "auth"),
        audit_rules=("plaintext-password",),
    ),
    Control(
        ControlId.AUTH_3,
        "No well-known passwords",
        Severity.CRITICAL,
        "Scanners try `default` with empty, `default`, `clickhouse` and similar passwords first. "
        "Render-time checks refuse weak passwords; the probe and the audit look for known ones.",
        (f"{DOCS}/operations/settings/settings-users", "OWASP ASVS 4.0 V2.1 (password security)"),
        ("users[].password_env", "users[].password_file"),
        templates=("users",),
        probe_rules=("default-credentials",),
        audit_rules=("known-password",),
    ),
    Control(
        ControlId.NET_1,
        "Each user only from its networks",
        Severity.HIGH,
        "A stolen password is useless from an address the user may not log in from. Every user "
        "names its networks; any-address networks need `allow_any_network: true`.",
        (f"{DOCS}/operations/settings/settings-users#user-namenetworks",),
        ("users[].networks", "users[].allow_any_network", "default_user"),
        templates=("users", "stock_users"),
        verify_checks=("user refused from outside its networks",),
        audit_rules=("any-network", "online-any-network"),
    ),
    Control(
        ControlId.LISTEN_1,
        "Listen only on named addresses",
        Severity.HIGH,
        "`listen_host` 0.0.0.0 or :: (the official Docker image's own config.d file) serves every "
        "interface, including ones nobody meant to expose. The spec names the addresses.",
        (f"{SERVER_SETTINGS}#listen_host",),
        ("listen_hosts", "allow_all_interfaces"),
        templates=("listen",),
        audit_rules=("listen-any",),
    ),
    Control(
        ControlId.PORT_1,
        "Plaintext client ports closed",
        Severity.MEDIUM,
        "Passwords and query results cross the network in the clear on 8123 (HTTP), 9000 (native), "
        "9004 (MySQL), 9005 (PostgreSQL) and gRPC. Clients use 8443 and 9440 over TLS.",
        (INCIDENT, f"{DOCS}/operations/network-ports", f"{DOCS}/guides/sre/configuring-ssl"),
        ("ports.http", "ports.native", "ports.mysql", "ports.postgresql", "ports.grpc"),
        templates=("ports",),
        probe_rules=("plaintext-port",),
        verify_checks=("closed",),
        audit_rules=("plaintext-port",),
    ),
    Control(
        ControlId.PORT_2,
        "Interserver port closed or authenticated",
        Severity.HIGH,
        "The interserver HTTP port (9009) hands table parts, the log rows themselves, to whoever asks "
        "unless `interserver_http_credentials` are set; a standalone server does not need it open.",
        (f"{SERVER_SETTINGS}#interserver_http_credentials",),
        ("ports.interserver_http", "cluster.interserver"),
        templates=("ports", "cluster_secrets"),
        probe_rules=("interserver-reachable", "interserver-unauthenticated"),
        verify_checks=("interserver port closed", "a part request without credentials is refused"),
        audit_rules=("interserver-unauthenticated",),
    ),
    Control(
        ControlId.PORT_3,
        "Metrics endpoint not open to everyone",
        Severity.LOW,
        "The Prometheus endpoint (9363) answers without credentials and tells an attacker about "
        "tables, queries and load.",
        (f"{SERVER_SETTINGS}#prometheus",),
        (),
        probe_rules=("metrics-readable",),
        audit_rules=("metrics-open",),
    ),
    Control(
        ControlId.TLS_1,
        "TLS 1.2 or newer only",
        Severity.HIGH,
        "SSL 2.0 and 3.0 are prohibited (RFC 6176, RFC 7568), TLS 1.0 and 1.1 deprecated (RFC 8996), and "
        "all have practical attacks; a server that accepts one lets a client that still speaks it send its "
        "password over a broken channel.",
        ("RFC 8996", "RFC 7568", "RFC 6176", "RFC 9325", f"{SERVER_SETTINGS}#openssl"),
        ("tls.min_protocol",),
        templates=("tls",),
        probe_rules=("tls-old-protocol",),
        verify_checks=("SSLv2 refused", "SSLv3 refused", "TLSv1.0 refused", "TLSv1.1 refused"),
        audit_rules=("tls-old-protocol",),
    ),
    Control(
        ControlId.TLS_2,
        "Strong cipher suites only",
        Severity.MEDIUM,
        "Suites without forward secrecy or AEAD let a recorded session be decrypted later or "
        "tampered with; ClickHouse's stock cipherList allows them.",
        ("RFC 9325", "RFC 7905"),
        ("tls.min_protocol",),
        templates=("tls",),
        probe_rules=("tls-weak-cipher",),
        audit_rules=("tls-weak-cipher",),
    ),
    Control(
        ControlId.TLS_3,
        "A certificate clients can verify",
        Severity.MEDIUM,
        "Without a certificate that validates and names the server, a client cannot tell the "
        "server from a machine in the middle, and its password goes to whoever answers.",
        ("RFC 5280", "RFC 6125", f"{DOCS}/guides/sre/configuring-ssl"),
        ("tls.certificate", "tls.private_key", "tls.ca_certificate", "tls.verify_clients"),
        templates=("tls",),
        probe_rules=(
            "tls-certificate-expired",
            "tls-certificate-untrusted",
            "tls-certificate-self-signed",
            "tls-certificate-hostname",
        ),
        audit_rules=("tls-certificate-missing",),
    ),
    Control(
        ControlId.DATA_1,
        "Sensitive tables readable only by their readers",
        Severity.CRITICAL,
        "Log tables hold chat logs and API keys. Users are limited to the databases they need, "
        "readers are read-only, and writers cannot read back.",
        (INCIDENT, f"{DOCS}/operations/access-rights"),
        ("users[].databases", "users[].profile", "log_databases.*.writers", "log_databases.*.readers"),
        templates=("users", "profiles"),
        probe_rules=("sensitive-data-readable",),
        verify_checks=("log readers and writers hold only their rights",),
    ),
    Control(
        ControlId.LEAK_1,
        "Say little to clients that did not log in",
        Severity.LOW,
        "Version banners, host names and stack traces tell an attacker which exploits to try. Stack "
        "traces are not computed for clients (calculate_text_stack_trace 0 in the default profile, which "
        "also answers refused logins, and in every rendered one). The name a server gives itself "
        "(display_name) is noted by the probe, not failed: only its operator knows if it says too much.",
        (f"{SERVER_SETTINGS}#display_name", f"{DOCS}/operations/settings/settings#calculate_text_stack_trace"),
        ("http.stack_traces",),
        templates=("responses",),
        probe_rules=("version-disclosure", "stack-trace-disclosure"),
    ),
    Control(
        ControlId.LOG_1,
        "Secrets masked in the server's own logs",
        Severity.MEDIUM,
        "A query carrying an API key is written to query_log and the text log; masking rules "
        "replace the key before it is stored.",
        (f"{SERVER_SETTINGS}#query_masking_rules",),
        ("query_masking",),
        templates=("masking",),
        audit_rules=("masking-missing",),
        feature="query_masking_rules",
    ),
    Control(
        ControlId.LOG_2,
        "Log tables encrypted at rest",
        Severity.MEDIUM,
        "A copied disk or backup of a log server should not hand over the logs; log databases "
        "can be stored on an encrypted disk whose key lives outside the data directory.",
        (f"{DOCS}/operations/storing-data#encrypted-virtual-file-system",),
        ("log_databases.*.encryption",),
        templates=("log_storage",),
        feature="encrypted_disk",
    ),
    Control(
        ControlId.QUOTA_1,
        "Usage bounded by quotas",
        Severity.LOW,
        "A leaked credential that cannot read much cannot copy much; quotas bound rows and time per interval.",
        (f"{DOCS}/operations/quotas",),
        ("quotas", "users[].quota"),
        templates=("quotas",),
    ),
    Control(
        ControlId.DRIFT_1,
        "The server runs what its spec renders",
        Severity.HIGH,
        "A file merged after hardhouse's (a debug override, a package's or an image's own file) or "
        "a hand edit silently undoes a control; the audit compares the merged configuration "
        "with the spec and names the file that changed it.",
        (f"{DOCS}/operations/configuration-files",),
        (),
        audit_rules=("drift", "online-user"),
    ),
    Control(
        ControlId.CLUSTER_1,
        "Distributed queries between nodes authenticated over TLS",
        Severity.HIGH,
        "`remote_servers` replicas without `secure` send queries, results and passwords in the clear, "
        "and without a user (or the cluster secret) they log in as `default`. Nodes talk over native "
        "TLS as a named user whose password, like the cluster secret, lives only in the secrets file.",
        (f"{DOCS}/engines/table-engines/special/distributed", f"{SERVER_SETTINGS}#remote_servers"),
        ("cluster.secure", "cluster.user", "cluster.password_env", "cluster.secret_env", "cluster.shards"),
        templates=("cluster_secrets",),
        verify_checks=(
            "the cluster is defined on the native TLS port only",
            "a query through the cluster is answered by every shard",
        ),
        audit_rules=("remote-servers-insecure",),
    ),
    Control(
        ControlId.CLUSTER_2,
        "Replicas exchange parts only over verified TLS",
        Severity.HIGH,
        "Replicas fetch table parts, with the interserver credentials, from the host a peer registers. "
        "Over `interserver_https_port` with a client that trusts only the cluster's CA, neither the "
        "parts nor the credentials can be read or redirected on the way.",
        (f"{SERVER_SETTINGS}#interserver_https_port", f"{SERVER_SETTINGS}#openssl"),
        ("cluster.interserver.https_port", "cluster.replica", "tls.ca_certificate"),
        templates=("cluster",),
        verify_checks=("the interserver credentials are accepted",),
        audit_rules=("interserver-tls-unverified",),
    ),
    Control(
        ControlId.ZK_1,
        "ZooKeeper or Keeper only with ClickHouse's identity",
        Severity.HIGH,
        "Without a digest `identity`, ClickHouse creates its znodes world-readable and world-writable: "
        "anyone reaching ZooKeeper can read or rewrite replication metadata. With one, its znodes carry "
        "an ACL that only the identity passes; Keeper on modern targets also runs raft and clients over TLS.",
        (f"{SERVER_SETTINGS}#zookeeper", f"{DOCS}/guides/sre/keeper/clickhouse-keeper"),
        ("cluster.zookeeper", "cluster.keeper"),
        templates=("cluster_secrets", "cluster"),
        probe_rules=("zookeeper-znodes-readable", "zookeeper-znodes-writable"),
        verify_checks=("an anonymous ZooKeeper session can neither read nor write ClickHouse's root",),
        audit_rules=("zookeeper-anonymous",),
    ),
    # Issue 12 items 1, 2, 6, 7: settings constraints, the server's own logs, secrets in SHOW, limits.
    Control(
        ControlId.SET_1,
        "Profile limits users cannot SET away",
        Severity.MEDIUM,
        "A limit in a profile (max_execution_time, max_memory_usage, readonly) means nothing if the "
        "user can `SET` it back to 0; a leaked credential would lift it first. Every setting a profile "
        "sets becomes a constraint (a number n: 1..n; anything else: readonly), so the server answers "
        "452. 18.16 has no constraints: only `readonly: 1` stops SET there, and it stops writes too.",
        (f"{DOCS}/operations/settings/constraints-on-settings", f"{DOCS}/operations/settings/permissions-for-queries"),
        ("profiles", "lock_profile_settings"),
        templates=("settings",),
        feature="settings_constraints",
    ),
    Control(
        ControlId.LOG_3,
        "The server's own logs expire and cannot be switched off",
        Severity.MEDIUM,
        "query_log, text_log and the other system logs keep query text, users and addresses forever "
        "unless given a TTL: on a log server they are secrets too. They expire after "
        "`system_logs.retention_days`, and `log_queries` is locked on in every profile so a user "
        "cannot hide its queries.",
        (f"{SERVER_SETTINGS}#query_log", f"{DOCS}/operations/system-tables/query_log"),
        ("system_logs.retention_days", "lock_profile_settings"),
        templates=("system_logs", "settings"),
        audit_rules=("query-log-off", "query-log-unlocked", "system-log-no-ttl"),
        feature="system_log_ttl",
    ),
    Control(
        ControlId.LOG_4,
        "Every login recorded",
        Severity.LOW,
        "Who logged in, from where, and who was refused is the first question after a credential "
        "leaks; system.session_log records each login with user, authentication type and address.",
        (f"{SERVER_SETTINGS}#session_log", f"{DOCS}/operations/system-tables/session_log"),
        ("system_logs.session_log",),
        templates=("system_logs",),
        audit_rules=("session-log-off",),
        feature="session_log",
    ),
    Control(
        ControlId.LEAK_2,
        "Secrets hidden in SHOW and SELECT",
        Severity.MEDIUM,
        "Table engines and functions (MySQL, S3, remote, URL) carry credentials; with "
        "`display_secrets_in_show_and_select` on, SHOW CREATE and system.tables show them to anyone "
        "with the format setting and the grant. The server setting is off and the format setting is "
        "locked at 0 in every profile.",
        (
            f"{SERVER_SETTINGS}#display_secrets_in_show_and_select",
            f"{DOCS}/operations/settings/formats#format_display_secrets_in_show_and_select",
        ),
        (),
        templates=("show_secrets", "settings"),
        audit_rules=("secrets-displayed",),
        feature="display_secrets_setting",
    ),
    Control(
        ControlId.LIMIT_1,
        "Connections and queries bounded",
        Severity.LOW,
        "A leaked credential or a scanner that opens connections or runs queries in a loop can take "
        "the server from everyone else. Connections, concurrent queries (server-wide and per user) "
        "and idle keep-alive time are capped.",
        (
            f"{SERVER_SETTINGS}#max_connections",
            f"{SERVER_SETTINGS}#max_concurrent_queries",
            f"{SERVER_SETTINGS}#keep_alive_timeout",
            f"{DOCS}/operations/settings/query-complexity",
        ),
        ("server_limits",),
        templates=("limits", "settings"),
        audit_rules=("queries-unbounded",),
    ),
    # Issue 12: HTTP surface, egress and files, server-side password policy.
    Control(
        ControlId.HTTP_1,
        "No Access-Control-Allow-Origin: * unless asked",
        Severity.MEDIUM,
        "With add_http_cors_header a web page in any origin can read query results through an analyst's "
        "browser. Every rendered profile writes it as 0; a session can still ask for it per request unless "
        "it is read-only (18.16 answers 164) or a settings constraint locks it.",
        (f"{DOCS}/operations/settings/settings#add_http_cors_header", f"{DOCS}/interfaces/http"),
        ("http.cors_any_origin",),
        templates=("responses",),
        audit_rules=("cors-any-origin",),
    ),
    Control(
        ControlId.HTTP_2,
        "No built-in web pages unless asked",
        Severity.LOW,
        "/play, /dashboard and /binary put a query console in front of anyone who can reach the HTTP port. "
        "http_handlers without <defaults/> serve only the query handler and /ping.",
        (f"{DOCS}/interfaces/http#predefined_http_interface",),
        ("http.web_ui",),
        templates=("http_handlers",),
        probe_rules=("web-ui-served",),
        feature="http_handlers",
    ),
    Control(
        ControlId.EGRESS_1,
        "The server reaches no host it was not told to",
        Severity.MEDIUM,
        "url(), s3() and remote() turn a stolen credential into a proxy into the internal network or a way "
        "out of it; crash reports can carry query text off the host. remote_url_allow_hosts admits only the "
        "listed hosts (none by default) and send_crash_reports is off.",
        (f"{SERVER_SETTINGS}#remote_url_allow_hosts", f"{SERVER_SETTINGS}#send_crash_reports"),
        ("egress.remote_url_allow_hosts", "egress.send_crash_reports"),
        templates=("egress",),
        feature="remote_url_allow_hosts",
    ),
    Control(
        ControlId.EGRESS_2,
        "App users refused the url, file, s3, remote, mysql and postgresql table functions",
        Severity.HIGH,
        "A user limited to its databases (users[].databases) or to its log rights holds no SOURCES grant: "
        "26.9 refuses url(), file(), s3(), remote(), mysql() and postgresql() with 497 (READ ON ...). "
        "A read-only profile refuses every table function on 18.16 (164). A user with neither keeps them.",
        (f"{DOCS}/sql-reference/statements/grant#sources", f"{DOCS}/operations/settings/permissions-for-queries"),
        ("users[].databases", "users[].profile"),
        templates=("users",),
    ),
    Control(
        ControlId.FILES_1,
        "file() confined to a directory of its own",
        Severity.MEDIUM,
        "file() reads and writes under user_files_path; pointed at /, the data path or a parent of it, it "
        "hands the server's own files (parts, access storage, keys) to any user with the grant.",
        (f"{SERVER_SETTINGS}#user_files_path", f"{DOCS}/sql-reference/table-functions/file"),
        ("egress.user_files_path",),
        templates=("egress",),
        audit_rules=("user-files-shared",),
    ),
    Control(
        ControlId.AUTH_4,
        "Passwords set through SQL face the same rule",
        Severity.MEDIUM,
        "A user created later with CREATE USER must not get a short password or a plaintext one. "
        "password_complexity states the render-time minimum length and default_password_type the hash.",
        (f"{SERVER_SETTINGS}#password_complexity", f"{SERVER_SETTINGS}#default_password_type"),
        ("password_policy.server_side", "password_policy.sql_password_type"),
        templates=("password_policy",),
        feature="password_policy",
    ),
    Control(
        ControlId.DATA_2,
        "Log readers limited to their tables and rows",
        Severity.HIGH,
        "A reader that needs one table or one tenant's rows should not read the rest of the log database. "
        "Rendered in users.d: SELECT granted per table, row filters that hide every other row.",
        (f"{DOCS}/operations/access-rights#row-policy-management", f"{DOCS}/operations/settings/settings-users"),
        ("log_databases.*.reader_limits",),
        templates=("users",),
        feature="users_xml_row_filters",
    ),
    # Issue 13 item 5: the probe looks at the coordination service a cluster trusts.
    Control(
        ControlId.ZK_2,
        "ZooKeeper four-letter words limited",
        Severity.MEDIUM,
        "ZooKeeper's and Keeper's four-letter words answer anyone who reaches the client port: "
        "`cons`, `stat` and `dump` list clients and sessions, `envi` and `conf` the host, paths and "
        "configuration, `wchc`/`wchp` the watched znode paths. Allow `ruok` only "
        "(`4lw.commands.whitelist`, Keeper's `four_letter_word_white_list`); ZooKeeper 3.8 answers "
        "`srvr` whatever the list says, so the probe reports it without failing.",
        (
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperAdmin.html#sc_4lw",
            f"{DOCS}/guides/sre/keeper/clickhouse-keeper#four-letter-word-commands",
        ),
        (),
        probe_rules=("zookeeper-four-letter-words",),
    ),
    # Issue 13 item 2: the deploy hardens the ZooKeeper host itself (hardhouse.deploy.zookeeper).
    Control(
        ControlId.ZK_3,
        "ZooKeeper's own surface closed",
        Severity.HIGH,
        "Stock ZooKeeper listens on every interface, opens an unauthenticated admin HTTP server on 8080 "
        "(commands, configuration, sessions) and, started by Debian's init script, a JMX agent on a random "
        "port on every interface. The deploy (host data `hardhouse_zookeeper`) keeps the client port on one "
        "address (`clientPortAddress`), turns the admin server off (`admin.enableServer=false`) and JMX off, "
        "and creates ClickHouse's root znodes with an ACL of only its identity before anyone else can. "
        "ZooKeeper's TLS client port is not used: ClickHouse 18.16 cannot speak TLS to ZooKeeper.",
        (
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperAdmin.html#sc_advancedConfiguration",
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperAdmin.html#sc_adminserver_config",
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperJMX.html",
            "https://zookeeper.apache.org/doc/r3.8.0/zookeeperProgrammers.html#sc_ZooKeeperAccessControl",
        ),
        (),
    ),
)

BY_ID: dict[str, Control] = {control.id: control for control in CONTROLS}


def _index(attribute: str) -> dict[str, Control]:
    found: dict[str, Control] = {}
    for control in CONTROLS:
        for name in getattr(control, attribute):
            if name in found:
                raise AssertionError(f"{attribute} {name!r} belongs to {found[name].id} and {control.id}")
            found[name] = control
    return found


# Each check belongs to exactly one control (checked at import: a duplicate is a catalog bug).
BY_PROBE_RULE = _index("probe_rules")
BY_AUDIT_RULE = _index("audit_rules")
BY_VERIFY_CHECK = _index("verify_checks")


def for_template(concern: str) -> list[Control]:
    return [control for control in CONTROLS if concern in control.templates]


def for_spec_field(field: str) -> list[Control]:
    """Controls implemented by a spec field; `users[].networks` also matches `users[3].networks`."""
    normal = _normal_field(field)
    return [control for control in CONTROLS if normal in control.spec_fields]


def _normal_field(field: str) -> str:
    return re.sub(r"\[\d+\]", "[]", field)


def ids(controls: Iterable[Control]) -> str:
    return ", ".join(control.id for control in controls)
