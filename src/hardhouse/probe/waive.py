"""Waivers applied to a finished scan: a finding whose control a live waiver covers at that
endpoint (by host or host:port) is marked waived and no longer fails the scan; it stays in
every report. An expired waiver is attached too, so the report says it lapsed."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hardhouse.controls.waivers import Waiver, judge
from hardhouse.probe.model import ScanReport


def apply_waivers(report: ScanReport, waivers: list[Waiver], today: dt.date | None = None) -> None:
    if not waivers:
        return
    for endpoint in report.endpoints:
        names = (endpoint.address, endpoint.host, f"{endpoint.host}:{endpoint.port}")
        endpoint.findings = [
            dataclasses.replace(finding, waiver=verdict.as_dict())
            if (verdict := judge(waivers, finding.control, names, today)).waiver
            else finding
            for finding in endpoint.findings
        ]
