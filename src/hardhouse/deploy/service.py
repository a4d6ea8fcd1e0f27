"""`python -m hardhouse.deploy.service`: one child for a whole deploy run that answers the
hosts' verification and log-database requests concurrently (hardhouse.deploy.child.Service
is the parent's side).

One child instead of one per host and step: a fleet's no-change re-run used to start two
Python processes per host (each importing the spec model, the drivers and the probe), which on
a small deploy machine cost more than the checks themselves. Requests still carry no secret;
the child reads passwords where the spec names them, as before.

Protocol, one JSON document per line: in {"id": N, "handler": NAME, "request": {...}}; out
{"id": N, "answer": {...}} or {"id": N, "error": "..."}. The child ends when its stdin closes
and the requests it holds are answered.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hardhouse.probe.tls import end_quick_scans, prepare_quick_scans
from hardhouse.probe.worker import discard_spare

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # one request line: a spec, an address and a CA path
MAX_CONCURRENT = 64  # requests answered at once (each mostly waits on the network)


# Handler name -> the module whose `answer` serves it, imported on first use: a run whose hosts
# are all trusted unchanged asks only for the checks from outside, which need neither the spec
# model nor what provisioning and the full verification load. "load" imports those two ahead.
HANDLERS = {
    "outside": "hardhouse.verify.checks",
    "verify": "hardhouse.verify.deployment",
    "provision": "hardhouse.provision.apply",
}
LOAD = "load"


def _handler(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    if name == LOAD:
        return _load
    return importlib.import_module(HANDLERS[name]).answer  # type: ignore[no-any-return]


def _load(request: dict[str, Any]) -> dict[str, Any]:
    """Import what the full verification and provisioning use, now: the deploy asks as soon as
    it finds a host not trusted unchanged, so that the imports overlap that host's steps."""
    for name in ("verify", "provision"):
        _handler(name)
    return {}


def serve(stdin: Any = None, stdout: Any = None) -> None:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    # What every verifying run needs (its checks from outside), loaded before the first request.
    importlib.import_module("hardhouse.verify.checks")
    # The verification's TLS checks run in a worker child that serves this whole run: start it
    # now, so that it loads the TLS scanner while the deploy prepares its steps (after this
    # process's own imports: the deploy's process is busy preparing, and two children starting
    # at once would slow it).
    prepare_quick_scans()
    write = threading.Lock()

    def reply(message: dict[str, Any]) -> None:
        line = json.dumps(message, default=str)
        with write:
            stdout.write(line + "\n")
            stdout.flush()

    def handle(ident: Any, name: Any, request: Any) -> None:
        try:
            if not isinstance(name, str) or name not in (*HANDLERS, LOAD) or not isinstance(request, dict):
                raise ValueError(f"unknown handler {name!r} or a request that is not an object")
            reply({"id": ident, "answer": _handler(name)(request)})
        except Exception as error:  # the request's failure is its answer; the others go on
            reply({"id": ident, "error": f"{type(error).__name__}: {error}"[:2000]})

    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT) as pool:
        while True:
            line = stdin.readline(MAX_REQUEST_BYTES + 1)
            if not line:
                break
            try:
                message = json.loads(line)
                ident, name, request = message["id"], message["handler"], message["request"]
            except (ValueError, KeyError, TypeError):
                reply({"id": None, "error": "a request line that is not {id, handler, request}"})
                continue
            pool.submit(handle, ident, name, request)


if __name__ == "__main__":
    serve()
    # Every answer is written and flushed, and nothing else is held: end without the
    # interpreter's teardown, which the deploy would otherwise wait for (a tenth of a second).
    end_quick_scans()
    discard_spare()
    sys.stderr.flush()
    os._exit(0)
