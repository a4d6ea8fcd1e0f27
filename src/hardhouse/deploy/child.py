"""The deploy's helper child (hardhouse.deploy.service): verification and log-database
requests answered outside pyinfra's gevent-patched process, which keeps network clients (TLS
scanner, ClickHouse drivers) away from gevent; secrets are read by the child where the spec
names them, never passed in a request. One child serves every host of a run."""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import subprocess
import sys
import threading
from typing import Any

STDERR_LINES = 20  # what a dead service child said last, kept to explain the failure
STDERR_WAIT = 2.0  # seconds to wait for the rest of what a dead child wrote to stderr
ANSWER_LIMIT = 16 * 1024 * 1024  # one answer line from the service child


class Service:
    """The parent's side of hardhouse.deploy.service: one child for the whole deploy run,
    started on first use, answering every host's requests concurrently. Inside pyinfra the
    threading primitives are gevent's (pyinfra patches them), so each host's greenlet waits on
    its own answer while the others go on."""

    def __init__(self, module: str = "hardhouse.deploy.service") -> None:
        self.module = module
        self._start = threading.Lock()
        self._write = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._pending: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._ids = itertools.count(1)
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._ended = ""
        self._stderr_reader: threading.Thread | None = None

    def call(self, handler: str, request: dict[str, Any], timeout: float) -> tuple[dict[str, Any] | None, str]:
        """(the handler's answer, "") or (None, why there is none)."""
        return self.submit(handler, request).wait(timeout)

    def submit(self, handler: str, request: dict[str, Any]) -> Pending:
        """Send a request now; its answer is waited for later (Pending.wait)."""
        ident = next(self._ids)
        pending = Pending(self, ident, handler)
        self._pending[ident] = (pending.done, pending.box)
        try:
            process = self._started()
            if self._ended:
                self._pending.pop(ident, None)
                return pending.failed(self._ended)
            line = json.dumps({"id": ident, "handler": handler, "request": request}) + "\n"
            with self._write:
                assert process.stdin is not None
                process.stdin.write(line)
                process.stdin.flush()
        except (OSError, ValueError) as error:
            self._pending.pop(ident, None)
            return pending.failed(f"the deploy's helper process is not running: {error}")
        return pending

    def start(self) -> None:
        """Start the child now (idempotent), so that its imports overlap the steps before its first use."""
        self._started()

    def close(self, timeout: float = 10.0) -> None:
        process = self._process
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def _started(self) -> subprocess.Popen[str]:
        with self._start:
            if self._process is None:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", self.module],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
                self._stderr_reader.start()
                threading.Thread(target=self._read_answers, daemon=True).start()
                atexit.register(self.close)
            return self._process

    def _read_answers(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        while True:
            line = stdout.readline(ANSWER_LIMIT + 1)
            if not line or len(line) > ANSWER_LIMIT:
                break
            try:
                message = json.loads(line)
                waiter = self._pending.pop(message["id"], None)
            except (ValueError, KeyError, TypeError):
                continue
            if waiter is not None:
                waiter[1].append(message)
                waiter[0].set()
        # The child ended (or said something unreadable): every waiting call learns why.
        self._process.wait()
        # Its last words may still be in the pipe: let the stderr reader reach the end (bounded:
        # a grandchild could hold the pipe open).
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=STDERR_WAIT)
        said = " / ".join(line.strip() for line in list(self._stderr)[-3:])
        self._ended = f"the deploy's helper process ended ({said or f'status {self._process.returncode}'})"
        for ident in list(self._pending):
            waiter = self._pending.pop(ident, None)
            if waiter is not None:
                waiter[1].append({"error": self._ended})
                waiter[0].set()

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line[:500])


class Pending:
    """A request sent to the helper child, and its answer once it comes."""

    def __init__(self, service: Service, ident: int, handler: str) -> None:
        self.service, self.ident, self.handler = service, ident, handler
        self.done = threading.Event()
        self.box: list[Any] = []

    def failed(self, why: str) -> Pending:
        self.box.append({"error": why})
        self.done.set()
        return self

    def wait(self, timeout: float) -> tuple[dict[str, Any] | None, str]:
        """(the handler's answer, "") or (None, why there is none)."""
        if not self.done.wait(timeout):
            self.service._pending.pop(self.ident, None)
            return None, f"no answer within {timeout:.0f} s"
        message = self.box[0]
        if "error" in message:
            return None, str(message["error"])
        answer = message.get("answer")
        if not isinstance(answer, dict):
            return None, f"{self.handler} answered {type(answer).__name__}, not an object"
        return answer, ""


SERVICE = Service()
