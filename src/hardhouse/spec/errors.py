"""How a user mistake is reported: the field, what is wrong, and how to fix it.

A message may echo a user's input only through `excerpt`, so that no message grows with the
input, carries a control character to a terminal or a log, or repeats more than a glance of it.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hardhouse.terminal import printable

EXCERPT_LIMIT = 60
# A key that reads like a field name is shown as .name; anything else as ['...'].
PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# The widest int whose digits are worth showing (Python refuses to print very long ones).
SHOWN_INT_BITS = 256
# Said instead of the value wherever a secret may have been pasted by mistake.
NOT_SHOWN = "(the value is not shown: if you pasted a password or key here, remove it and rotate it)"
# Field and key names under which a value is never echoed (password_env, api_key, token...).
SECRET_NAME = re.compile(r"(?i)pass|pwd|secret|token|key|credential|cookie|bearer|private|authoriz|api_?auth")


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


def _shallow_repr() -> reprlib.Repr:
    shallow = reprlib.Repr()
    shallow.maxlevel = 2
    shallow.maxlist = shallow.maxtuple = shallow.maxdict = shallow.maxset = 4
    shallow.maxstring = shallow.maxother = EXCERPT_LIMIT
    return shallow


SHALLOW = _shallow_repr()


def excerpt(value: Any, limit: int = EXCERPT_LIMIT) -> str:
    """A short, printable rendering of a user's value for a message: a quoted string with
    control characters escaped, cut at `limit` characters with the full length said."""
    if isinstance(value, str):
        if len(value) <= limit:
            return printable(repr(value))
        return printable(repr(value[:limit])) + f"... ({len(value)} characters)"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= SHOWN_INT_BITS else f"a {value.bit_length()}-bit number"
    # Containers (and anything else) are shown shallowly, never walked whole: a YAML alias
    # bomb or a shared structure would otherwise be expanded into the message.
    text = printable(SHALLOW.repr(value))
    return text if len(text) <= 2 * limit else text[: 2 * limit] + "..."


def bounded_text(text: str, limit: int = 200) -> str:
    """Text from elsewhere (a parser's message) made safe for a message: cut at `limit`
    characters, anything not printable escaped."""
    return printable(text if len(text) <= limit else text[:limit] + "...")


def listing(items: Iterable[str], limit: int = 8, quoted: bool = False) -> str:
    """ "a, b, c and 12 more": a list in a message that does not grow with the spec."""
    items = list(items)
    shown = [excerpt(item, 40) if quoted else item for item in items[:limit]]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(shown) + more


def is_secret_location(loc: Iterable[str | int]) -> bool:
    """True when a field or key on the way to a value suggests the value is a secret."""
    return any(isinstance(part, str) and SECRET_NAME.search(part) is not None for part in loc)


def field_path(loc: Iterable[str | int]) -> str:
    """("users", 0, "networks", 1) -> "users[0].networks[1]"; a key from the user's input
    that is not a plain name is quoted and cut short: profiles['a\\nb']."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{excerpt(part, 40)}]"
    return out
