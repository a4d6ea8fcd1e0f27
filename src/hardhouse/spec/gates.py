"""Version gates declared on the field: a field that asks for a feature of the target names it
once, with `Annotated[..., Gate(feature, fix)]`, and both of its consequences come from that
declaration:

- what null means: "where the target has it" (`wanted`, `available`);
- the refusal when the spec asks for it on a target without it (`refusals`): the problem names
  the field, says which version the feature needs (hardhouse.clickhouse.versions) and how to
  stop asking.

A field asks for its feature when it is true, a non-empty list or mapping, or any other value
than null. Gates that depend on a particular value, or on several fields, stay in their
section's checks and call `needs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hardhouse.clickhouse import versions
from hardhouse.spec.errors import Problem


@dataclass(frozen=True)
class Gate:
    feature: str  # a key of versions.FEATURES
    fix: str  # how to stop asking for it, shown with the refusal
    note: str = ""  # appended to the refusal's message: what else the old target does


def needs(feature: str, version: versions.Version, path: str, fix: str) -> Problem | None:
    """None where the target has the feature, else the problem at path with fix."""
    if versions.has(version, feature):
        return None
    return Problem(path, versions.needs_message(feature, version), fix)


def _gates(model: BaseModel, field: str) -> list[Gate]:
    return [item for item in type(model).model_fields[field].metadata if isinstance(item, Gate)]


def declares_gate(model: BaseModel, field: str) -> bool:
    return bool(_gates(model, field))


def gate(model: BaseModel, field: str) -> Gate:
    found = _gates(model, field)
    if len(found) != 1:
        raise LookupError(f"{type(model).__name__}.{field} declares no version gate")
    return found[0]


def available(model: BaseModel, field: str, version: versions.Version) -> bool:
    """Whether the target has the feature the field asks for."""
    return versions.has(version, gate(model, field).feature)


def wanted(model: BaseModel, field: str, version: versions.Version) -> bool:
    """A yes/no field's value, null read as "where the target has it"."""
    value = getattr(model, field)
    return available(model, field, version) if value is None else bool(value)


def _asks(value: Any) -> bool:
    if isinstance(value, (bool, list, dict)):
        return bool(value)
    return value is not None


def refusals(model: BaseModel, field: str, version: versions.Version, where: str = "") -> list[Problem]:
    """The field asked for on a target without its feature, as the problem at where.field."""
    declared = gate(model, field)
    if not _asks(getattr(model, field)) or versions.has(version, declared.feature):
        return []
    path = f"{where}.{field}" if where else field
    return [Problem(path, versions.needs_message(declared.feature, version) + declared.note, declared.fix)]
