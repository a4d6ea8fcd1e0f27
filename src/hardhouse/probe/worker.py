"""Blocking clients (sslyze, clickhouse-driver) in a child process that the caller's deadline
can end. A thread cannot be cancelled: a peer that drips one byte every few seconds would keep
one alive past any timeout, and an endless answer would grow it without bound. A child can be
killed at the deadline, and its address space is capped, so whatever a server sends, the
probe's memory stays flat.

Parent: `await run_job(kind, arguments, deadline)` -> the job's JSON answer.
Child:  `python -m hardhouse.probe.worker` reads {"kind", "arguments"} on stdin and writes one
JSON document on stdout. Jobs live in JOBS below; each takes keyword arguments and returns a
JSON-able value.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

MEMORY_CAP = 1024 * 1024 * 1024  # address space of one child (sslyze's threads reserve stacks)
OUTPUT_CAP = 4 * 1024 * 1024  # bytes of JSON a child may answer with


class JobFailed(Exception):
    """The child did not answer in time, died, or answered something unreadable."""


def _limit_memory() -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


async def run_job(kind: str, arguments: dict[str, Any], deadline: float) -> Any:
    """Run one job in a fresh child; kill it when `deadline` seconds have passed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hardhouse.probe.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_limit_memory,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"kind": kind, "arguments": arguments}).encode())
        process.stdin.close()
        output = await asyncio.wait_for(_read_capped(process.stdout), deadline)
        await asyncio.wait_for(process.wait(), max(1.0, deadline))
    except TimeoutError:
        raise JobFailed(f"did not finish within {deadline:g}s") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if len(output) > OUTPUT_CAP:
        raise JobFailed("answered more than the probe reads")
    try:
        answer = json.loads(output)
    except ValueError:
        raise JobFailed(f"ended with status {process.returncode} and no answer") from None
    if "error" in answer:
        raise JobFailed(str(answer["error"])[:200])
    return answer["result"]


async def _read_capped(stream: asyncio.StreamReader) -> bytes:
    output = bytearray()
    while len(output) <= OUTPUT_CAP:
        chunk = await stream.read(65536)
        if not chunk:
            break
        output += chunk
    return bytes(output)


def _jobs() -> dict[str, Callable[..., Any]]:
    from hardhouse.probe.enumerate import native_inventory_job
    from hardhouse.probe.tls import tls_old_versions_job, tls_posture_job

    return {
        "tls_posture": tls_posture_job,
        "tls_old_versions": tls_old_versions_job,
        "native_inventory": native_inventory_job,
    }


def main() -> None:
    request = json.loads(sys.stdin.read(1 << 20))
    try:
        result = _jobs()[request["kind"]](**request["arguments"])
        answer: dict[str, Any] = {"result": result}
    except MemoryError:
        answer = {"error": "ran out of its memory cap (the server sent too much)"}
    except Exception as error:  # the job's failure is the answer; the parent decides what it means
        answer = {"error": f"{type(error).__name__}: {error}"}
    sys.stdout.write(json.dumps(answer, default=str))


if __name__ == "__main__":
    main()
