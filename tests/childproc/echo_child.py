"""A child for tests/childproc: `python -m tests.childproc.echo_child`, serving a few kinds."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

from hardhouse.childproc import Refused, serve


def echo(body: dict[str, Any]) -> dict[str, Any]:
    return body


def parts(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for number in range(body["count"]):
        yield {"part": number}


def refuse(body: dict[str, Any]) -> None:
    raise Refused("not this one")


def crash(body: dict[str, Any]) -> None:
    raise KeyError("spec")


def big(body: dict[str, Any]) -> str:
    return "x" * body["size"]


def chatter(body: dict[str, Any]) -> dict[str, Any]:
    # A library printing on the protocol's stdout: the parent skips what is not a reply.
    sys.stdout.buffer.write(b"hello from a library\n")
    sys.stdout.buffer.flush()
    return {"ok": True}


def slow(body: dict[str, Any]) -> dict[str, Any]:
    time.sleep(body["seconds"])
    return {"slept": body["seconds"]}


def die(body: dict[str, Any]) -> None:
    sys.stderr.write("about to die\n")
    sys.stderr.flush()
    raise SystemExit(3)


HANDLERS = {f.__name__: f for f in (echo, parts, refuse, crash, big, chatter, slow, die)}

if __name__ == "__main__":
    serve(HANDLERS, concurrent=int(sys.argv[1]) if len(sys.argv) > 1 else 1)
