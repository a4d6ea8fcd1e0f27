"""The egress section's file: the hosts table functions may reach, file()'s directory and
crash reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardhouse.spec.egress import NO_REMOTE_HOST

if TYPE_CHECKING:
    from hardhouse.render.inputs import RenderInput


def egress(given: RenderInput) -> dict[str, Any]:
    spec = given.spec
    return {
        "hosts": spec.egress.remote_url_allow_hosts,
        "no_remote_host": NO_REMOTE_HOST,
        "crash_reports": spec.egress.send_crash_reports,
        "user_files_path": spec.egress.user_files_path,
    }
