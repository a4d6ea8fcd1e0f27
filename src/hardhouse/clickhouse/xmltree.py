"""Bounded, hostile-safe XML reading into nodes that remember where they came from.

Every configuration file an audit reads is treated as hostile: the file is checked to be a
regular file no larger than `max_bytes` before it is read, at most `max_bytes` are read,
stdlib expat parses it with DOCTYPE and entity declarations refused (as defusedxml does, so
no entity expansion and no external fetches), and the tree is bounded in depth and in
element count. Each element, text and comment keeps its Origin: the file (as the caller
wants it shown) and the 1-based line where it starts.

The node model mirrors what ClickHouse's Poco DOM builds, because the merge (merge.py) must
behave exactly like ClickHouse's: consecutive character data is one Text node, a CDATA
section is a separate node (Poco's merge does not strip CDATA), comments are nodes.
Processing instructions are dropped (they carry no configuration) but still end a text node.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from hardhouse import bounded_file

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 100
MAX_ELEMENTS = 1_000_000

# ClickHouse's "all whitespace" test (ConfigProcessor's allWhitespace): exactly these four.
XML_WHITESPACE = " \t\n\r"


class XmlInputError(Exception):
    """A file that cannot be read as configuration; the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class Origin:
    file: str  # path relative to the audited tree's root (absolute when outside it)
    line: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Unresolved:
    """Something the server decides that the audit cannot see: an environment variable, a
    ZooKeeper node, an include file that exists only on the server, the host name."""

    kind: str  # "from_env" | "from_zk" | "incl" | "include_from" | "layer" | "merge"
    name: str  # the env var / znode path / include name / file
    origin: Origin
    why: str


@dataclass(slots=True)
class Text:
    value: str
    origin: Origin  # the line of its first non-whitespace character (its start when all whitespace)
    cdata: bool = False  # a CDATA section: Poco keeps it as its own node type, which merges leave alone

    def is_blank(self) -> bool:
        return not self.value.strip(XML_WHITESPACE)


@dataclass(slots=True)
class Comment:
    value: str
    origin: Origin


@dataclass(slots=True)
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | Text | Comment]
    origin: Origin
    # Set by the merge when the server fills this element from something the audit cannot
    # read: its value, attributes and children are then unknown (hardhouse.audit.values).
    unresolved: Unresolved | None = None

    def elements(self, tag: str | None = None) -> list[Element]:
        """Child elements in document order, optionally only those named `tag`."""
        return [c for c in self.children if isinstance(c, Element) and (tag is None or c.tag == tag)]

    def find(self, path: str) -> Element | None:
        """The element at "a/b/c" below this one: the first child of that name at each step."""
        node: Element | None = self
        for step in _steps(path):
            node = next((c for c in node.children if isinstance(c, Element) and c.tag == step), None)
            if node is None:
                return None
        return node

    def find_all(self, path: str) -> list[Element]:
        """Every element named by the last step, under the first match of the earlier steps."""
        steps = _steps(path)
        if not steps:
            return [self]
        parent = self.find("/".join(steps[:-1])) if len(steps) > 1 else self
        return parent.elements(steps[-1]) if parent is not None else []

    @property
    def text(self) -> str:
        """Like Poco's innerText (all descendant text and CDATA, no comments), without the XML
        whitespace around it. ClickHouse reads values through innerText."""
        return "".join(_inner_text(self)).strip(XML_WHITESPACE)

    @property
    def raw_text(self) -> str:
        """Poco's innerText exactly: all descendant text and CDATA, whitespace kept."""
        return "".join(_inner_text(self))

    @property
    def value_origin(self) -> Origin:
        """Where the value comes from: the last non-whitespace text child, else the element."""
        for child in reversed(self.children):
            if isinstance(child, Text) and not child.is_blank():
                return child.origin
        return self.origin

    def iter(self) -> Iterator[Element]:
        """This element and every element below it, in document order."""
        stack: list[Element] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.elements()))

    def copy(self) -> Element:
        """A deep copy (origins are shared: they are immutable)."""
        return Element(self.tag, dict(self.attrs), [copy_node(c) for c in self.children], self.origin, self.unresolved)


def copy_node(node: Element | Text | Comment) -> Element | Text | Comment:
    """A deep copy of any node (origins are shared: they are immutable)."""
    if isinstance(node, Element):
        return node.copy()
    if isinstance(node, Text):
        return Text(node.value, node.origin, node.cdata)
    return Comment(node.value, node.origin)


def _inner_text(element: Element) -> Iterator[str]:
    for child in element.children:
        if isinstance(child, Text):
            yield child.value
        elif isinstance(child, Element):
            yield from _inner_text(child)


def _steps(path: str) -> list[str]:
    return [step for step in path.split("/") if step]


def count_elements(element: Element) -> int:
    return sum(1 for _ in element.iter())


@dataclass
class _Builder:
    """Expat callbacks building the tree, with the bounds checked as it grows."""

    shown_as: str
    parser: expat.XMLParserType
    max_depth: int
    max_elements: int
    root: Element | None = None
    stack: list[Element] = field(default_factory=list)
    elements: int = 0
    open_text: Text | None = None  # the text node that further character data extends
    last_origin: Origin | None = None  # shared by the nodes of one line: memory, on big files

    def _fail(self, message: str) -> None:
        raise XmlInputError(f"{self.shown_as}:{self.parser.CurrentLineNumber}: {message}")

    def _origin(self, line: int | None = None) -> Origin:
        line = self.parser.CurrentLineNumber if line is None else line
        if self.last_origin is None or self.last_origin.line != line:
            self.last_origin = Origin(self.shown_as, line)
        return self.last_origin

    def close_text(self) -> None:
        text = self.open_text
        if text is not None and text.is_blank():
            text.value = sys.intern(text.value)  # indentation repeats: keep one copy of each
        self.open_text = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.close_text()
        if len(self.stack) >= self.max_depth:
            self._fail(f"elements nested deeper than {self.max_depth} levels")
        self.elements += 1
        if self.elements > self.max_elements:
            self._fail(f"more than {self.max_elements} elements")
        element = Element(tag, attrs, [], self._origin())
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)

    def end(self, tag: str) -> None:
        self.close_text()
        self.stack.pop()

    def characters(self, data: str, cdata: bool) -> None:
        if not self.stack:
            return  # whitespace around the root element: not part of the configuration
        line = self.parser.CurrentLineNumber
        text = self.open_text
        if text is not None and text.cdata == cdata:
            if text.is_blank() and data.strip(XML_WHITESPACE):
                # The value starts here: point at its first non-whitespace character.
                skipped = len(data) - len(data.lstrip(XML_WHITESPACE))
                text.origin = self._origin(line + data.count("\n", 0, skipped))
            text.value += data
            return
        skipped = len(data) - len(data.lstrip(XML_WHITESPACE)) if data.strip(XML_WHITESPACE) else 0
        text = Text(data, self._origin(line + data.count("\n", 0, skipped)), cdata)
        self.stack[-1].children.append(text)
        self.open_text = text

    def comment(self, data: str) -> None:
        self.close_text()
        if self.stack:  # comments outside the root element are dropped
            self.stack[-1].children.append(Comment(data, self._origin()))

    def interrupt(self, *_: object) -> None:
        self.close_text()  # a processing instruction: dropped, but it separates text nodes in Poco

    def refuse(self, what: str):  # noqa: ANN201 - returns an expat handler
        def handler(*_: object) -> None:
            self._fail(f"{what} refused (DOCTYPE and entities are not allowed in configuration files)")

        return handler


def parse_bytes(
    data: bytes,
    shown_as: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_elements: int = MAX_ELEMENTS,
) -> Element:
    """Parse a whole document held in memory; returns its root element."""
    parser = expat.ParserCreate()
    builder = _Builder(shown_as, parser, max_depth, max_elements)
    in_cdata = [False]

    def start_cdata() -> None:
        in_cdata[0] = True  # adjacent CDATA sections join, as in Poco; text and CDATA never do

    def end_cdata() -> None:
        in_cdata[0] = False

    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = lambda chunk: builder.characters(chunk, in_cdata[0])
    parser.StartCdataSectionHandler = start_cdata
    parser.EndCdataSectionHandler = end_cdata
    parser.CommentHandler = builder.comment
    parser.ProcessingInstructionHandler = builder.interrupt
    parser.StartDoctypeDeclHandler = builder.refuse("DOCTYPE declaration")
    parser.EntityDeclHandler = builder.refuse("entity declaration")
    parser.UnparsedEntityDeclHandler = builder.refuse("entity declaration")
    parser.ExternalEntityRefHandler = builder.refuse("external entity")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
        builder.close_text()
    except expat.ExpatError as error:
        message = expat.ErrorString(error.code) if error.code is not None else str(error)
        raise XmlInputError(f"{shown_as}:{error.lineno}: {message} (column {error.offset + 1})") from None
    except RecursionError:
        raise XmlInputError(f"{shown_as}: nested too deeply") from None
    if builder.root is None:
        raise XmlInputError(f"{shown_as}:1: no root element")
    return builder.root


def read_bounded(path: Path, shown_as: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a regular file no larger than max_bytes (hardhouse.bounded_file's reader,
    its refusal as an XmlInputError)."""
    try:
        return bounded_file.read_bounded(path, max_bytes, shown_as=shown_as)
    except bounded_file.FileRefused as error:
        raise XmlInputError(str(error)) from None


def parse_file(path: Path, shown_as: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Element:
    """Read and parse one configuration file; returns its root element (document-level
    comments are dropped). Raises XmlInputError naming `shown_as` and the line."""
    return parse_bytes(read_bounded(path, shown_as, max_bytes), shown_as)
