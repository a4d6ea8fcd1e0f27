"""Waiting for a server to catch up (an 18.16 mutation, a replica's copy of a row): ask, and
ask again after a pause that starts short and grows by half up to a ceiling. Most such waits
end within milliseconds; a fixed pause of the ceiling made every verification wait that long
once. Growing by half, not doubling: a wait is seen to end at most about half its length late,
not up to its whole length (a cluster's proof waits for three or four of them, 0.1 to 0.2 s
each on 18.16: its re-run 1.70 -> 1.55 s, bench/deploy_ab.py), for one ask more."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

FIRST_PAUSE = 0.01  # seconds before asking again the first time
MAX_PAUSE = 0.2  # seconds between asks once the wait is long


def pauses(first: float = FIRST_PAUSE, ceiling: float = MAX_PAUSE) -> Iterator[float]:
    """first, 1.5*first, 2.25*first, ... up to ceiling, for ever."""
    pause = first
    while True:
        yield pause
        pause = min(pause * 1.5, ceiling)


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
