"""Online audit (opt-in): what the running server reports, beside what its files say.

Files cannot show users created through SQL (`CREATE USER ... IDENTIFIED WITH no_password
HOST ANY` lands in the access directory, not in users.d). With credentials, the audit asks
the server itself: system.users for every account wherever it is stored. An account the
files do not define is reported (HH-DRIFT-1 when a spec is given), and each one is judged
by the same controls as file users (no password, any host).

The judging is pure: `online_findings` takes a query function. `native_query_function`
builds one over the native protocol with TLS, sending the password only after the server's
certificate validated against the CA given (a secret goes only to a verified peer).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardhouse.audit.model import Finding
from hardhouse.clickhouse import codes
from hardhouse.clickhouse.native import ServerError, Session
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, register

Query = Callable[[str], list[dict[str, Any]]]
# The accounts the running server reports, judged by the controls that judge file users.
ONLINE_USER = register(Tool.AUDIT, "online-user", ControlId.DRIFT_1)
ONLINE_PASSWORDLESS = register(Tool.AUDIT, "online-passwordless-user", ControlId.AUTH_1)
ONLINE_ANY_NETWORK = register(Tool.AUDIT, "online-any-network", ControlId.NET_1)
USERS_QUERY = (
    "SELECT name, storage, auth_type, host_ip, host_names, host_names_regexp, "
    "host_names_like FROM system.users ORDER BY name LIMIT 100000"
)
FILE_STORAGE = "users_xml"  # system.users.storage of accounts defined in users.xml / users.d
UNKNOWN_TABLE = 60


@dataclass
class OnlineResult:
    findings: list[Finding]
    note: str  # what was (or could not be) compared, for the report
    server_version: str = ""


def _any_host(row: dict[str, Any]) -> bool:
    for text in row.get("host_ip") or []:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if network.prefixlen == 0 or (
            network.version == 6 and network.supernet_of(ipaddress.ip_network("::ffff:0:0/96"))
        ):
            return True
    return any(pattern in ("%", "") for pattern in row.get("host_names_like") or []) or any(
        pattern in (".*", "^.*$", ".+") for pattern in row.get("host_names_regexp") or []
    )


def _auth_types(row: dict[str, Any]) -> list[str]:
    """auth_type is one Enum before 24.x and an array of them since (several methods per user)."""
    value = row.get("auth_type")
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def server_version(query: Query) -> str:
    """The running server's version() (18.16 answers it too)."""
    return str(query("SELECT version() AS v")[0]["v"])


def online_findings(query: Query, file_users: set[str], with_spec: bool, version: str | None = None) -> OnlineResult:
    """version: the server's, when the caller already asked (audit_tree does, to pick the rules)."""
    try:
        version = server_version(query) if version is None else version
        rows = query(USERS_QUERY)
    except OnlineUnsupported as error:
        return OnlineResult([], str(error))
    findings: list[Finding] = []
    for row in rows:
        name, storage = str(row["name"]), str(row["storage"])
        subject = f"user {name} (server, storage {storage})"
        if storage != FILE_STORAGE and with_spec:
            findings.append(
                Finding("online-user", subject, None, None, "exists on the server but in no configuration file")
            )
        elif storage == FILE_STORAGE and name not in file_users and with_spec:
            findings.append(
                Finding(
                    "online-user",
                    subject,
                    None,
                    None,
                    "the server runs it from users.xml but the files on disk do not define it (not reloaded?)",
                )
            )
        if "no_password" in _auth_types(row) and storage != FILE_STORAGE:
            findings.append(Finding("online-passwordless-user", subject, None, None, "logs in without a password"))
        if _any_host(row) and storage != FILE_STORAGE:
            findings.append(Finding("online-any-network", subject, None, None, "may log in from any address"))
    note = f"compared with ClickHouse {version}'s system.users ({len(rows)} accounts)"
    return OnlineResult(findings, note, version)


def refusal_text(error: ServerError) -> str:
    """Why the server could not be asked, named for what the code means (never a password)."""
    if error.code == codes.AUTHENTICATION_FAILED:
        return (
            "516 AUTHENTICATION_FAILED: the server refused the login of --user (a wrong password, an unknown "
            "user or an address outside its networks: modern servers do not say which)"
        )
    session_limit = codes.session_limit_only(error.code)
    if session_limit is not None:
        return f"{session_limit}; the accounts could not be read"
    if error.code == codes.ACCESS_DENIED:
        return "497 ACCESS_DENIED: --user may not read system.users (it needs SELECT ON system.users)"
    return f"Code: {error.code}. {error.message.split(' Stack trace:')[0]}"


class OnlineUnsupported(Exception):
    """The server cannot answer what the online audit asks (e.g. 18.16 has no system.users)."""


def native_query_function(address: str, port: int, user: str, password: str, ca: Path) -> Query:
    """Queries over native TLS (hardhouse.clickhouse.native: the certificate must validate
    against `ca` and name `address` before the password is sent). No settings are sent: a
    read-only profile refuses any."""
    session = Session(address, port, user, password, ca)

    def query(sql: str) -> list[dict[str, Any]]:
        try:
            return session.rows(sql)
        except ServerError as error:
            if error.code == UNKNOWN_TABLE:
                raise OnlineUnsupported(
                    "the server has no system.users (ClickHouse before 20.4 has no SQL-managed users): "
                    "only the files decide who logs in"
                ) from None
            raise

    return query
