"""hardhouse.deploy.call_stack: pyinfra finds the same operation order and call locations
from call stacks read without source lines."""

from __future__ import annotations

import inspect
import types

import pyinfra
import pytest
from pyinfra.api import util

from hardhouse.deploy import call_stack


def _order_and_location(state: object) -> tuple[list[int], str, int]:
    """What pyinfra reads of the stack: an operation's order, and where it was called."""

    def operation_call() -> tuple[list[int], str, int]:
        info = util.get_caller_frameinfo()  # this function's caller, as pyinfra's @operation sees it
        return util.get_operation_order_from_stack(state), info.filename, info.lineno

    def deploy_code() -> tuple[list[int], str, int]:
        return operation_call()

    return deploy_code()


@pytest.fixture
def pyinfra_util(monkeypatch: pytest.MonkeyPatch) -> None:
    # install() changes pyinfra's module; the originals come back after the test.
    monkeypatch.setattr(util, "stack", util.stack)
    monkeypatch.setattr(util, "getframeinfo", util.getframeinfo)
    monkeypatch.setattr(pyinfra, "is_cli", True)


@pytest.mark.usefixtures("pyinfra_util")
def test_same_order_and_call_location_without_source() -> None:
    state = types.SimpleNamespace(current_deploy_filename=__file__, current_op_file_number=3)
    found = []
    for patched in (False, True):  # one call site: the same line numbers are expected
        if patched:
            call_stack.install()
            assert util.stack is call_stack.stack_without_source
        found.append(_order_and_location(state))
    before, after = found
    assert after == before
    order, filename, lineno = after
    # The order starts at the deploy file's frames (this file), after the op file number.
    assert order[0] == 3 and len(order) > 3
    assert filename == __file__ and lineno > 0


@pytest.mark.usefixtures("pyinfra_util")
def test_no_source_line_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    call_stack.install()
    read: list[str] = []
    import linecache

    monkeypatch.setattr(linecache, "getlines", lambda *a, **k: read.append(a[0]) or [])
    monkeypatch.setattr(linecache, "updatecache", lambda *a, **k: read.append(a[0]) or [])
    state = types.SimpleNamespace(current_deploy_filename=__file__, current_op_file_number=1)
    _order_and_location(state)
    assert read == []


def test_deploy_installs_it_only_inside_a_pyinfra_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import hardhouse.deploy as deploy

    monkeypatch.setattr(util, "stack", util.stack)
    monkeypatch.setattr(util, "getframeinfo", util.getframeinfo)
    original = util.stack
    deploy._lighten_pyinfra_bookkeeping()  # no pyinfra state set: a test importing the deploy
    assert util.stack is original


def _both_stacks(
    depth: int,
) -> tuple[list[tuple[str, int, str]], list[tuple[str, int, str]]]:
    if depth:
        return _both_stacks(
            depth - 1,
        )
    plain = [(f.filename, f.lineno, f.function) for f in inspect.stack(0)]
    ours = [(f.filename, f.lineno, f.function) for f in call_stack.stack_without_source()]
    return plain, ours


def test_every_frame_has_inspects_file_line_and_function_also_in_a_call_over_several_lines() -> None:
    plain, ours = _both_stacks(
        3,
    )
    # Frame 0 is _both_stacks itself, at the line of each call; every frame above is the same.
    assert len(ours) == len(plain) > 5
    assert ours[0][::2] == plain[0][::2] and ours[1:] == plain[1:]
    frame = inspect.currentframe()
    assert frame is not None
    expected, found = inspect.getframeinfo(frame, 0), call_stack.frameinfo_without_source(frame)
    assert (found.filename, found.lineno, found.function) == (expected.filename, expected.lineno, expected.function)
