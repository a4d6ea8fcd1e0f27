"""run_job_sync and prewarm (hardhouse.probe.worker): the blocking callers' worker child, a
spare started ahead, and the same bounds as the probe's: a child that does not answer in time
is killed, one that answers too much is refused."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from hardhouse.probe import worker
from hardhouse.probe.worker import JobFailed, prewarm, run_job_sync


def _fake_child(code: str):  # type: ignore[no-untyped-def]
    def spawn(warm: bool) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    return spawn


def test_a_job_answers_through_a_fresh_child() -> None:
    assert run_job_sync("tls_quick_posture", {"targets": [], "timeout": 1}, 60) == []


def test_a_prewarmed_spare_is_used_once_then_gone() -> None:
    prewarm()
    spare = worker._spare
    assert spare is not None and spare.poll() is None
    assert run_job_sync("tls_quick_posture", {"targets": [], "timeout": 1}, 60) == []
    assert worker._spare is None and spare.poll() is not None


def test_a_child_that_does_not_answer_is_killed_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_spare", None)
    monkeypatch.setattr(worker, "_spawn", _fake_child("import time; time.sleep(60)"))
    started = time.monotonic()
    with pytest.raises(JobFailed, match="did not finish within 1s"):
        run_job_sync("tls_quick_posture", {}, 1)
    assert time.monotonic() - started < 5


def test_an_answer_larger_than_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_spare", None)
    flood = f"import sys; sys.stdout.buffer.write(b'x' * {worker.OUTPUT_CAP + 4096}); sys.stdout.flush()"
    monkeypatch.setattr(worker, "_spawn", _fake_child(flood))
    with pytest.raises(JobFailed, match="answered more than the probe reads"):
        run_job_sync("tls_quick_posture", {}, 30)


def test_a_child_that_dies_without_an_answer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_spare", None)
    monkeypatch.setattr(worker, "_spawn", _fake_child("import sys; sys.exit(3)"))
    with pytest.raises(JobFailed, match="ended with status 3 and no answer"):
        run_job_sync("tls_quick_posture", {}, 30)
