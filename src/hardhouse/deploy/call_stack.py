"""pyinfra orders a deploy's operations by the line numbers of the call stack of every
operation call, on every host (pyinfra.api.util.get_operation_order_from_stack), and names
where an operation was called the same way. It reads that stack with inspect.stack() and
inspect.getframeinfo(), whose default context of one source line makes Python look up and
read the source line of every frame, each time: CPU in pyinfra's single process that grows
with hosts x operations. pyinfra uses only each frame's file name and line number, which a
context of 0 gives the same (inspect computes them before it reads any source), so
`install` points pyinfra at the same two functions with context 0: the same order, the same
call locations, no source read."""

from __future__ import annotations

import inspect
from types import FrameType
from typing import Any


def stack_without_source() -> list[inspect.FrameInfo]:
    # This function's own frame is dropped, so index 0 is the caller, as with inspect.stack().
    return inspect.stack(0)[1:]


def frameinfo_without_source(frame: FrameType | Any) -> inspect.Traceback:
    return inspect.getframeinfo(frame, 0)


def install() -> None:
    """Make pyinfra read call stacks without source lines (idempotent)."""
    import pyinfra.api.util as util

    util.stack = stack_without_source  # type: ignore[assignment]
    util.getframeinfo = frameinfo_without_source  # type: ignore[assignment]
