"""Issue 12's render decisions for the HTTP surface, egress and files, and the server-side
password policy: which concern files a spec gets and with what context. build.render() appends
what plan() returns; every version decision goes through hardhouse.clickhouse.versions."""

from __future__ import annotations

from typing import Any

from hardhouse.render.credentials import MIN_LENGTH
from hardhouse.spec.egress import NO_REMOTE_HOST
from hardhouse.spec.http import CORS_SETTING, STACK_TRACE_SETTING, response_settings, serves_only_listed_handlers
from hardhouse.spec.model import HardeningSpec
from hardhouse.spec.settings import rendered_profiles
from hardhouse.spec.users import server_password_policy

# The render-time judge's length rule, as the server's password_complexity can state it.
# (The judge also refuses guessable passwords; no regular expression can.)
PASSWORD_RULES = ({"pattern": f".{{{MIN_LENGTH}}}", "message": f"be at least {MIN_LENGTH} characters long"},)


def response_profiles(spec: HardeningSpec) -> list[dict[str, Any]]:
    """Per profile the values to write: every profile the rendered users.d defines or merges into
    (ClickHouse's stock ones too: `default` is what a connection runs with before its login is
    accepted); a value the spec's own profile sets is left to it."""
    values = response_settings(spec)
    out = []
    for name in rendered_profiles(spec):
        own = spec.profiles.get(name, {})
        out.append(
            {
                "name": name,
                "stack_trace": None if STACK_TRACE_SETTING in own else values[STACK_TRACE_SETTING],
                "cors": None if CORS_SETTING in own else values[CORS_SETTING],
            }
        )
    return out


def plan(spec: HardeningSpec) -> list[tuple[str, str, dict[str, Any]]]:
    """(subdir, concern, context) for each issue 12 file this spec gets."""
    entries: list[tuple[str, str, dict[str, Any]]] = [
        (
            "config.d",
            "egress",
            {
                "hosts": spec.egress.remote_url_allow_hosts,
                "no_remote_host": NO_REMOTE_HOST,
                "crash_reports": spec.egress.send_crash_reports,
                "user_files_path": spec.egress.user_files_path,
            },
        )
    ]
    if serves_only_listed_handlers(spec):
        entries.append(("config.d", "http_handlers", {}))
    if server_password_policy(spec):
        entries.append(
            (
                "config.d",
                "password_policy",
                {"rules": PASSWORD_RULES, "password_type": spec.password_policy.sql_password_type},
            )
        )
    entries.append(("users.d", "responses", {"profiles": response_profiles(spec)}))
    return entries
