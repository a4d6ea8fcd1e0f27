"""Resolving a merged configuration's includes, as ClickHouse's ConfigProcessor does after all
merges (`incl`, `include_from`, `from_env`, `from_zk`; modern `<include>`), in both dialects.

V18 (Debian's ClickHouse 18.16): `yandex/include_from` names the include file (default
/etc/metrika.xml when it exists); `incl="a/b"` takes `yandex/a/b` of that file: its children are
appended (after clearing, with `replace`) and its attributes set; not found: `optional` removes
the element, else it stays as written (ClickHouse logs a warning). Only one of incl, from_zk,
from_env per element. An empty `<layer/>` gets a number from the host name. ClickHouse walks
children by index while removing optional ones, so the sibling right after a removed element
is skipped; that is reproduced.

MODERN (ClickHouse 22-24, chdb-core 26.9): `<root>/include_from`, the incl path is looked up
under the include file's root whatever its name; `<include incl|from_env|from_zk="..."/>`
elements are replaced by the included children (with `merge="true"`, merged into the parent,
by hardhouse.audit.merge_elements' rules); from_env/from_zk on an element with children and no
`replace` is an error; no `<layer>` substitution; children are walked by next-sibling, so no
sibling is skipped.

What cannot be known offline is reported as Unresolved and left as written: environment
variables, ZooKeeper nodes, the host name for `<layer/>`, include files outside the audited tree
(they are never read), and /etc/metrika.xml when no include_from is set.
"""

from __future__ import annotations

import os
from pathlib import Path

from hardhouse.audit.files import ConfigTreeError, Dialect, TreeReader
from hardhouse.audit.merge_elements import SUBSTITUTION_ATTRS, Merger
from hardhouse.clickhouse.stock import DEFAULT_INCLUDE_FROM
from hardhouse.clickhouse.xmltree import (
    MAX_DEPTH,
    Comment,
    Element,
    Origin,
    Text,
    Unresolved,
    copy_node,
    count_elements,
)


class _Unknown:
    """The include file exists only on the server (or may): lookups there cannot be answered."""

    def __init__(self, why: str):
        self.why = why


class Includer:
    def __init__(self, reader: TreeReader, unresolved: list[Unresolved], files: list[str]):
        self.reader = reader
        self.dialect = reader.dialect
        self.unresolved = unresolved
        self.files = files
        self.source: Element | None | _Unknown = None
        self.source_name = ""
        self.source_reported = False
        self.merger = Merger(reader)

    def note(
        self, attached: bool, kind: str, name: str, origin: Origin, why: str, unknown: Element | None = None
    ) -> None:
        """Report what cannot be resolved offline; `unknown`: the element whose content the
        server fills from it, marked so that every value read below it is undecided."""
        item = Unresolved(kind, name, origin, why)
        if unknown is not None:
            unknown.unresolved = item
        if attached:
            self.unresolved.append(item)

    def run(self, root: Element, *, assume_no_default_include: bool, default_include: Path | None = None) -> None:
        modern = self.dialect is Dialect.MODERN
        include_from = root.find("include_from") if modern or root.tag == "yandex" else None
        if include_from is not None:
            # The include_from element itself may come from the environment or ZooKeeper.
            self.source = None
            self.visit(include_from, root, 1, True)
            self.source = self.load_source(include_from)
        elif default_include is not None:
            self.source_name = DEFAULT_INCLUDE_FROM
            shown = f"{DEFAULT_INCLUDE_FROM} (from {default_include})"
            self.source = self.reader.parse_given(default_include, shown)
            self.files.append(shown)
        elif assume_no_default_include:
            self.source = None
        else:
            self.source = _Unknown(
                f"no include_from is set: ClickHouse reads {DEFAULT_INCLUDE_FROM} on the server if it exists"
            )
            self.source_name = DEFAULT_INCLUDE_FROM
        self.visit(root, None, 1, True)

    def load_source(self, include_from: Element) -> Element | None | _Unknown:
        raw = include_from.raw_text  # Poco's innerText, whitespace kept, as ClickHouse uses it
        self.source_name = raw
        origin = include_from.value_origin
        if any(a in include_from.attrs for a in SUBSTITUTION_ATTRS):
            return _Unknown("include_from's own value comes from the environment or ZooKeeper")
        if not raw:
            return None
        if not os.path.isabs(raw):
            why = (
                "the path has whitespace around it, which ClickHouse keeps"
                if raw != raw.strip()
                else "a relative path, resolved against the server's working directory"
            )
            self.unresolved.append(Unresolved("include_from", raw, origin, why))
            return _Unknown(why)
        path = self.reader.map_server_path(raw)
        if path is None:
            why = "the include file is outside the audited tree and is not read"
            self.unresolved.append(Unresolved("include_from", raw, origin, why))
            return _Unknown(why)
        if not path.exists() and not path.is_symlink():
            if self.dialect is Dialect.V18:
                raise ConfigTreeError(
                    f"{origin}: include_from names {raw}, which does not exist "
                    f"({self.reader.shown(path)}); ClickHouse 18.16 refuses to start: create it or remove include_from"
                )
            why = "the include file does not exist; ClickHouse ignores include_from (with a warning) or refuses"
            self.unresolved.append(Unresolved("include_from", raw, origin, why))
            return _Unknown(why)
        document = self.reader.parse(path)
        self.files.append(self.reader.shown(path))
        return document

    def lookup(self, name: str, origin: Origin, attached: bool) -> Element | None | _Unknown:
        source = self.source
        if source is None or isinstance(source, _Unknown):
            if isinstance(source, _Unknown) and not self.source_reported and attached and self.source_name:
                self.source_reported = True
                if self.source_name == DEFAULT_INCLUDE_FROM:
                    self.unresolved.append(Unresolved("include_from", DEFAULT_INCLUDE_FROM, origin, source.why))
            return source
        steps = name.split("/") if name else []
        if steps and not steps[-1]:
            steps.pop()  # Poco's getNodeByPath accepts one trailing slash
        if "[" in name or "@" in name or any(not step for step in steps):
            return _Unknown(f"the incl path {name!r} uses Poco path syntax the audit does not evaluate")
        if self.dialect is Dialect.V18 and source.tag != "yandex":
            return None  # ClickHouse 18 looks up yandex/<name>: another root finds nothing
        node: Element | None = source
        for step in steps:
            node = next((c for c in node.elements() if c.tag == step), None)
            if node is None:
                return None
        return node

    def visit(self, node: Element | Text | Comment, parent: Element | None, depth: int, attached: bool) -> None:
        if not isinstance(node, Element):
            return
        if depth > MAX_DEPTH:
            raise ConfigTreeError(
                f"{node.origin}: includes nest the configuration deeper than {MAX_DEPTH} levels; "
                "check for an include that includes itself"
            )
        modern = self.dialect is Dialect.MODERN
        if not modern and node.tag == "layer" and not node.attrs and not node.children:
            why = "ClickHouse fills an empty <layer/> from the host name"
            self.note(attached, "layer", "layer", node.origin, why, unknown=node)
            return
        present = [name for name in SUBSTITUTION_ATTRS if name in node.attrs]
        if len(present) > 1:
            raise ConfigTreeError(
                f"{node.origin}: <{node.tag}> has more than one of incl, from_zk, from_env ({', '.join(present)}); "
                "ClickHouse refuses to start with it: keep one"
            )
        if modern and node.tag == "include":
            if node.children:
                raise ConfigTreeError(f"{node.origin}: <include> must have no children; ClickHouse refuses it")
            if not present:
                raise ConfigTreeError(
                    f"{node.origin}: <include> without incl, from_env or from_zk; ClickHouse refuses it"
                )
        replace = "replace" in node.attrs
        included = False
        removed_self = False
        if present:
            kind = present[0]
            name = node.attrs[kind]
            if kind != "incl" and modern and node.children and not replace:
                raise ConfigTreeError(
                    f"{node.origin}: <{node.tag}> has a value and {kind} without replace; "
                    f'ClickHouse refuses it: empty the element or add replace="1"'
                )
            if kind == "incl":
                found = self.lookup(name, node.origin, attached)
            else:
                found = _Unknown(
                    "environment variables are not resolvable offline"
                    if kind == "from_env"
                    else "ZooKeeper nodes are not resolvable offline"
                )
            if isinstance(found, _Unknown):
                # A modern <include/> is replaced by what it names: its parent's children are unknown.
                unknown = parent if modern and node.tag == "include" and parent is not None else node
                self.note(attached, kind, name, node.origin, found.why, unknown=unknown)
            elif found is None:
                if "optional" in node.attrs or (modern and node.tag == "include"):
                    if parent is not None:
                        _remove_child(parent, node)
                        removed_self = True
                else:
                    where = self.source_name or "no include file"
                    self.note(
                        attached,
                        kind,
                        name,
                        node.origin,
                        f"not found in {where}: ClickHouse keeps the element as written and logs a warning",
                    )
            elif modern and node.tag == "include":
                self.include_element(node, parent, found)
                return
            else:
                self.reader.spend(sum(count_elements(c) for c in found.elements()), node.origin)
                for attr in SUBSTITUTION_ATTRS:
                    node.attrs.pop(attr, None)
                if replace:
                    node.children = []
                    node.attrs.pop("replace", None)
                node.children.extend(copy_node(child) for child in found.children)
                node.attrs.update(found.attrs)
                included = True
        if included:
            self.visit(node, parent, depth, attached)
            return
        self.visit_children(node, depth, attached and not removed_self)

    def include_element(self, node: Element, parent: Element | None, found: Element) -> None:
        """Modern <include .../>: the included children take its place (or merge into the parent)."""
        if parent is None:
            raise ConfigTreeError(f"{node.origin}: <include> as the root element; ClickHouse cannot use it")
        size = sum(count_elements(c) for c in found.elements())
        if "merge" in node.attrs:
            for _ in found.children:  # ClickHouse merges the whole source once per child
                self.reader.spend(size, node.origin)
                self.merger.merge_into(parent, found.copy())
            _remove_child(parent, node)
            return
        self.reader.spend(size, node.origin)
        at = next(i for i, c in enumerate(parent.children) if c is node)
        parent.children[at : at + 1] = [copy_node(child) for child in found.children]

    def visit_children(self, node: Element, depth: int, attached: bool) -> None:
        children = node.children
        if self.dialect is Dialect.V18:
            # ClickHouse 18 walks a live child list by index: removing the current child
            # (an optional include that was not found) skips the one after it.
            i = 0
            while i < len(node.children):
                self.visit(node.children[i], node, depth + 1, attached)
                i += 1
            return
        i = 0
        while i < len(children):
            child = children[i]
            following = children[i + 1] if i + 1 < len(children) else None
            self.visit(child, node, depth + 1, attached)
            children = node.children
            if following is None:
                return
            if i + 1 < len(children) and children[i + 1] is following:
                i += 1
            elif i < len(children) and children[i] is following:
                pass
            else:
                at = next((j for j, c in enumerate(children) if c is following), None)
                if at is None:
                    return
                i = at


def _remove_child(parent: Element, child: Element) -> None:
    parent.children = [c for c in parent.children if c is not child]
