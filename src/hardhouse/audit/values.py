"""Values read the way ClickHouse reads them, or Unknown: never a guess.

ClickHouse reads a merged configuration through Poco's AbstractConfiguration, and every
judgement the audit makes must start from what that returns (each fact below was seen on
Debian's 18.16; tests/audit/test_oracle.py keeps checking them against the server):

* A value is the element's innerText, whitespace kept, after `${key}` substitution
  (`getString` expands every value it returns, numbers and booleans included). `key` is a Poco
  key into the same configuration: `a.b`, `a[1]` (the second `<a>`), `a[@name]` (an
  attribute), `a[@name=x]`; references nest at most 10 deep (deeper: the server refuses to
  start). A key the file does not hold stays as written in the users file; in the server's
  configuration it may come from the command line, `system.env.*` or `application.*`, which
  no file shows: Unknown.
* Children are Poco keys: the second `<bob>` under `<users>` is a user named `bob[1]` with
  settings of its own, and only the first `<networks>` of a user counts.
* Anything below an element the merge could not resolve (from_env, from_zk, an include file
  only the server has, `<layer/>`) is Unknown, and so is the absence of a child under it.

Unknown carries what cannot be decided and what to do; a rule that meets one fails its
control as undecided (hardhouse.audit.model), never passes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from hardhouse.clickhouse.xmltree import Element, Origin, Unresolved

# Poco's AbstractConfiguration throws past this many nested references ("Too many property
# references encountered"); seen on 18.16: 9 hops start, 12 do not.
MAX_REFERENCE_DEPTH = 10
# A value that substitution grows past this is not judged: real values are short.
MAX_EXPANDED_CHARS = 64 * 1024
# References one value may follow in all: a value referring fifty times to one referring fifty
# times to ... an empty one grows nothing but costs 50**10 lookups.
MAX_REFERENCES = 10_000
KEY_STEP = re.compile(r"([^.\[\]]*)(?:\[([^\]]*)\])?")
ENVIRONMENT_KEYS = ("system.", "application.")
T = TypeVar("T")


@dataclass(frozen=True)
class Unknown:
    """A value the audit cannot decide offline: why, and what the user can do about it."""

    why: str
    todo: str
    origin: Origin | None = None

    def __str__(self) -> str:
        return f"{self.why}; {self.todo}"


def from_unresolved(item: Unresolved) -> Unknown:
    todo = {
        "from_env": "write the value into the file, or check the server's environment and waive the control",
        "from_zk": "write the value into the file, or check the ZooKeeper node and waive the control",
        "layer": "write the value into the file",
        "merge": "remove the duplicate elements or give them distinct attributes",
    }.get(
        item.kind,
        "give the include file (--default-include for /etc/metrika.xml; a host audited over SSH sends its own), "
        "or write the value into the file",
    )
    return Unknown(f"{item.kind} {item.name!r} at {item.origin}: {item.why}", todo, item.origin)


class Undecidable(Exception):
    """Raised inside an audit rule for a value it cannot decide; the rule's control then fails
    as undecided with this subject and reason (hardhouse.audit.rules.judge)."""

    def __init__(self, subject: str, unknown: Unknown):
        super().__init__(f"{subject}: {unknown}")
        self.subject = subject
        self.unknown = unknown


def known(value: T | Unknown, subject: str) -> T:
    """The value, or Undecidable when it is Unknown."""
    if isinstance(value, Unknown):
        raise Undecidable(subject, value)
    return value


class Values:
    """One merged configuration as ClickHouse reads it.

    layered: the server's own configuration (config.xml), which Poco layers over the command
    line and the environment; the users file is a plain XML configuration.
    """

    def __init__(self, root: Element, *, layered: bool):
        self.root = root
        self.layered = layered
        self._references_left = MAX_REFERENCES  # reset by each get()
        self._unknown: dict[int, Unresolved] = {}
        stack: list[tuple[Element, Unresolved | None]] = [(root, None)]
        while stack:
            element, inherited = stack.pop()
            mark = element.unresolved or inherited
            if mark is not None:
                self._unknown[id(element)] = mark
            stack.extend((child, mark) for child in element.elements())

    # --- structure ------------------------------------------------------------------------

    def unknown(self, element: Element) -> Unknown | None:
        """Why this element's content is unknown (it or an ancestor is unresolved), or None."""
        mark = self._unknown.get(id(element))
        return None if mark is None else from_unresolved(mark)

    def keys(self, element: Element) -> list[tuple[str, Element]] | Unknown:
        """The element's children as Poco keys: `name`, then `name[1]`, `name[2]`..."""
        unknown = self.unknown(element)
        if unknown is not None:
            return unknown
        seen: dict[str, int] = {}
        keyed = []
        for child in element.elements():
            count = seen.get(child.tag, 0)
            seen[child.tag] = count + 1
            keyed.append((child.tag if count == 0 else f"{child.tag}[{count}]", child))
        return keyed

    def find(self, path: str, below: Element | None = None) -> Element | None | Unknown:
        """The element at "a/b" (first of each name, as Poco's findNode), None when absent;
        Unknown when an element on the way (or the one found) has unknown content."""
        node = self.root if below is None else below
        for step in (s for s in path.split("/") if s):
            unknown = self.unknown(node)
            if unknown is not None:
                return unknown
            # The first child of that name, without building the list of all children (hot path).
            found = next((c for c in node.children if isinstance(c, Element) and c.tag == step), None)
            if found is None:
                return None
            node = found
        return self.unknown(node) or node

    def all_named(self, tag: str, below: Element | None = None) -> list[Element] | Unknown:
        """Every child named exactly `tag` (getMultipleKeysFromConfig: `tag` and `tag[N]`)."""
        parent = self.root if below is None else below
        unknown = self.unknown(parent)
        if unknown is not None:
            return unknown
        return parent.elements(tag)

    # --- values ---------------------------------------------------------------------------

    def get(self, element: Element) -> str | Unknown:
        """getString: the element's innerText, whitespace kept, with `${key}` expanded."""
        unknown = self.unknown(element)
        if unknown is not None:
            return unknown
        self._references_left = MAX_REFERENCES
        return self._expand(element.raw_text, element.value_origin, 1)

    def text(self, path: str, below: Element | None = None) -> str | None | Unknown:
        """The value at `path`, None when the element is absent."""
        found = self.find(path, below)
        if found is None or isinstance(found, Unknown):
            return found
        return self.get(found)

    def _expand(self, value: str, origin: Origin, depth: int) -> str | Unknown:
        if depth > MAX_REFERENCE_DEPTH:
            return Unknown(
                f"${{...}} references nest deeper than {MAX_REFERENCE_DEPTH} (or form a cycle): "
                "ClickHouse refuses to start with it",
                "remove the circular or deep references",
                origin,
            )
        if "${" not in value:
            return value
        out: list[str] = []
        size = 0
        i = 0
        while i < len(value):
            char = value[i]
            if char != "$":
                out.append(char)
                size += 1
                i += 1
                continue
            if i + 1 >= len(value) or value[i + 1] != "{":
                out.append("$")
                size += 1
                i += 1
                continue
            end = value.find("}", i + 2)
            key = value[i + 2 :] if end < 0 else value[i + 2 : end]
            i = len(value) if end < 0 else end + 1
            found = self._reference(key, origin, depth)
            if isinstance(found, Unknown):
                return found
            piece = "${" + key + "}" if found is None else found
            out.append(piece)
            size += len(piece)
            if size > MAX_EXPANDED_CHARS:
                return Unknown(
                    f"${{...}} substitution makes the value longer than {MAX_EXPANDED_CHARS} characters",
                    "write the value without substitution",
                    origin,
                )
        return "".join(out)

    def _reference(self, key: str, origin: Origin, depth: int) -> str | None | Unknown:
        """The expanded value a `${key}` names; None when the configuration has no such key
        (Poco then keeps `${key}` as written)."""
        self._references_left -= 1
        if self._references_left < 0:
            return Unknown(
                f"the value at {origin} follows more than {MAX_REFERENCES} ${{...}} references",
                "write the value without substitution",
                origin,
            )
        found = self._lookup(key, origin)
        if isinstance(found, Unknown):
            return found
        if found is None:
            if self.layered:
                where = "the server's environment" if key.startswith(ENVIRONMENT_KEYS) else "the server's command line"
                return Unknown(
                    f"${{{key}}} at {origin} is no key of the configuration files: it may come from {where}",
                    "write the value into the file, or audit the server's command line and environment",
                    origin,
                )
            return None
        return self._expand(found, origin, depth + 1)

    def _lookup(self, key: str, origin: Origin) -> str | None | Unknown:
        """Poco's XMLConfiguration::getRaw for a key: an element's innerText or an attribute."""
        node = self.root
        position = 0
        while True:
            match = KEY_STEP.match(key, position)
            assert match is not None  # the pattern matches the empty string
            name, bracket = match.group(1), match.group(2)
            position = match.end()
            if not name and bracket is None:
                return self._undecided_key(key, origin)
            unknown = self.unknown(node)
            if unknown is not None:
                return unknown
            if bracket is not None and bracket.startswith("@") and "=" not in bracket:
                if position != len(key):
                    return self._undecided_key(key, origin)
                target = node if not name else next((c for c in node.elements() if c.tag == name), None)
                return None if target is None else target.attrs.get(bracket[1:])
            candidates = [c for c in node.elements() if c.tag == name]
            if bracket is None:
                chosen = candidates[0] if candidates else None
            elif bracket.isdigit() and bracket.isascii():
                index = int(bracket)
                chosen = candidates[index] if index < len(candidates) else None
            elif bracket.startswith("@") and "=" in bracket:
                attr, _, wanted = bracket[1:].partition("=")
                chosen = next((c for c in candidates if c.attrs.get(attr) == wanted), None)
            else:
                return self._undecided_key(key, origin)
            if chosen is None:
                return None
            node = chosen
            if position == len(key):
                return self.unknown(node) or node.raw_text
            if key[position] != ".":
                return self._undecided_key(key, origin)
            position += 1

    @staticmethod
    def _undecided_key(key: str, origin: Origin) -> Unknown:
        return Unknown(
            f"${{{key}}} at {origin} uses key syntax the audit does not evaluate",
            "write the value without substitution",
            origin,
        )
