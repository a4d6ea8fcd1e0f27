"""Running a hardhouse module as a child of the deploy: `python -m MODULE` with a JSON request
on stdin and a JSON answer on stdout. The child keeps network clients (TLS scanner, ClickHouse
drivers) out of pyinfra's gevent-patched process; secrets are read by the child where the spec
names them, never passed in the request."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def run_child(module: str, request: dict[str, Any], timeout: float) -> tuple[dict[str, Any] | None, str]:
    """(the child's JSON answer, "") or (None, why there is none: the last lines it printed,
    or the timeout)."""
    try:
        completed = subprocess.run(
            [sys.executable, "-m", module],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, f"no answer within {timeout:.0f} s"
    try:
        answer = json.loads(completed.stdout)
    except json.JSONDecodeError:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        return None, " / ".join(line.strip() for line in tail) or "no answer"
    if not isinstance(answer, dict):
        return None, f"{module} answered {type(answer).__name__}, not an object"
    return answer, ""
