"""An audit report as text (for people), JSON (for tooling) and SARIF 2.1.0 (for code scanning)."""

from hardhouse.audit.output.json import render_json
from hardhouse.audit.output.sarif import render_sarif
from hardhouse.audit.output.text import render_text

__all__ = ["render_json", "render_sarif", "render_text"]
