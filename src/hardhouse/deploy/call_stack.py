"""pyinfra orders a deploy's operations by the line numbers of the call stack of every
operation call, on every host (pyinfra.api.util.get_operation_order_from_stack), and names
where an operation was called the same way. It reads that stack with inspect.stack() and
inspect.getframeinfo() on each frame, which look up and read every frame's source line (a
context of one line) and work out each frame's source position from its code's position
table: CPU in pyinfra's single process that grows with hosts x operations. pyinfra uses only
each frame's file name and line number, so `install` points pyinfra at two functions that
take them from the frame itself (the code's file name, the frame's current line: the start
line of its instruction, which is what inspect reports): the same order, the same call
locations, nothing read or worked out per frame."""

from __future__ import annotations

import inspect
import sys
from types import FrameType
from typing import Any


def stack_without_source() -> list[inspect.FrameInfo]:
    """inspect.stack() from the caller outwards (as inspect.stack() called there gives it),
    each entry without source lines or positions."""
    frames = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        frames.append(inspect.FrameInfo(frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
        frame = frame.f_back
    return frames


def frameinfo_without_source(frame: FrameType | Any) -> inspect.Traceback:
    if inspect.istraceback(frame):
        return inspect.getframeinfo(frame, 0)
    code = frame.f_code
    return inspect.Traceback(code.co_filename, frame.f_lineno, code.co_name, None, None)


def install() -> None:
    """Make pyinfra read call stacks without source lines (idempotent)."""
    import pyinfra.api.util as util

    util.stack = stack_without_source  # type: ignore[assignment]
    util.getframeinfo = frameinfo_without_source  # type: ignore[assignment]
