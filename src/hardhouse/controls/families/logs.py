"""The log data hardhouse exists to protect, and what the server itself keeps about it: who may
read the log tables (and which rows), secrets masked in the server's own logs and hidden in
SHOW, logs encrypted at rest, system logs that expire and cannot be switched off, every login
recorded."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, INCIDENT, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.DATA_1,
        "Sensitive tables readable only by their readers",
        Severity.CRITICAL,
        "Log tables hold chat logs and API keys. Users are limited to the databases they need, "
        "readers are read-only, and writers cannot read back.",
        (INCIDENT, f"{DOCS}/operations/access-rights"),
        ("users[].databases", "users[].profile", "log_databases.*.writers", "log_databases.*.readers"),
        templates=("users", "profiles"),
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
    Control(
        ControlId.DATA_3,
        "Secrets redacted before log rows are stored",
        Severity.HIGH,
        "Shippers forward whatever applications print, API keys and bearer tokens included. Writers insert "
        "into an ingest table whose materialized view rewrites secret-shaped text before the row is stored, "
        "so no reader, replica or backup ever holds it; writers cannot insert into the stored table.",
        (INCIDENT, f"{DOCS}/sql-reference/statements/create/view#materialized-view"),
        ("log_databases.*.tables.*.redact",),
    ),
    Control(
        ControlId.DATA_4,
        "No secrets at rest in log tables",
        Severity.HIGH,
        "Rows stored before redaction, or by a path around it, may still hold keys. hardhouse scan counts "
        "secret-shaped rows per table and column on the server, as a read-only reader, and never reads a value.",
        (INCIDENT, f"{DOCS}/sql-reference/functions/string-search-functions#match"),
        ("log_databases.*.tables.*.redact",),
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
        feature="display_secrets_setting",
    ),
)
