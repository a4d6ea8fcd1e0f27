"""The audit report as one JSON document per run (a list of reports, one per tree or host)."""

from __future__ import annotations

import json

from hardhouse.audit.model import AuditReport


def render_json(reports: list[AuditReport]) -> str:
    return json.dumps({"ok": all(r.ok for r in reports), "reports": [r.as_dict() for r in reports]}, indent=2)
