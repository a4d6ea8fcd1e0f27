"""Who may log in, and with what: no passwordless login, passwords stored as hashes, no well-known
passwords, and the same rule for passwords set through SQL."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, INCIDENT, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

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
)
