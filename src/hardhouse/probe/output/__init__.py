"""The probe's report as a person reads it (text), as a program reads it (json), and as code
scanning dashboards read it (sarif)."""

from hardhouse.probe.output.json import render_json
from hardhouse.probe.output.sarif import render_sarif
from hardhouse.probe.output.text import render_text

__all__ = ["render_json", "render_sarif", "render_text"]
