"""One protocol for every Python child hardhouse starts, and both of its ends.

hardhouse runs some work in a child process: blocking clients a deadline must be able to kill
(the probe's worker), network clients kept out of pyinfra's gevent-patched process (the
deploy's helper), pyinfra's own inventory loading (the audit's host reads), and the embedded
engine. They all speak this, one JSON document per line, each line bounded:

    parent -> child   {"id": 7, "kind": "verify", "body": {...}}
    child -> parent   {"id": 7, "answer": ...}   or   {"id": 7, "error": "why"}
                      preceded by {"id": 7, "part": ...} lines when the answer comes in parts

A child serves its handlers (kind -> function of the body) with `serve`: one at a time or
several at once, a generator's values sent as parts as they come, a handler's exception sent
as the error (a Refused as it is, anything else with its type's name). A parent that keeps a
child for many requests uses `Child`: requests go out as they are made, replies are matched
by id, a request waits under its own timeout, and a child that dies, or says what cannot be
read, fails every request it holds with the reason. Options serve a child that must be
bounded (the probe worker's JobServer: a memory cap, stderr discarded, any line that is not a
reply ending the child). Callers that start one short-lived child per request with a transport
of their own (the probe worker's one-shot jobs, killed at their deadline; the embedded
engine's files, since the engine writes to its own stdout) still write and read these
messages with `encode` and `decode_reply` / `decode_request`.

What a child is asked never carries a secret: children read passwords where the spec names
them. Bodies are checked where they are answered (each handler turns its body into its own
typed request, and refuses one it cannot). Light on purpose (no dataclasses, no inspect): the
probe's worker children import it, and their start-up is part of every TLS verdict."""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, NamedTuple

MAX_REQUEST = 4 * 1024 * 1024  # bytes of one request line (a spec, an address, a CA path)
MAX_REPLY = 16 * 1024 * 1024  # bytes of one reply line a parent reads, unless it says otherwise
ERROR_CHARS = 2000  # of one error message
STDERR_LINES = 20  # what a dead child said last, kept to explain the failure
STDERR_WAIT = 2.0  # seconds to wait for the rest of what a dead child wrote to stderr


class ProtocolError(ValueError):
    """A line that is not a message of this protocol."""


class Refused(Exception):
    """Raised by a handler: the request cannot be answered, and the message says why as it is."""


class ChildFailed(Exception):
    """A request got no answer: the child refused it, died, overran, or said something unreadable."""


class NoAnswerInTime(ChildFailed):
    """The request's timeout passed without its answer; the child may still be working on it."""


class ChildEnded(ChildFailed):
    """The child is gone (it died, or was killed for what it sent: Child.cut_off says what)."""


# Why a parent killed its child (Child.cut_off).
LONG_REPLY = "a reply longer than the bound"
NOT_A_REPLY = "a line that is not a reply"


class Request(NamedTuple):
    id: int
    kind: str
    body: dict[str, Any]


class Reply(NamedTuple):
    id: int | None  # None: an answer to a line that was not a request
    answer: Any = None
    error: str | None = None
    part: bool = False  # one part of an answer that comes in parts; the last reply has part=False


class _Ended(Reply):
    """The reply a request gets when its child is gone (never sent by a child)."""


def encode(message: Request | Reply) -> bytes:
    """One message as one line (JSON escapes every newline inside it)."""
    if isinstance(message, Request):
        document: dict[str, Any] = {"id": message.id, "kind": message.kind, "body": message.body}
    elif message.error is not None:
        document = {"id": message.id, "error": message.error}
    else:
        document = {"id": message.id, "part" if message.part else "answer": message.answer}
    return json.dumps(document, default=str).encode() + b"\n"


def _document(line: bytes | str) -> dict[str, Any]:
    try:
        document = json.loads(line)
    except ValueError:
        raise ProtocolError("a line that is not JSON") from None
    if not isinstance(document, dict):
        raise ProtocolError("a line that is not a JSON object")
    return document


def decode_request(line: bytes | str) -> Request:
    document = _document(line)
    ident, kind, body = document.get("id"), document.get("kind"), document.get("body")
    if not isinstance(ident, int) or isinstance(ident, bool) or not isinstance(kind, str) or not isinstance(body, dict):
        raise ProtocolError("a request is {id: number, kind: text, body: object}")
    return Request(ident, kind, body)


def decode_reply(line: bytes | str) -> Reply:
    document = _document(line)
    ident = document.get("id")
    if ident is not None and (not isinstance(ident, int) or isinstance(ident, bool)):
        raise ProtocolError("a reply's id is a number")
    if "error" in document:
        return Reply(ident, error=str(document["error"])[:ERROR_CHARS])
    if "answer" in document:
        return Reply(ident, answer=document["answer"])
    if "part" in document:
        return Reply(ident, answer=document["part"], part=True)
    raise ProtocolError("a reply holds an answer, a part or an error")


# --- the child's end ----------------------------------------------------------------------

Handler = Callable[[dict[str, Any]], Any]


def _why(error: BaseException) -> str:
    return (str(error) if isinstance(error, Refused) else f"{type(error).__name__}: {error}")[:ERROR_CHARS]


def serve(
    handlers: Mapping[str, Handler],
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    *,
    concurrent: int = 1,
    max_request: int = MAX_REQUEST,
) -> None:
    """Answer requests from stdin on stdout until stdin closes and every request is answered.
    `concurrent` > 1 answers that many at once (for handlers that mostly wait on the network);
    1 answers each before reading the next. A handler that returns a generator answers in parts."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    write = threading.Lock()

    def send(reply: Reply) -> None:
        line = encode(reply)
        with write:
            stdout.write(line)
            stdout.flush()

    def handle(request: Request) -> None:
        try:
            if request.kind not in handlers:
                raise Refused(f"unknown request kind {request.kind!r}")
            answer = handlers[request.kind](request.body)
            if isinstance(answer, types.GeneratorType):
                for part in answer:
                    send(Reply(request.id, answer=part, part=True))
                answer = None
            send(Reply(request.id, answer=answer))
        except Exception as error:  # the request's failure is its answer; the others go on
            send(Reply(request.id, error=_why(error)))

    def lines() -> Iterator[Request | Reply]:
        while line := stdin.readline(max_request + 1):
            if len(line) > max_request:
                yield Reply(None, error=f"a request longer than {max_request} bytes")
                return  # the rest of that line would be read as requests
            try:
                yield decode_request(line)
            except ProtocolError as error:
                yield Reply(None, error=str(error))

    if concurrent == 1:
        for item in lines():
            if isinstance(item, Reply):
                send(item)
            else:
                handle(item)
        return
    # Only a child answering many at once pays for the pool's import.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        for item in lines():
            if isinstance(item, Reply):
                send(item)
            else:
                pool.submit(handle, item)


# --- the parent's end ---------------------------------------------------------------------


class Pending:
    """A request sent to a Child, and its replies as they come."""

    def __init__(self, child: Child, ident: int, kind: str) -> None:
        self.child, self.ident, self.kind = child, ident, kind
        self._arrived = threading.Condition()
        self._replies: collections.deque[Reply] = collections.deque()

    def put(self, reply: Reply) -> None:
        with self._arrived:
            self._replies.append(reply)
            self._arrived.notify_all()

    def _next(self, ends: float) -> Reply | None:
        with self._arrived:
            while not self._replies:
                left = ends - time.monotonic()
                if left <= 0:
                    return None
                self._arrived.wait(left)
            return self._replies.popleft()

    def parts(self, timeout: float) -> Iterator[Any]:
        """Each part of the answer as it comes, then the answer itself if it is not null; all
        within `timeout` seconds. Raises ChildFailed."""
        ends = time.monotonic() + timeout
        while True:
            reply = self._next(ends)
            if reply is None:
                self.child.forget(self.ident)
                raise NoAnswerInTime(f"no answer within {timeout:g} s")
            if reply.error is not None:
                raise (ChildEnded if isinstance(reply, _Ended) else ChildFailed)(reply.error)
            if not reply.part:
                if reply.answer is not None:
                    yield reply.answer
                return
            yield reply.answer

    def wait(self, timeout: float) -> tuple[dict[str, Any] | None, str]:
        """(the answer, "") or (None, why there is none); an answer is an object."""
        reply = self._next(time.monotonic() + timeout)
        if reply is None:
            self.child.forget(self.ident)
            return None, f"no answer within {timeout:g} s"
        if reply.error is not None:
            return None, reply.error
        if reply.part or not isinstance(reply.answer, dict):
            return None, f"{self.kind} answered {type(reply.answer).__name__}, not an object"
        return reply.answer, ""


class Child:
    """One child (`python -m MODULE ARGS`) kept for many requests, answered concurrently if it
    serves them so. Started on first use. Safe from many threads, and from pyinfra's greenlets
    (pyinfra patches threading: each greenlet waits on its own request while the others go on).

    A line on stdout that is not a reply is skipped (a library printing there), unless `strict`:
    then it ends the child like a reply over `max_reply` does. `preexec_fn` and `env` go to
    Popen (a memory cap, the environment); `keep_stderr=False` discards stderr instead of
    keeping its last lines to explain a death. A child once ended stays ended: a caller that
    wants a fresh one makes a new Child."""

    def __init__(
        self,
        module: str,
        args: tuple[str, ...] = (),
        *,
        max_reply: int = MAX_REPLY,
        name: str = "the child process",
        strict: bool = False,
        preexec_fn: Callable[[], None] | None = None,
        env: Mapping[str, str] | None = None,
        keep_stderr: bool = True,
    ) -> None:
        self.module, self.args, self.max_reply, self.name = module, args, max_reply, name
        self.strict, self.preexec_fn, self.env, self.keep_stderr = strict, preexec_fn, env, keep_stderr
        self.cut_off = ""  # LONG_REPLY or NOT_A_REPLY: what the child sent that made this end kill it
        self._start = threading.Lock()
        self._write = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, Pending] = {}
        self._ids = itertools.count(1)
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._stderr_reader: threading.Thread | None = None
        self.ended = ""  # why the child is gone, once it is

    def submit(self, kind: str, body: dict[str, Any]) -> Pending:
        """Send a request now; its answer is waited for later (Pending.wait or .parts)."""
        ident = next(self._ids)
        pending = Pending(self, ident, kind)
        self._pending[ident] = pending
        try:
            process = self._started()
            if self.ended:
                self._pending.pop(ident, None)
                pending.put(_Ended(ident, error=self.ended))
                return pending
            with self._write:
                assert process.stdin is not None
                process.stdin.write(encode(Request(ident, kind, body)))
                process.stdin.flush()
        except (OSError, ValueError) as error:
            self._pending.pop(ident, None)
            pending.put(_Ended(ident, error=f"{self.name} is not running: {error}"))
        return pending

    def call(self, kind: str, body: dict[str, Any], timeout: float) -> tuple[dict[str, Any] | None, str]:
        """(the answer, "") or (None, why there is none)."""
        return self.submit(kind, body).wait(timeout)

    def forget(self, ident: int) -> None:
        """A request its caller gave up on: a late reply to it is dropped."""
        self._pending.pop(ident, None)

    def start(self) -> None:
        """Start the child now (idempotent), so that its imports overlap the caller's work."""
        self._started()

    @property
    def running(self) -> bool:
        """Started and not (yet known to be) ended."""
        return self._process is not None and not self.ended and self._process.poll() is None

    def close(self, timeout: float = 10.0) -> None:
        """Close the child's stdin and let it finish; kill it after `timeout` seconds (0: now)."""
        process = self._process
        if process is None:
            return
        try:
            if timeout <= 0 and process.poll() is None:
                process.kill()
            if process.stdin is not None:
                process.stdin.close()
            process.wait(max(timeout, 0.1))
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def _started(self) -> subprocess.Popen[bytes]:
        with self._start:
            if self._process is None:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", self.module, *self.args],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE if self.keep_stderr else subprocess.DEVNULL,
                    preexec_fn=self.preexec_fn,
                    env=self.env,
                )
                if self.keep_stderr:
                    self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
                    self._stderr_reader.start()
                threading.Thread(target=self._read_replies, daemon=True).start()
                atexit.register(self.close)
            return self._process

    def _read_replies(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        why = ""
        while True:
            line = stdout.readline(self.max_reply + 1)
            if not line:
                break
            if len(line) > self.max_reply:
                why, self.cut_off = f"a reply longer than {self.max_reply} bytes", LONG_REPLY
                self._process.kill()
                break
            try:
                reply = decode_reply(line)
            except ProtocolError:
                if self.strict:
                    why, self.cut_off = NOT_A_REPLY, NOT_A_REPLY
                    self._process.kill()
                    break
                continue  # not ours to understand (a library printing on stdout): no request waits on it
            pending = self._pending.get(reply.id) if reply.id is not None else None
            if pending is not None:
                if not reply.part:
                    self._pending.pop(reply.id, None)  # type: ignore[arg-type]
                pending.put(reply)
        # The child ended (or overran): every waiting request learns why.
        self._process.wait()
        stdout.close()
        # Its last words may still be in the pipe: let the stderr reader reach the end (bounded:
        # a grandchild could hold the pipe open).
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=STDERR_WAIT)
        said = " / ".join(line.strip() for line in list(self._stderr)[-3:])
        self.ended = f"{self.name} ended ({why or said or f'status {self._process.returncode}'})"
        for ident in list(self._pending):
            pending = self._pending.pop(ident, None)
            if pending is not None:
                pending.put(_Ended(ident, error=self.ended))

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line[:500].decode(errors="replace"))
