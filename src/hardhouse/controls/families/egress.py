"""What the server may reach beyond itself: no outbound hosts it was not told of, no table
functions that read elsewhere unless the spec names them, file() confined to a directory of its own."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
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
        "Users get only the table functions the spec names",
        Severity.HIGH,
        "url(), s3() and remote() turn a stolen password into requests anywhere, file() into reads of the "
        "server's disk. Where users.d takes grants (23.6+) every user's rights are GRANT queries, with no "
        "source privilege unless users[].table_functions names it: 26.9 refuses the others with 497 (READ ON "
        "...). Before that there is no such grant: a profile with readonly 1 refuses every table function (164) "
        "and any other user keeps them all.",
        (f"{DOCS}/sql-reference/statements/grant#sources", f"{DOCS}/operations/settings/permissions-for-queries"),
        ("users[].table_functions", "users[].databases", "users[].profile"),
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
    ),
)
