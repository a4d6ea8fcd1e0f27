"""Reading a spec file within bounds: a hostile or mistaken file ends in a Problem, never in
a hang, a traceback or a message the size of the expanded input.

* the file is opened without blocking (a FIFO cannot stall the read) and must be a regular
  file of at most 1 MiB;
* its bytes must be UTF-8;
* its YAML is first read as events, without building anything: nesting deeper than 64, more
  than 100 000 nodes as the document would be expanded (aliases counted each time they are
  used, so a 600-byte "billion laughs" is refused) and a key given twice in one mapping are
  refused before any object is built.
The same node and depth bounds apply to specs given as data (pyinfra host data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hardhouse import bounded_file
from hardhouse.spec.errors import Problem, SpecError, bounded_text, excerpt

MAX_SPEC_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_DEPTH = 64
# libyaml when present: its parser keeps its own stack, so depth costs no Python recursion.
LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def shown_path(path: str | Path) -> str:
    text = str(path)
    return text if text.isprintable() and len(text) <= 200 else excerpt(text, 200)


def _refuse(problem: str, fix: str) -> SpecError:
    return SpecError([Problem("", problem, fix)])


def read_spec_bytes(path: str | Path, what: str = "spec file", option: str = "--spec") -> bytes:
    """The file's bytes: a regular file of at most MAX_SPEC_BYTES, read without blocking.
    `what` and `option` name the file in messages (the waivers file is read the same way)."""
    name = shown_path(path)
    try:
        return bounded_file.read_bounded(path, MAX_SPEC_BYTES, shown_as=name)
    except (bounded_file.CannotOpen, bounded_file.CannotRead) as error:
        reason = error.strerror or "the path cannot be opened"  # no strerror: a NUL byte in the path
        raise _refuse(f"cannot read {what} {name}: {reason}", f"check the path given to {option}") from None
    except bounded_file.NotRegularFile as error:
        raise _refuse(
            f"{what} {name} is {error.kind}, not a regular file", f"give {option} the path of a YAML file"
        ) from None
    except bounded_file.TooLarge:
        raise _refuse(
            f"{what} {name} is larger than {MAX_SPEC_BYTES} bytes (1 MiB)",
            f"a {what} is a few kilobytes; check that {option} names the right file",
        ) from None


def decode_spec(data: bytes, path: str | Path, what: str = "spec file") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refuse(
            f"{what} {shown_path(path)} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start} "
            "cannot be decoded",
            "save the file as UTF-8",
        ) from None


def _yaml_problem(error: yaml.YAMLError, path: str | Path) -> SpecError:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    # The parser's words (e.g. "found undefined alias"), never the text around them.
    reason = getattr(error, "problem", None)
    said = f" ({bounded_text(reason, 100)})" if isinstance(reason, str) else ""
    return _refuse(f"{shown_path(path)} is not valid YAML{where}{said}", "fix the YAML syntax there")


def _at(event: Any) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


class _Collection:
    """A sequence or mapping being read: where its expansion started, and for a mapping the
    keys seen so far and whether the next node is a key."""

    def __init__(self, anchor: str | None, start: int, mapping: bool):
        self.anchor = anchor
        self.start = start
        self.mapping = mapping
        self.keys: set[str] = set()
        self.next_is_key = mapping


def check_yaml_bounds(text: str, path: str | Path) -> None:
    """Refuse, from the event stream alone, YAML too deep, too large once aliases are
    expanded, or with a key given twice in one mapping."""
    name = shown_path(path)
    loader = LOADER(text)
    expanded = 0
    anchors: dict[str, int] = {}
    open_collections: list[_Collection] = []
    try:
        while loader.check_event():
            event = loader.get_event()
            parent = open_collections[-1] if open_collections else None
            at_key = parent is not None and parent.mapping and parent.next_is_key
            starts_node = isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent))
            if starts_node and parent is not None and parent.mapping:
                parent.next_is_key = not parent.next_is_key
            if isinstance(event, yaml.ScalarEvent):
                expanded += 1
                if event.anchor:
                    anchors[event.anchor] = 1
                if at_key and parent is not None:
                    if event.value in parent.keys:
                        raise _refuse(
                            f"{name}: key {excerpt(event.value, 40)} appears twice in one mapping ({_at(event)})",
                            "keep one of them: YAML would silently use the last, which a reviewer may not see",
                        )
                    parent.keys.add(event.value)
            elif isinstance(event, yaml.AliasEvent):
                expanded += anchors.get(event.anchor, 1)
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(open_collections) >= MAX_DEPTH:
                    raise _refuse(
                        f"{name} nests more than {MAX_DEPTH} levels deep ({_at(event)})",
                        "a spec nests a few levels; check the brackets there",
                    )
                expanded += 1
                open_collections.append(_Collection(event.anchor, expanded, isinstance(event, yaml.MappingStartEvent)))
            elif isinstance(event, yaml.CollectionEndEvent):
                closed = open_collections.pop()
                if closed.anchor:
                    anchors[closed.anchor] = expanded - closed.start + 1
            if expanded > MAX_NODES:
                raise _refuse(
                    f"{name} has more than {MAX_NODES} values once its aliases (*name) are expanded",
                    "write the spec without aliases that multiply; a spec has a few hundred values",
                )
    except yaml.YAMLError as error:
        raise _yaml_problem(error, path) from None
    finally:
        loader.dispose()


def parse_spec_text(text: str, path: str | Path) -> Any:
    check_yaml_bounds(text, path)
    try:
        return yaml.load(text, Loader=LOADER)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as error:
        raise _yaml_problem(error, path) from None
    except (ValueError, OverflowError, TypeError, RecursionError) as error:
        # e.g. an integer of thousands of digits, or an impossible !!timestamp
        raise _refuse(
            f"{shown_path(path)} holds a value that cannot be read ({type(error).__name__})",
            "write plain numbers, strings, lists and mappings",
        ) from None


def check_data_bounds(data: Any) -> None:
    """The node and depth bounds for a spec given as data; shared objects are counted each
    time they appear, as validating them would visit them."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while pending:
        node, depth = pending.pop()
        count += 1
        if not isinstance(node, (dict, list, tuple, set, frozenset)):
            continue
        if depth > MAX_DEPTH:
            raise _refuse(
                f"the spec nests more than {MAX_DEPTH} levels deep",
                "a spec nests a few levels; check where it is generated",
            )
        # Everything pending will be counted: refuse before the queue itself grows past the bound.
        if count + len(pending) + len(node) * (2 if isinstance(node, dict) else 1) > MAX_NODES:
            raise _refuse(
                f"the spec has more than {MAX_NODES} values",
                "a spec has a few hundred values; check where it is generated",
            )
        if isinstance(node, dict):
            pending.extend((child, depth + 1) for pair in node.items() for child in pair)
        else:
            pending.extend((child, depth + 1) for child in node)
