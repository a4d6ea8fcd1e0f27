"""Merging one parsed configuration file into another, as ClickHouse's ConfigProcessor does
(mergeRecursive), in both dialects; which files merge and in what order is hardhouse.audit.merge's.

V18 (Debian's ClickHouse 18.16, dbms/src/Common/Config/ConfigProcessor.cpp): root element names
are not compared. At each level the target's non-whitespace text children are dropped (CDATA
sections are not text nodes and stay); each child element of the merged file takes the first
not yet matched target child with the same tag and attributes (ignoring replace, remove, incl,
from_zk, from_env): `remove` deletes it, `replace` puts the new element in its place (dropping
the attribute), otherwise the two merge recursively (the target keeps its own attributes).
Unmatched children, text and comments are appended as they are (a `replace` attribute, nested
`remove` elements and all). `remove` with `replace` on one element is an error.

MODERN (ClickHouse 22-24 sources, src/Common/Config/ConfigProcessor.cpp; chdb-core 26.9 has the
same behaviour as far as its embedded engine shows): the merged element's attributes are copied
onto the target, and a merged element with any children clears the target's
incl/from_zk/from_env; `replace` keeps its attribute; unmatched elements are appended without
nested `replace` attributes and `remove` children. Equal candidates are paired in an order of a
hash table: where that changes the result, the elements are marked unresolved.
"""

from __future__ import annotations

from collections import deque

from hardhouse.audit.files import ConfigTreeError, Dialect, TreeReader
from hardhouse.clickhouse.xmltree import Comment, Element, Text, Unresolved

SUBSTITUTION_ATTRS = ("incl", "from_zk", "from_env")
# Attributes that do not make two elements distinct when matching merge targets.
IDENTITY_IGNORED = frozenset({"replace", "remove", *SUBSTITUTION_ATTRS})


def _identity(element: Element) -> tuple[str, tuple[tuple[str, str], ...]]:
    return element.tag, tuple(sorted((k, v) for k, v in element.attrs.items() if k not in IDENTITY_IGNORED))


def _is_value_text(node: Element | Text | Comment) -> bool:
    """A text node ClickHouse strips from a merge target: Text, not CDATA, not all whitespace."""
    return isinstance(node, Text) and not node.cdata and not node.is_blank()


class Merger:
    def __init__(self, reader: TreeReader):
        self.reader = reader
        self.dialect = reader.dialect

    def merge_into(self, config: Element, with_root: Element) -> None:
        self._merge(config, with_root)

    def _merge(self, config: Element, with_node: Element) -> None:
        modern = self.dialect is Dialect.MODERN
        kept = [child for child in config.children if not _is_value_text(child)]
        index: dict[tuple, deque[Element]] = {}
        for child in kept:
            if isinstance(child, Element):
                index.setdefault(_identity(child), deque()).append(child)
        if modern:
            self._mark_ambiguous(index, with_node)
        removed: set[int] = set()
        replaced: dict[int, Element] = {}
        appended: list[Element | Text | Comment] = []
        for node in with_node.children:
            remove = False
            if isinstance(node, Element):
                remove = "remove" in node.attrs
                replace = "replace" in node.attrs
                if remove and replace:
                    raise ConfigTreeError(
                        f"{node.origin}: <{node.tag}> has both remove and replace attributes; "
                        "ClickHouse refuses to start with it: keep one"
                    )
                queue = index.get(_identity(node))
                if queue:
                    target = queue.popleft()
                    if remove:
                        removed.add(id(target))
                    elif replace:
                        if not modern:
                            del node.attrs["replace"]
                        replaced[id(target)] = node
                    else:
                        if modern:
                            if node.children:  # a value in the merged file overrides a substitution
                                for name in SUBSTITUTION_ATTRS:
                                    target.attrs.pop(name, None)
                            target.attrs.update(node.attrs)
                        self._merge(target, node)
                    continue
            if remove:
                continue  # removing what is not there: nothing happens
            if modern and isinstance(node, Element):
                _drop_merge_attributes(node)
            appended.append(node)  # each merged file is parsed for this merge alone: no copy needed
        config.children = [replaced.get(id(child), child) for child in kept if id(child) not in removed] + appended

    @staticmethod
    def _mark_ambiguous(index: dict[tuple, deque[Element]], with_node: Element) -> None:
        """Modern ClickHouse finds a merge target in an unordered_multimap: with several equal
        candidates, which one a merged element meets depends on the hash table (seen on 26.9:
        of three <bob>, the second is replaced first). Where that choice changes the result,
        every element of that name and those attributes is unknown after the merge."""
        merged: dict[tuple, list[Element]] = {}
        for node in with_node.elements():
            merged.setdefault(_identity(node), []).append(node)
        for identity, nodes in merged.items():
            targets = index.get(identity)
            if not targets or len(targets) < 2:
                continue
            if len({_shape(t) for t in targets}) == 1:
                continue  # identical candidates: any choice gives the same tree
            first = nodes[: len(targets)]  # in document order, one target each; later ones find none
            if len(nodes) >= len(targets) and len({_shape(n) for n in first}) == 1:
                continue  # the same change to every candidate (hardhouse's run of removes)
            item = Unresolved(
                "merge",
                identity[0],
                nodes[0].origin,
                f"{len(targets)} <{identity[0]}> elements with the same attributes: modern ClickHouse pairs them "
                "with this file's in an order of its hash table, which the audit does not reproduce",
            )
            for element in (*targets, *nodes):
                element.unresolved = item


def _shape(node: Element | Text | Comment) -> tuple:
    """A node's content without origins (comments and blank text left out): equal shapes merge alike."""
    if isinstance(node, Element):
        children = tuple(_shape(c) for c in node.children if not isinstance(c, Comment) and not _is_blank(c))
        return (node.tag, tuple(sorted(node.attrs.items())), children)
    return ("#text", node.value) if isinstance(node, Text) else ("#comment",)


def _is_blank(node: Element | Text | Comment) -> bool:
    return isinstance(node, Text) and node.is_blank()


def _drop_merge_attributes(element: Element) -> None:
    """Modern ClickHouse's deleteAttributesRecursive: below an appended element, `replace`
    attributes go and elements marked `remove` are dropped."""
    children = []
    for child in element.children:
        if isinstance(child, Element):
            child.attrs.pop("replace", None)
            if "remove" in child.attrs:
                continue
            _drop_merge_attributes(child)
        children.append(child)
    element.children = children
