"""Ending a server process the fixtures started: SIGTERM, then SIGKILL after a grace period."""

from __future__ import annotations

import subprocess


def end_process(process: subprocess.Popen[bytes] | None, grace: float) -> None:
    """Stop `process` (nothing when it never started or already ended) and reap it."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
