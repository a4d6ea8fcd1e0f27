"""Waiting for a server to catch up (an 18.16 mutation, a replica's copy of a row): ask, and
ask again after a pause that starts short and doubles up to a ceiling. Most such waits end
within milliseconds; a fixed pause of the ceiling made every verification wait that long once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

FIRST_PAUSE = 0.01  # seconds before asking again the first time
MAX_PAUSE = 0.2  # seconds between asks once the wait is long


def pauses(first: float = FIRST_PAUSE, ceiling: float = MAX_PAUSE) -> Iterator[float]:
    """first, 2*first, 4*first, ... up to ceiling, for ever."""
    pause = first
    while True:
        yield pause
        pause = min(pause * 2, ceiling)


def until(done: Callable[[], bool], timeout: float, ceiling: float = MAX_PAUSE) -> bool:
    """Ask `done` until it says so or `timeout` seconds have passed (asked once more at the
    end); whether it said so."""
    deadline = time.monotonic() + timeout
    for pause in pauses(ceiling=ceiling):
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
    return False  # unreachable: pauses() never ends
