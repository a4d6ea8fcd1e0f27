"""Where a rule or check says which control it judges, beside its own code.

Each tool registers its judges against a typed control id: the probe its rules
(hardhouse.probe.rules), the deploy's verification its checks (hardhouse.verify), the audit
its rules (hardhouse.audit), the scan of log tables its verdict (hardhouse.scan.report). A
judge has no severity of its own: a finding's severity is its control's, read from the
catalog, so the probe, the audit, SARIF and the deploy rank the same failure the same way.

    from hardhouse.controls.ids import ControlId
    from hardhouse.controls.registry import Tool, judges, register

    CLOSED = register(Tool.VERIFY, "closed", ControlId.PORT_1)      # data: keep the Judge

    @judges(Tool.AUDIT, "listen-any", ControlId.LISTEN_1)            # functions: a decorator
    def listen_any(tree): ...

This registry is the only list of which judges check a control: the published index (the
README's table, `hardhouse controls`) is read from it (hardhouse.controls.index, given the
modules by hardhouse.cli.controls). This module imports nothing of the tools (they import it),
so it cannot make a cycle.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from hardhouse.controls.catalog import BY_ID
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

F = TypeVar("F", bound=Callable[..., object])


class Tool(StrEnum):
    PROBE = "probe"  # from the network (hardhouse probe)
    VERIFY = "verify"  # the deploy's verification from the deploy machine
    AUDIT = "audit"  # from the configuration tree (hardhouse audit)
    SCAN = "scan"  # from the data, logged in as a reader (hardhouse scan)


@dataclass(frozen=True)
class Judge:
    """One tool's rule or check (`id`, as its reports name it), the control it judges, and the
    module that registered it (where the index finds it, and what orders the index)."""

    tool: Tool
    id: str
    control: ControlId
    module: str = field(default="", compare=False)

    @property
    def severity(self) -> Severity:
        """The control's severity: a judge never has one of its own."""
        return BY_ID[self.control].severity


_REGISTERED: dict[Tool, dict[str, Judge]] = {tool: {} for tool in Tool}


def _record(tool: Tool, id: str, control: ControlId, module: str) -> Judge:
    judge = Judge(Tool(tool), id, ControlId(control), module)
    known = _REGISTERED[judge.tool].setdefault(id, judge)
    if known != judge:
        raise ValueError(f"{tool} {id!r} is registered for {known.control} and for {judge.control}")
    return known


def register(tool: Tool, id: str, control: ControlId) -> Judge:
    """Record that `tool`'s rule or check `id` judges `control`, and return it. Registering the
    same judge again is harmless (a module imported twice); the same id under another control
    is a bug, refused here. The judge's module is the caller's, as namedtuple and Enum find
    theirs: every call site registers at module level or from a class defined there."""
    return _record(tool, id, control, sys._getframe(1).f_globals.get("__name__", ""))


def judges(tool: Tool, id: str, control: ControlId) -> Callable[[F], F]:
    """Decorator: register the decorated function as `tool`'s rule `id` for `control`; the
    function is returned unchanged, its Judge set on it as `judge`."""

    def decorate(function: F) -> F:
        function.judge = _record(tool, id, control, function.__module__)  # type: ignore[attr-defined]
        return function

    return decorate


def registered(tool: Tool) -> Mapping[str, Judge]:
    """Every judge `tool` has registered so far, by id, in the order registered (complete once
    its modules are imported: hardhouse.controls.index imports them)."""
    return MappingProxyType(_REGISTERED[tool])
