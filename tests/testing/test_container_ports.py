"""ClickHouseContainer.listening() reads the container's sockets through this machine's /proc
only when the pid Docker reports is visibly that container's own process; anything else (a
remote or virtualised engine numbering its own pids, a stopped container) falls back to
reading them inside the container. No Docker needed: the engine's answers are stand-ins."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hardhouse.testing.containers import ClickHouseContainer

INSIDE = "  sl  local_address rem_address   st\n   0: 0100007F:1F90 00000000:0000 0A 0 0 0 0 0 1\n"


class FakeEngineContainer:
    def __init__(self, container_id: str, state: dict[str, Any], after_reload: dict[str, Any] | None = None):
        self.id, self.attrs = container_id, {"State": state}
        self.after_reload = after_reload or state
        self.reloads = 0

    def reload(self) -> None:
        self.reloads += 1
        self.attrs = {"State": self.after_reload}


def _container(
    container_id: str, state: dict[str, Any], after_reload: dict[str, Any] | None = None
) -> ClickHouseContainer:
    container = ClickHouseContainer.__new__(ClickHouseContainer)
    container._container = FakeEngineContainer(container_id, state, after_reload)  # type: ignore[assignment]
    container.exec = lambda *command: (0, INSIDE)  # type: ignore[method-assign]
    return container


def _cgroup_names(pid: int) -> str:
    # Some word of our own cgroup path stands in for a container id that the path names.
    words = [w for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() for w in line.split(":")[-1].split("/")]
    return next((w for w in words if w), "")


@pytest.mark.parametrize(
    "state",
    [
        {"Running": True, "Pid": os.getpid()},  # a pid of this machine, but not the container's process
        {"Running": False, "Pid": 0},  # stopped
        {"Running": True, "Pid": 2**22 + 7},  # no such process here
    ],
    ids=["another process", "stopped", "no such pid"],
)
def test_a_pid_that_is_not_visibly_the_containers_falls_back_to_docker_exec(state: dict[str, Any]) -> None:
    container = _container("0123456789abcdef" * 4, state)
    assert container._proc_net_tcp_from_host() is None
    assert container.listening() == {("127.0.0.1", 8080)}


def test_the_containers_own_process_is_read_on_this_machine() -> None:
    name = _cgroup_names(os.getpid())
    if not name:
        pytest.skip("this process sits in the root cgroup: nothing names it")
    container = _container(name, {"Running": True, "Pid": os.getpid()})
    text = container._proc_net_tcp_from_host()
    assert text is not None and text.startswith(Path(f"/proc/{os.getpid()}/net/tcp").read_text()[:40])


def test_a_pid_inspected_before_is_tried_first_and_a_gone_one_is_inspected_again() -> None:
    name = _cgroup_names(os.getpid())
    if not name:
        pytest.skip("this process sits in the root cgroup: nothing names it")
    current = {"Running": True, "Pid": os.getpid()}
    container = _container(name, current)
    assert container._proc_net_tcp_from_host() is not None
    assert container._container.reloads == 0  # type: ignore[union-attr]
    restarted = _container(name, {"Running": True, "Pid": 2**22 + 7}, after_reload=current)
    assert restarted._proc_net_tcp_from_host() is not None
    assert restarted._container.reloads == 1  # type: ignore[union-attr]
