"""Waiting for a server to catch up asks again soon, then less often (hardhouse.polling)."""

from __future__ import annotations

import itertools
import time

import pytest

from hardhouse import polling


def test_pauses_start_short_and_grow_by_half_up_to_the_ceiling() -> None:
    assert list(itertools.islice(polling.pauses(0.01, 0.05), 7)) == pytest.approx(
        [0.01, 0.015, 0.0225, 0.03375, 0.05, 0.05, 0.05]
    )


def test_a_wait_that_ends_soon_is_not_held_for_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = iter([False, False, True])
    slept: list[float] = []
    monkeypatch.setattr(polling.time, "sleep", slept.append)
    assert polling.until(lambda: next(asked), timeout=5)
    assert slept == pytest.approx([0.01, 0.015])  # not 2 x 0.2 s


def test_a_wait_that_never_ends_gives_up_after_the_timeout_having_asked_at_the_end() -> None:
    asks = []
    started = time.monotonic()
    assert not polling.until(lambda: asks.append(time.monotonic()) and False, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 0.6
    assert asks[-1] - started >= 0.3  # the last ask is at the deadline, not a pause before it
