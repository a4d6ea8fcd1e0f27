"""How a user mistake is reported: the field, what is wrong, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # field path in the spec, e.g. "users[0].networks[1]"; "" for the whole spec
    problem: str
    fix: str

    def __str__(self) -> str:
        where = self.path or "spec"
        return f"{where}: {self.problem}. Fix: {self.fix}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class SpecError(Exception):
    """One or more problems with a spec; nothing has been written when this is raised."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def field_path(loc: Iterable[str | int]) -> str:
    """("users", 0, "networks", 1) -> "users[0].networks[1]"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
