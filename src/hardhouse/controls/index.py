"""The published index: which probe rules, verify checks, audit rules and scan checks judge
each control, as the README's control table and `hardhouse controls` show it.

It is read from what the tools register (hardhouse.controls.registry), not written a second
time. The tools import hardhouse.controls, so this package cannot import them: whoever builds
the index (`hardhouse controls`, hardhouse.cli.controls) imports every module that registers
judges and passes them in, in the order to list them. A judge registered by a module not passed
in is refused, so a loaded judge cannot be left out of the index unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Judge, Tool, registered


@dataclass(frozen=True)
class Checks:
    """What judges one control, by tool: seen from the network, by the deploy's verification,
    and read from the configuration tree."""

    probe_rules: tuple[str, ...] = ()
    verify_checks: tuple[str, ...] = ()
    audit_rules: tuple[str, ...] = ()
    scan_checks: tuple[str, ...] = ()  # hardhouse scan, logged in as a reader: what the tables hold


def ordered(tool: Tool, modules: Sequence[ModuleType]) -> tuple[Judge, ...]:
    """Every judge `tool` has registered, by module in the order given, then as its module
    registers them."""
    names = [module.__name__ for module in modules]
    found = list(registered(tool).values())
    unlisted = sorted({judge.module for judge in found} - set(names))
    if unlisted:
        raise ValueError(f"{tool} judges are registered in {', '.join(unlisted)}, which the index was not given")
    position = {judge.id: i for i, judge in enumerate(found)}
    return tuple(sorted(found, key=lambda judge: (names.index(judge.module), position[judge.id])))


def build(modules: Mapping[Tool, Sequence[ModuleType]]) -> dict[ControlId, Checks]:
    """The index of every control (one a tool does not judge has nothing under that tool)."""
    of: dict[Tool, dict[ControlId, list[str]]] = {tool: {} for tool in Tool}
    for tool in Tool:
        for judge in ordered(tool, modules.get(tool, ())):
            of[tool].setdefault(judge.control, []).append(judge.id)
    return {
        control: Checks(
            tuple(of[Tool.PROBE].get(control, ())),
            tuple(of[Tool.VERIFY].get(control, ())),
            tuple(of[Tool.AUDIT].get(control, ())),
            tuple(of[Tool.SCAN].get(control, ())),
        )
        for control in ControlId
    }
