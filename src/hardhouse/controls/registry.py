"""Where a rule or check says which control it judges, beside its own code.

Each tool registers its judges against a typed control id: the probe its rules
(hardhouse.probe.rules), the deploy's verification its checks (hardhouse.verify), the audit
its rules (hardhouse.audit, once it adopts this). A judge has no severity of its own: a
finding's severity is its control's, read from the catalog, so the probe, the audit, SARIF
and the deploy rank the same failure the same way.

    from hardhouse.controls.ids import ControlId
    from hardhouse.controls.registry import Tool, judges, register

    CLOSED = register(Tool.VERIFY, "closed", ControlId.PORT_1)      # data: keep the Judge

    @judges(Tool.AUDIT, "listen-any", ControlId.LISTEN_1)            # functions: a decorator
    def listen_any(tree): ...

The catalog's per-control lists (Control.probe_rules, .verify_checks, .audit_rules, hence
BY_PROBE_RULE, BY_VERIFY_CHECK, BY_AUDIT_RULE) are the published index the README's table and
`hardhouse controls` show; tests/test_controls.py ties them to what is registered here, both
ways. This module imports nothing of the tools (they import it), so it cannot make a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Judge:
    """One tool's rule or check (`id`, as its reports name it) and the control it judges."""

    tool: Tool
    id: str
    control: ControlId

    @property
    def severity(self) -> Severity:
        """The control's severity: a judge never has one of its own."""
        return BY_ID[self.control].severity


_REGISTERED: dict[Tool, dict[str, Judge]] = {tool: {} for tool in Tool}


def register(tool: Tool, id: str, control: ControlId) -> Judge:
    """Record that `tool`'s rule or check `id` judges `control`, and return it. Registering the
    same judge again is harmless (a module imported twice); the same id under another control
    is a bug, refused here."""
    judge = Judge(Tool(tool), id, ControlId(control))
    known = _REGISTERED[judge.tool].setdefault(id, judge)
    if known != judge:
        raise ValueError(f"{tool} {id!r} is registered for {known.control} and for {judge.control}")
    return judge


def judges(tool: Tool, id: str, control: ControlId) -> Callable[[F], F]:
    """Decorator: register the decorated function as `tool`'s rule `id` for `control`; the
    function is returned unchanged, its Judge set on it as `judge`."""

    def decorate(function: F) -> F:
        function.judge = register(tool, id, control)  # type: ignore[attr-defined]
        return function

    return decorate


def registered(tool: Tool) -> Mapping[str, Judge]:
    """Every judge `tool` has registered so far, by id (complete once its modules are imported)."""
    return MappingProxyType(_REGISTERED[tool])
