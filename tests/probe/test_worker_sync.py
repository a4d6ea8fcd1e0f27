"""run_job_sync and prewarm (hardhouse.probe.worker): the blocking callers' worker child, a
spare started ahead, and the same bounds as the probe's: a child that does not answer in time
is killed, one that answers too much is refused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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


@pytest.mark.slow
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


def _ended(pid: int, within: float = 10.0) -> bool:
    """True once pid is gone or a zombie (ended, waiting for whoever reaps orphans)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_discard_spare_ends_a_waiting_spare() -> None:
    prewarm()
    spare = worker._spare
    assert spare is not None and spare.poll() is None
    worker.discard_spare()
    assert worker._spare is None and spare.poll() is not None
    worker.discard_spare()  # nothing waits: nothing to do


def test_a_job_answers_and_its_child_has_ended_by_the_time_it_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    spawned: list[subprocess.Popen[bytes]] = []
    spawn = worker._spawn

    def recording(warm: bool) -> subprocess.Popen[bytes]:
        spawned.append(spawn(warm))
        return spawned[-1]

    worker.discard_spare()
    monkeypatch.setattr(worker, "_spawn", recording)
    assert run_job_sync("tls_quick_posture", {"targets": [], "timeout": 1}, 60) == []
    [child] = spawned
    assert child.returncode == 0


@pytest.mark.parametrize("how", ["exits", "is killed"])
def test_a_spare_does_not_outlive_the_process_that_started_it(how: str) -> None:
    """A test session that prewarms (the pytest plugin's factory does) leaves no child behind,
    whether it ends normally (atexit) or is killed (the spare reads end of file and stops)."""
    code = (
        "import sys, time\n"
        "from hardhouse.probe import worker\n"
        "worker.prewarm()\n"
        "print(worker._spare.pid, flush=True)\n" + ("time.sleep(60)\n" if how == "is killed" else "")
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    spare_pid = int(parent.stdout.readline())
    if how == "is killed":
        parent.kill()
    parent.wait(30)
    assert _ended(spare_pid), f"spare {spare_pid} still runs after its parent {how.split()[-1]}"


def test_a_quick_posture_child_loads_sslyzes_connection_and_a_full_scan_still_loads_the_rest() -> None:
    """The spare child a deploy starts for its checks from outside loads sslyze's TLS
    connection without sslyze's scanner and plugins (a third of the child's start-up); a full
    scan in the same process then finds the whole package."""
    code = """
import sys
from hardhouse.probe import sslyze_load, tls
tls.warm_up()
assert "sslyze.scanner.scanner" not in sys.modules and "sslyze.plugins.scan_commands" not in sys.modules
assert sslyze_load.sslyze_connections().SslConnection.__name__ == "SslConnection"
sslyze = sslyze_load.sslyze_package()
assert sslyze.Scanner and sslyze.ScanCommand.TLS_1_0_CIPHER_SUITES and sslyze.TlsVersionEnum.TLS_1_3
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def _stand_in(tmp_path: Path, what: str) -> worker.JobServer:
    """A JobServer whose children are tests/probe/stand_in_worker.py doing `what` (changed by
    writing tmp_path/what)."""
    (tmp_path / "what").write_text(what)
    return worker.JobServer("tests.probe.stand_in_worker", (str(tmp_path / "what"),))


def test_a_job_server_answers_job_after_job_from_one_warm_child() -> None:
    server = worker.JobServer()
    try:
        server.start()
        child = server._child
        assert child is not None and child.running
        for _ in range(3):
            assert server.run("tls_quick_posture", {"targets": [], "timeout": 1}, 60) == []
        assert server._child is child and child.running
        # A request the child cannot answer: it says so, and the child stays.
        with pytest.raises(JobFailed, match="unknown request kind .no_such_job."):
            server.run("no_such_job", {}, 60)
        assert server._child is child and server.run("tls_quick_posture", {"targets": [], "timeout": 1}, 60) == []
    finally:
        server.close()
    assert not child.running and server._child is None


def test_a_job_server_child_is_memory_capped() -> None:
    server = worker.JobServer()
    try:
        server.start()
        assert server._child is not None and server._child._process is not None
        pid = server._child._process.pid
        limits = Path(f"/proc/{pid}/limits").read_text()
        [line] = [line for line in limits.splitlines() if line.startswith("Max address space")]
        assert line.split()[3:5] == [str(worker.MEMORY_CAP)] * 2
    finally:
        server.close()


@pytest.mark.slow
def test_a_job_server_child_that_overruns_is_killed_and_the_next_job_gets_a_fresh_one(tmp_path: Path) -> None:
    server = _stand_in(tmp_path, "sleep")
    started = time.monotonic()
    with pytest.raises(JobFailed, match="did not finish within 1s"):
        server.run("tls_quick_posture", {}, 1)
    assert time.monotonic() - started < 5 and server._child is None
    (tmp_path / "what").write_text("answer 7")
    try:
        assert server.run("tls_quick_posture", {}, 30) == 7
    finally:
        server.close()


@pytest.mark.parametrize(
    "what, error",
    [
        ("flood", "answered more"),
        ("exit 3", "ended without an answer"),
        ("babble", "no answer"),
    ],
)
def test_a_job_server_child_that_floods_dies_or_babbles_is_ended(tmp_path: Path, what: str, error: str) -> None:
    server = _stand_in(tmp_path, what)
    started = time.monotonic()
    try:
        with pytest.raises(JobFailed, match=error):
            server.run("tls_quick_posture", {}, 30)
        # At once, not at the deadline; and the child is gone, so the next job gets a fresh one.
        assert time.monotonic() - started < 10 and server._child is None
    finally:
        server.close()
