"""What a deploy step tells the operator from inside pyinfra's run (FunctionCommand callbacks):
lines in red that stand beside a step, or that fail the host."""

from __future__ import annotations

from typing import Any


def log_lines(state: Any, host: Any, lines: list[str]) -> bool:
    """Show the lines; the step goes on."""
    for line in lines:
        host.log_styled(line, fg="red")
    return True


def fail_with_lines(state: Any, host: Any, lines: list[str]) -> bool:
    """Show the lines and fail the host."""
    log_lines(state, host, lines)
    return False
