"""ClickHouse version profiles and the features each one has.

A spec names its target with `clickhouse_version` ("major.minor"). The renderer asks
`has(version, feature)` instead of comparing numbers itself, so every version gate lives
in the FEATURES table below, with the version it needs and how that was checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple


class Version(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


VERSION_PATTERN = re.compile(r"(\d{1,2})\.(\d{1,2})")

# 18.16 is Debian bookworm's server, the one that runs live on this project's machines.
LEGACY = Version(18, 16)
# 22.8 is the oldest LTS still met in the field; 26.x is what chdb-core embeds.
MODERN_MIN = Version(22, 8)
MODERN_MAX_MAJOR = 26

SUPPORTED_TEXT = "18.16, or 22.8 through 26.x"


def parse_version(text: str) -> Version:
    """Parse "major.minor"; raise ValueError with the fix when it is not a supported one."""
    match = VERSION_PATTERN.fullmatch(text)
    if not match:
        raise ValueError(f'"{text}" is not of the form major.minor (e.g. "24.8")')
    version = Version(int(match.group(1)), int(match.group(2)))
    if version != LEGACY and not (MODERN_MIN <= version and version.major <= MODERN_MAX_MAJOR):
        raise ValueError(f"ClickHouse {version} is not a supported target ({SUPPORTED_TEXT})")
    return version


@dataclass(frozen=True)
class Feature:
    since: Version
    what: str
    verified: str


# Each entry: the oldest supported profile that has the feature, and how we know.
# "docs" means the version comes from ClickHouse's changelog or pull requests; "embedded 26.9"
# means the rendered form was loaded (and, where it says so, exercised) in chdb-core's engine;
# "live 18.16" means Debian's server was run with it. Where the first release of a feature is
# not pinned down, the gate sits at the later candidate: refusing a feature a server has is a
# nuisance, rendering one it lacks is a silent hole.
FEATURES: dict[str, Feature] = {
    "mysql_port": Feature(MODERN_MIN, "the MySQL compatibility port (mysql_port)", "absent from 18.16's config.xml"),
    "postgresql_port": Feature(
        MODERN_MIN,
        "the PostgreSQL compatibility port (postgresql_port)",
        "absent from 18.16's config.xml",
    ),
    "grpc_port": Feature(MODERN_MIN, "the gRPC port (grpc_port)", "absent from 18.16's config.xml"),
    "ipv4_cidr_networks": Feature(
        MODERN_MIN,
        "IPv4 CIDR networks matched as IPv4 (<ip>10.0.0.0/8</ip>)",
        "live 18.16 applies the prefix to the IPv4-mapped IPv6 address (so /8 admits every IPv4 "
        "client); the renderer writes ::ffff:A.B.C.D/(N+96) there, checked live",
    ),
    "access_management": Feature(
        MODERN_MIN,
        "SQL-driven access management (access_management)",
        "18.16 has no SQL RBAC; parsed by the embedded 26.9 engine",
    ),
    "refuse_insecure_auth": Feature(
        MODERN_MIN,
        "server-wide refusal of passwordless and plaintext-password users "
        "(allow_no_password, allow_plaintext_password)",
        "docs: PR #34738 (March 2022, before 22.8); embedded 26.9 refuses to load a users.d user with "
        "<no_password/> or <password> when both are 0; absent from 18.16's library",
    ),
    "refuse_implicit_no_password": Feature(
        Version(22, 10),
        "refusal of CREATE USER without IDENTIFIED WITH (allow_implicit_no_password)",
        "docs: PR #41341 (opened September 2022, after 22.9 was cut, so gated at 22.10); "
        "loaded without error by embedded 26.9",
    ),
    "scram_sha256_hash": Feature(
        Version(26, 9),
        "SCRAM-SHA-256 password hashes in users.d (password_scram_sha256_hex)",
        "embedded 26.9 reads it and checks a password against it (PBKDF2-HMAC-SHA256, empty salt, "
        "4096 rounds); issue #86510 (September 2025) shows 25.8 refusing it in users.xml; the "
        "first release that reads it is not pinned down, so it is gated at the verified 26.9; before it, SHA-256 "
        "(bcrypt is not readable from users.d)",
    ),
    "ssl_certificate_auth": Feature(
        MODERN_MIN,
        "users authenticated by client certificate (ssl_certificates/common_name)",
        "docs: PR #31484 (November 2021, before 22.8); embedded 26.9 parses it and refuses a "
        "password login for such a user (516); absent from 18.16's library",
    ),
    "query_masking_rules": Feature(
        MODERN_MIN,
        "query masking rules (query_masking_rules)",
        "docs: PR #5710 (2019, 19.14); absent from 18.16's library; merged without error by the "
        "embedded 26.9 config processor, which never applies them (clickhouse-local has no masker); live 18.16 "
        "shows the leak masking prevents; the query-log test needs an official image and skips here",
    ),
    "users_xml_grants": Feature(
        Version(23, 6),
        "GRANT queries for users in users.d (grants/query), needed for insert-only writers and for giving "
        "table functions one by one (users[].table_functions)",
        "docs: PR #49381 (opened 2023-05-02; released in 23.5 or 23.6, gated at 23.6); embedded "
        "26.9: an INSERT-only writer cannot SELECT or DROP (497), a user is refused every table function it does "
        "not name (497); before it, log readers are an allow-list plus a read-only profile (live 18.16: 164 / 291)",
    ),
    "table_ttl": Feature(
        MODERN_MIN,
        "table retention (TTL)",
        "docs: MergeTree TTL since 19.6; 18.16 refuses the TTL clause (live 18.16); "
        "embedded 26.9 creates the rendered tables",
    ),
    "encrypted_disk": Feature(
        MODERN_MIN,
        "encrypted disks and storage policies (storage_configuration, disk type encrypted)",
        "docs: PR #24206 (21.9), AES_256_CTR and key_hex PR #26377/#26465 (21.9); absent from "
        "18.16's library; embedded 26.9: no plaintext on disk, a wrong key is refused",
    ),
    "hide_in_preprocessed": Feature(
        Version(23, 10),
        "keeping a value out of preprocessed_configs (hide_in_preprocessed)",
        "docs: PR #53818 (opened 2023-08-25, after 23.8; gated at 23.10); accepted by embedded 26.9",
    ),
    # Clusters (HH-CLUSTER-*, HH-ZK-1). 18.16's server binary names interserver_https_port,
    # interserver_https_host and interserver_http_credentials.user/.password, its library
    # (libclickhouse.so.18.16) names remote_servers, .secure and zookeeper identity, and neither
    # names secret, allow_empty, keeper_server or raft (checked with `strings`).
    "interserver_credentials_rotation": Feature(
        MODERN_MIN,
        "rotating interserver credentials without downtime (interserver_http_credentials/old, allow_empty)",
        "docs (interserver_http_credentials: <old>, <allow_empty>; first release not pinned here, so "
        "gated at the oldest modern target, 22.8); 18.16's server binary reads only .user and .password, "
        "and allow_empty appears nowhere in it or its library; merged without error by embedded 26.9 "
        "(which never serves interserver requests)",
    ),
    "cluster_secret": Feature(
        MODERN_MIN,
        "the shared cluster secret for Distributed queries (remote_servers/<cluster>/secret)",
        "docs (remote_servers <secret>, 20.10 or later; gated at 22.8); absent from 18.16's binary and "
        "library; embedded 26.9 loads the rendered remote_servers and lists the cluster in "
        "system.clusters (the secret's use between nodes is not exercised here)",
    ),
    "replication_without_tcp_port": Feature(
        MODERN_MIN,
        "replicated tables with the plaintext native port (tcp_port) closed",
        "live 18.16: with tcp_port removed and ZooKeeper set, the server will not start while "
        "distributed_ddl is set, and without it every replicated table's restarting thread fails "
        "with 'Not found: tcp_port' (a replica registers that port in ZooKeeper); modern servers "
        "read tcp_port with a default (docs), not exercised here: the embedded engine replicates nothing",
    ),
    "keeper": Feature(
        MODERN_MIN,
        "ClickHouse Keeper in the server (keeper_server, raft secure, tcp_port_secure)",
        "docs (ClickHouse Keeper, 21.x; gated at 22.8); absent from 18.16's binary and library; the "
        "rendered keeper_server is merged without error by embedded 26.9, which reads the secure "
        "client list (keeper_hosts) but does not start Keeper",
    ),
    # Settings constraints, system log retention, secrets in SHOW.
    "settings_constraints": Feature(
        MODERN_MIN,
        "settings constraints in profiles (constraints: min, max, readonly)",
        "live 18.16 answers 115 (Unknown setting constraints) to every login of a user whose profile has "
        "<constraints>, and does not start when the default profile has them; embedded 26.9 answers 452 "
        "(SETTING_CONSTRAINT_VIOLATION) to SET below min, above max or of a readonly setting, as the rendered user",
    ),
    "system_log_ttl": Feature(
        Version(23, 8),
        "retention (ttl) of system log tables (query_log, query_thread_log, part_log, text_log, trace_log, "
        "session_log)",
        "live 18.16 ignores <ttl> in <query_log> (SHOW CREATE TABLE system.query_log has no TTL; its "
        "MergeTree has none); embedded 26.9 shows TTL event_date + toIntervalDay(N) in SHOW CREATE TABLE of "
        "each table after SYSTEM FLUSH LOGS; the first release that reads <ttl> is not pinned down here and a "
        "server that does not know it ignores it silently (as 18.16 does), so it is gated at the LTS 23.8",
    ),
    "session_log": Feature(
        MODERN_MIN,
        "the login log (system.session_log)",
        "absent from live 18.16's system.tables; embedded 26.9 writes a LoginSuccess row with user, auth "
        "type and client address for the session's login; not run on 22.8-26.8 here (a server without it "
        "ignores the section: no record, no failure)",
    ),
    "display_secrets_setting": Feature(
        Version(23, 8),
        "the switches that show secrets in SHOW and SELECT (display_secrets_in_show_and_select, "
        "format_display_secrets_in_show_and_select)",
        "both in embedded 26.9 (system.server_settings, system.settings; a constraint locks the format "
        "setting: 452); absent from 18.16; the first release is not pinned down here (2023), so it is "
        "gated at the LTS 23.8: a profile naming an unknown setting stops a server; embedded 26.9: SHOW CREATE of "
        "a view over s3(...) shows [HIDDEN], with both on and unlocked it prints the key",
    ),
    # The HTTP surface, egress and files, the password policy, row filters.
    "http_handlers": Feature(
        MODERN_MIN,
        "custom HTTP handlers (http_handlers rules; without <defaults/> only the listed ones are served)",
        "docs: PR #7572 (2020) and PR #11628 (<defaults/>, June 2020), both before 22.8; live 18.16 has no "
        "http_handlers and serves no web page (/play, /dashboard, /binary answer 404); merged without error by "
        "embedded 26.9, which opens no HTTP listener, so the handler list itself is not exercised here",
    ),
    "remote_url_allow_hosts": Feature(
        MODERN_MIN,
        "an allow-list of hosts for url(), s3(), remote() and URL engines (remote_url_allow_hosts)",
        "docs: added in 2019 (19.x), before 22.8; absent from 18.16's config.xml; merged without error by "
        "embedded 26.9, whose clickhouse-local never applies it (url() to a host outside it still connects)",
    ),
    "send_crash_reports": Feature(
        MODERN_MIN,
        "crash reports to Sentry (send_crash_reports)",
        "docs: added in 2020 (20.x), before 22.8; absent from 18.16's config.xml; merged without error by "
        "embedded 26.9",
    ),
    "password_policy": Feature(
        Version(23, 3),
        "server-side password rules for SQL users (password_complexity, default_password_type)",
        "docs: PR #43719 (password_complexity, opened 2022-11-25) and PR #44674 (default_password_type, opened "
        "2022-12-28, reviewed into January 2023); release not pinned down, gated at 23.3; chdb-core 26.9's "
        "library carries both names but its clickhouse-local never reads them (300 rules and an invalid pattern "
        "both load silently) and has no writable access storage, so CREATE USER answers 514 before any check",
    ),
    "view_definer": Feature(
        Version(24, 3),
        "a materialized view that writes with its definer's rights (SQL SECURITY DEFINER)",
        "docs: PR #60439 (merged 2024-02-27, after 24.2 branched; gated at 24.3); before it the user inserting "
        "into a view's source also needs INSERT on its target (ClickHouse issue #19228), so a redacting view "
        "cannot keep writers off the stored table; embedded 26.9: a writer with INSERT on the ingest table "
        "only has its row stored, redacted, and is refused (497) on the stored table",
    ),
    "users_xml_row_filters": Feature(
        Version(23, 6),
        "per-user row filters in users.d (<databases><db><table><filter>) beside table-level grants",
        "docs: users.xml row filters since 2019 (19.x), table grants need users_xml_grants (23.6), so the pair "
        "is gated at 23.6; embedded 26.9: a limited reader sees only the rows its filter admits, is refused "
        "(497) another table of the database, and an owner still sees every row",
    ),
}


# Column type families 18.16 knows. Every other family the spec accepts needs a modern target:
# checked live on Debian's 18.16 (CREATE TABLE ... ENGINE = Memory with each family answers
# code 50 UNKNOWN_TYPE for IPv4, IPv6, Bool, Date32, Int/UInt128/256, Decimal256, DateTime64
# and Map, and code 44 for LowCardinality, which 18.16 only has behind an experimental setting).
LEGACY_TYPE_FAMILIES = frozenset(
    {
        "String",
        "UUID",
        "Float32",
        "Float64",
        "Date",
        "DateTime",
        "FixedString",
        "Decimal",
        "Decimal32",
        "Decimal64",
        "Decimal128",
        "Enum8",
        "Enum16",
        "Array",
        "Nullable",
        "Tuple",
        *(f"{sign}Int{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)),
    }
)


def has(version: Version, feature: str) -> bool:
    return version >= FEATURES[feature].since


def needs_message(feature: str, version: Version) -> str:
    """The sentence that tells a user which version a feature needs."""
    info = FEATURES[feature]
    return f"{info.what} needs ClickHouse {info.since} or later; clickhouse_version is {version}"
