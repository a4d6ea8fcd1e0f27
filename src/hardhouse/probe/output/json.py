"""The probe's report as JSON (the same document --json prints)."""

from __future__ import annotations

import json

from hardhouse.probe.model import ScanReport


def render_json(report: ScanReport) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str)
