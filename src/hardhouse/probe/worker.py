"""Blocking clients (sslyze, clickhouse-driver) in a child process that the caller's deadline
can end. A thread cannot be cancelled: a peer that drips one byte every few seconds would keep
one alive past any timeout, and an endless answer would grow it without bound. A child can be
killed at the deadline, and its address space is capped, so whatever a server sends, the
probe's memory stays flat.

Parent: `await run_job(kind, arguments, deadline)` -> the job's JSON answer.
Child:  `python -m hardhouse.probe.worker` answers requests (hardhouse.childproc: kind = the
job, body = its keyword arguments) on stdin, one after another, until stdin closes: a one-shot
child gets one request, a JobServer's many. Jobs live in JOBS below; each returns a JSON-able
value. The one-shot transports stay here (the memory cap, the kill at the deadline, the spare
child); a JobServer keeps its child as a childproc.Child with the same bounds, and the
messages are childproc's.
"""

from __future__ import annotations

import atexit
import importlib
import os
import resource
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hardhouse.childproc import (
    LONG_REPLY,
    NOT_A_REPLY,
    Child,
    ChildEnded,
    ChildFailed,
    NoAnswerInTime,
    ProtocolError,
    Refused,
    Request,
    decode_reply,
    encode,
    serve,
)

if TYPE_CHECKING:
    import asyncio

MEMORY_CAP = 1024 * 1024 * 1024  # address space of one child (sslyze's threads reserve stacks)
OUTPUT_CAP = 4 * 1024 * 1024  # bytes of JSON a child may answer with
WARM_FLAG = "--warm"  # a spare child (prewarm): load the TLS scanner before reading its job
REQUEST_CAP = 1 << 20  # bytes of one job's request


class JobFailed(Exception):
    """The child did not answer in time, died, or answered something unreadable."""


def _command(warm: bool) -> list[str]:
    return [sys.executable, "-m", "hardhouse.probe.worker", *([WARM_FLAG] if warm else [])]


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def _limit_memory() -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


async def run_job(kind: str, arguments: dict[str, Any], deadline: float) -> Any:
    """Run one job in a fresh child; kill it when `deadline` seconds have passed."""
    import asyncio  # here, not at the top: a worker child (which imports this module) never needs it

    process = await asyncio.create_subprocess_exec(
        *_command(warm=False),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_limit_memory,
        env=_environment(),
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(encode(Request(1, kind, arguments)))
        process.stdin.close()
        output = await asyncio.wait_for(_read_capped(process.stdout), deadline)
        await asyncio.wait_for(process.wait(), max(1.0, deadline))
    except TimeoutError:
        raise JobFailed(f"did not finish within {deadline:g}s") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return _answer(output, process.returncode)


# --- blocking callers (verification, assertions): one spare child may be started ahead -------

_spare: subprocess.Popen[bytes] | None = None
_spare_lock = threading.Lock()
_reaper_registered = False


def _spawn(warm: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _command(warm),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=_limit_memory,
        env=_environment(),
    )


def prewarm() -> None:
    """Start a child now that imports the TLS scanner while it waits, for the next
    run_job_sync: its start-up then overlaps whatever the caller does meanwhile (a container
    starting, the steps of a deploy). Idempotent; the spare ends when this process does (or
    at discard_spare), and on its own when this process dies first (its stdin closes)."""
    global _spare, _reaper_registered
    with _spare_lock:
        if _spare is None or _spare.poll() is not None:
            _spare = _spawn(warm=True)
            if not _reaper_registered:
                atexit.register(discard_spare)
                _reaper_registered = True


def discard_spare() -> None:
    """End the spare child, if one waits (it has no job yet, so nothing is lost)."""
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None:
        if spare.poll() is None:
            spare.kill()
        spare.wait()
        for stream in (spare.stdin, spare.stdout):
            if stream is not None:
                stream.close()


def run_job_sync(kind: str, arguments: dict[str, Any], deadline: float) -> Any:
    """run_job for blocking callers: the spare child if one is ready, else a fresh one; killed
    at the deadline, its answer read up to OUTPUT_CAP."""
    global _spare
    with _spare_lock:
        process, _spare = (_spare, None) if _spare is not None and _spare.poll() is None else (None, _spare)
    process = process or _spawn(warm=False)
    ends = time.monotonic() + deadline
    output = bytearray()
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(encode(Request(1, kind, arguments)))
        process.stdin.close()
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while len(output) <= OUTPUT_CAP:
                left = ends - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise JobFailed(f"did not finish within {deadline:g}s")
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                output += chunk
        if len(output) > OUTPUT_CAP:
            raise JobFailed("answered more than the probe reads")
        process.wait(max(0.1, ends - time.monotonic()))
    except (OSError, subprocess.TimeoutExpired):
        raise JobFailed(f"did not finish within {deadline:g}s") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    return _answer(bytes(output), process.returncode)


class JobServer:
    """One warm child answering jobs one after another, each under its own deadline: for a
    process that asks for many short jobs at moments it cannot foresee (the deploy's checks
    from outside ask for one quick TLS posture per host, as each host's turn comes), which
    would otherwise start a child (and load the TLS scanner) for each. The child is a
    hardhouse.childproc.Child with the one-shot child's bounds: memory capped, stderr
    discarded, its answer read up to OUTPUT_CAP, any line that is not a reply ending it. A job
    that overruns its deadline, or a child that dies or answers what cannot be read, ends the
    child: that job fails, and the next one starts a fresh child. Callers are served one at a
    time (the lock), so an ended child never holds another caller's job."""

    def __init__(self, module: str = "hardhouse.probe.worker", args: tuple[str, ...] = (WARM_FLAG,)) -> None:
        self._module, self._args = module, args  # another module: tests' stand-in children
        self._lock = threading.Lock()
        self._child: Child | None = None

    def start(self) -> None:
        """Start the child now (idempotent), so that it loads the TLS scanner ahead of its first job."""
        with self._lock:
            self._started()

    def run(self, kind: str, arguments: dict[str, Any], deadline: float) -> Any:
        with self._lock:
            child = self._started()
            try:
                answers = list(child.submit(kind, arguments).parts(deadline))
            except NoAnswerInTime:
                self._end()
                raise JobFailed(f"did not finish within {deadline:g}s") from None
            except ChildEnded:
                self._end()
                raise JobFailed(_ENDED_FOR.get(child.cut_off, "the worker child ended without an answer")) from None
            except ChildFailed as error:  # the job's own refusal: the child stays
                raise JobFailed(str(error)[:200]) from None
            return answers[-1] if answers else None

    def close(self) -> None:
        with self._lock:
            self._end()

    def _started(self) -> Child:
        if self._child is None or not self._child.running:
            self._end()
            self._child = Child(
                self._module,
                self._args,
                max_reply=OUTPUT_CAP,
                name="the worker child",
                strict=True,
                preexec_fn=_limit_memory,
                env=_environment(),
                keep_stderr=False,
            )
            self._child.start()
            # Registered again after each child's own (atexit runs the last first): at exit the
            # child is killed now, not waited for.
            atexit.unregister(self.close)
            atexit.register(self.close)
        return self._child

    def _end(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.close(timeout=0)
            atexit.unregister(child.close)


# What a job gets when its JobServer child was killed for what it sent.
_ENDED_FOR = {LONG_REPLY: "answered more than the probe reads", NOT_A_REPLY: "ended with status None and no answer"}


def _answer(output: bytes, status: int | None) -> Any:
    if len(output) > OUTPUT_CAP:
        raise JobFailed("answered more than the probe reads")
    try:
        reply = decode_reply(output)
    except ProtocolError:
        raise JobFailed(f"ended with status {status} and no answer") from None
    if reply.error is not None:
        raise JobFailed(reply.error[:200])
    return reply.answer


async def _read_capped(stream: asyncio.StreamReader) -> bytes:
    output = bytearray()
    while len(output) <= OUTPUT_CAP:
        chunk = await stream.read(65536)
        if not chunk:
            break
        output += chunk
    return bytes(output)


# Job kind -> (module, function); a child imports only its own job's module.
JOBS = {
    "tls_posture": ("hardhouse.probe.tls", "tls_posture_job"),
    "tls_quick_posture": ("hardhouse.probe.tls", "tls_quick_posture_job"),
    "native_inventory": ("hardhouse.probe.enumerate", "native_inventory_job"),
    "count_secrets": ("hardhouse.probe.weigh", "count_job"),
    "zookeeper_session": ("hardhouse.probe.zookeeper", "session_job"),
}
# What a child started with WARM_FLAG loads while it waits for its job (a quick TLS posture's).
WARM_UP = ("hardhouse.probe.tls", "warm_up")


def _function(module: str, function: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def _job(kind: str) -> Callable[..., Any]:
    return _function(*JOBS[kind])


def _handler(kind: str) -> Callable[[dict[str, Any]], Any]:
    def run(arguments: dict[str, Any]) -> Any:
        try:
            return _job(kind)(**arguments)
        except MemoryError:
            raise Refused("ran out of its memory cap (the server sent too much)") from None

    return run


def main() -> None:
    if WARM_FLAG in sys.argv:
        # A spare or server started ahead of its job (prewarm, JobServer.start, for a quick TLS
        # posture): load what that job needs while it waits.
        _function(*WARM_UP)()
    serve({kind: _handler(kind) for kind in JOBS}, sys.stdin.buffer, sys.stdout.buffer, max_request=REQUEST_CAP)
    # Every answer is out: end now. Tearing down an interpreter that loaded sslyze takes about
    # 50 ms, and the parent reads until end of file. Sockets and threads end with the process.
    os._exit(0)


if __name__ == "__main__":
    main()
