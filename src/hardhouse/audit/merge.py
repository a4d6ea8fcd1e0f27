"""ClickHouse's configuration merge, redone offline: which files merge, in which order, how
`replace`, `remove` and the includes (`incl`, `include_from`, `from_env`, `from_zk`) act,
with every node keeping the file and line it came from.

It follows ConfigProcessor, in two dialects:

V18 (Debian's ClickHouse 18.16, dbms/src/Common/Config/ConfigProcessor.cpp):
  * merge files: `X/name.d/` and `X/conf.d/` (both) for a main file `X/name.ext`; regular files
    whose extension (after the last dot, case-sensitive) is `xml` or `conf` and whose base name
    (before the last dot) does not start with "." -- so a file named `.xml` does merge; all of
    them sorted as full path strings (`conf.d/...` before `config.d/...`; conf.d merges into
    users.xml too).
  * merging a file: root element names are not compared. At each level the target's
    non-whitespace text children are dropped (CDATA sections are not text nodes and stay);
    each child element of the merged file takes the first not yet matched target child with
    the same tag and attributes (ignoring replace, remove, incl, from_zk, from_env): `remove`
    deletes it, `replace` puts the new element in its place (dropping the attribute),
    otherwise the two merge recursively (the target keeps its own attributes). Unmatched
    children, text and comments are appended as they are (a `replace` attribute, nested
    `remove` elements and all). `remove` with `replace` on one element is an error.
  * includes, after all merges: `yandex/include_from` names the include file (default
    /etc/metrika.xml when it exists); `incl="a/b"` takes `yandex/a/b` of that file: its children
    are appended (after clearing, with `replace`) and its attributes set; not found: `optional`
    removes the element, else it stays as written (ClickHouse logs a warning). Only one of incl,
    from_zk, from_env per element. An empty `<layer/>` gets a number from the host name.
    ClickHouse walks children by index while removing optional ones, so the sibling right
    after a removed element is skipped; that is reproduced.

MODERN (ClickHouse 22-24 sources, src/Common/Config/ConfigProcessor.cpp; chdb-core 26.9 has
the same behaviour as far as its embedded engine shows):
  * merge files: extensions compared lower-case, also `.yaml`/`.yml` (refused here: YAML is
    not supported yet); a file named `.xml` has no extension (std::filesystem) and is skipped.
  * the root element of a merged file must match the main one (yandex and clickhouse count as
    the same); a main root other than those skips non-matching files instead.
  * merging: the merged element's attributes are copied onto the target, and a merged element
    with any children clears the target's incl/from_zk/from_env; `replace` keeps its attribute;
    unmatched elements are appended without nested `replace` attributes and `remove` children.
  * includes: `<root>/include_from`, the incl path is looked up under the include file's root
    whatever its name; `<include incl|from_env|from_zk="..."/>` elements are replaced by the
    included children (with `merge="true"`, merged into the parent); from_env/from_zk on an
    element with children and no `replace` is an error; no `<layer>` substitution; children
    are walked by next-sibling, so no sibling is skipped.

What cannot be known offline is reported as Unresolved and left as written: environment
variables, ZooKeeper nodes, the host name for `<layer/>`, include files outside the audited
tree (they are never read), and /etc/metrika.xml when no include_from is set.

Everything read is bounded (hardhouse.audit.files): file size, files per directory, depth,
total elements (includes counted), total bytes; symbolic links are followed only when they
stay inside the tree.

The module is over 500 lines because merging and includes are one algorithm in ClickHouse:
an `<include merge="true">` merges with the same rules, both share the reader's budgets and
the dialect, and the entry points order them; split apart, each half would need the other.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from hardhouse.audit.files import ConfigTreeError, Dialect, TreeReader, open_reader
from hardhouse.audit.users import User, users
from hardhouse.audit.values import Unknown, Values
from hardhouse.clickhouse.stock import DEFAULT_INCLUDE_FROM
from hardhouse.clickhouse.xmltree import (
    DEFAULT_MAX_BYTES,
    MAX_DEPTH,
    Comment,
    Element,
    Origin,
    Text,
    Unresolved,
    copy_node,
    count_elements,
)

__all__ = ["ConfigTreeError", "Dialect", "MergedConfig", "ServerTree", "Unresolved", "merge_file", "read_server_tree"]

SUBSTITUTION_ATTRS = ("incl", "from_zk", "from_env")
# Attributes that do not make two elements distinct when matching merge targets.
IDENTITY_IGNORED = frozenset({"replace", "remove", *SUBSTITUTION_ATTRS})


@dataclass
class MergedConfig:
    root: Element
    files: list[str]  # contributing files in merge order (shown_as names), main file first
    unresolved: list[Unresolved]


@dataclass
class ServerTree:
    config: MergedConfig
    users: MergedConfig  # an empty <clickhouse/> with no files when user_directories names no users_xml
    dialect: Dialect
    users_file: str | None = None  # the users file's shown name (None: none configured)
    # How includes were read (/etc/metrika.xml: unknown, absent, or this copy): drift reads its
    # expected tree the same way.
    assume_no_default_include: bool = False
    default_include: Path | None = None
    config_values: Values = field(init=False)  # config.xml as the server reads it (layered)
    users_values: Values = field(init=False)  # the users file as the server reads it

    def __post_init__(self) -> None:
        self.config_values = Values(self.config.root, layered=True)
        self.users_values = Values(self.users.root, layered=False)

    @cached_property
    def accounts(self) -> list[User] | Unknown:
        """The users as the server loads them (hardhouse.audit.users), read once per tree."""
        return users(self.users_values, self.dialect)


# --- merging ------------------------------------------------------------------------------


def _identity(element: Element) -> tuple[str, tuple[tuple[str, str], ...]]:
    return element.tag, tuple(sorted((k, v) for k, v in element.attrs.items() if k not in IDENTITY_IGNORED))


def _is_value_text(node: Element | Text | Comment) -> bool:
    """A text node ClickHouse strips from a merge target: Text, not CDATA, not all whitespace."""
    return isinstance(node, Text) and not node.cdata and not node.is_blank()


class _Merger:
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


# --- includes -----------------------------------------------------------------------------


class _Unknown:
    """The include file exists only on the server (or may): lookups there cannot be answered."""

    def __init__(self, why: str):
        self.why = why


class _Includer:
    def __init__(self, reader: TreeReader, unresolved: list[Unresolved], files: list[str]):
        self.reader = reader
        self.dialect = reader.dialect
        self.unresolved = unresolved
        self.files = files
        self.source: Element | None | _Unknown = None
        self.source_name = ""
        self.source_reported = False
        self.merger = _Merger(reader)

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


# --- entry points -------------------------------------------------------------------------


def _merge(
    reader: TreeReader,
    main: Path,
    *,
    assume_no_default_include: bool = False,
    default_include: Path | None = None,
    main_root: Element | None = None,
) -> MergedConfig:
    root = main_root if main_root is not None else reader.parse(main)
    files = [reader.shown(main)]
    unresolved: list[Unresolved] = []
    merger = _Merger(reader)
    for path in reader.merge_files(main):
        with_root = reader.parse(path)
        if reader.dialect is Dialect.MODERN and not _roots_match(root, with_root, reader.shown(path)):
            continue  # modern ClickHouse skips a file of another configuration kind
        merger.merge_into(root, with_root)
        files.append(reader.shown(path))
    _Includer(reader, unresolved, files).run(
        root, assume_no_default_include=assume_no_default_include, default_include=default_include
    )
    # The include_from element is visited twice, as ClickHouse does: report each thing once.
    return MergedConfig(root, files, list(dict.fromkeys(unresolved)))


def _roots_match(root: Element, with_root: Element, shown: str) -> bool:
    if root.tag == with_root.tag:
        return True
    known = {"yandex", "clickhouse"}
    if root.tag in known and with_root.tag in known:
        return True
    if root.tag not in known:
        return False
    raise ConfigTreeError(
        f"{shown}:{with_root.origin.line}: root element <{with_root.tag}> does not match the main file's "
        f"<{root.tag}>; modern ClickHouse refuses to start: use <clickhouse> (or <yandex>)"
    )


def merge_file(
    main: Path,
    *,
    tree_root: Path,
    dialect: Dialect,
    installed_at: Path | None = None,
    assume_no_default_include: bool = False,
    default_include: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> MergedConfig:
    """Merge `main` with its .d directories and resolve its includes, as ClickHouse would.

    installed_at: where tree_root sits on the server (e.g. /etc/clickhouse-server), so absolute
    paths below it (include_from, users_config) are read from the tree.
    assume_no_default_include: the server has no /etc/metrika.xml (else incl without
    include_from is reported unresolved); default_include: a copy of the server's.
    """
    reader = open_reader(Path(tree_root), dialect, installed_at, max_bytes)
    main = Path(main)
    if not main.exists() and not main.is_symlink():
        raise ConfigTreeError(f"{reader.shown(main)}: does not exist")
    return _merge(reader, main, assume_no_default_include=assume_no_default_include, default_include=default_include)


def read_server_tree(
    config_dir: Path,
    dialect: Dialect = Dialect.MODERN,
    *,
    installed_at: Path | None = None,
    assume_no_default_include: bool = False,
    default_include: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ServerTree:
    """The server's effective config.xml and users file, merged from config_dir by `dialect`'s
    rules (hardhouse.audit.run decides which dialects a tree is judged by)."""
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigTreeError(
            f"{config_dir}: not a directory; give the directory that holds config.xml (e.g. /etc/clickhouse-server)"
        )
    main = config_dir / "config.xml"
    if not main.exists() and not main.is_symlink():
        yaml = [name for name in ("config.yaml", "config.yml") if (config_dir / name).exists()]
        if yaml:
            raise ConfigTreeError(f"{config_dir / yaml[0]}: YAML configuration files are not supported yet")
        raise ConfigTreeError(f"{main}: does not exist; give the directory that holds ClickHouse's config.xml")
    dialect = Dialect(dialect)
    includes = {"assume_no_default_include": assume_no_default_include, "default_include": default_include}
    reader = open_reader(config_dir, dialect, installed_at, max_bytes)
    config = _merge(reader, main, **includes)  # type: ignore[arg-type]
    users_path, users_origin = _users_file(Values(config.root, layered=True), dialect, reader, main)
    if users_path is None:
        users = MergedConfig(Element("clickhouse", {}, [], Origin(reader.shown(main), 1)), [], [])
        users_file = None
    else:
        users_reader = open_reader(config_dir, dialect, installed_at, max_bytes)
        if not users_path.exists() and not users_path.is_symlink():
            raise ConfigTreeError(
                f"{users_origin}: the users file {users_reader.shown(users_path)!r} does not exist; "
                "ClickHouse would not find its users: add it to the tree"
            )
        users = _merge(users_reader, users_path, **includes)  # type: ignore[arg-type]
        users_file = users_reader.shown(users_path)
    return ServerTree(config, users, dialect, users_file, assume_no_default_include, default_include)


def _users_file(values: Values, dialect: Dialect, reader: TreeReader, main: Path) -> tuple[Path | None, Origin]:
    """users_config (relative to the config directory; default: config.xml itself), or in
    modern ClickHouse user_directories/users_xml/path when user_directories is set. The path
    is the raw text with `${}` expanded, as the server reads it: `users.xml ` (with a space) is
    another file."""
    root = values.root
    subject = "users_config"
    node = values.find("user_directories") if dialect is Dialect.MODERN else None
    if node is not None and not isinstance(node, Unknown):
        subject = "user_directories.users_xml.path"
        node = values.find("user_directories/users_xml/path")
        if node is None:
            return None, root.find("user_directories").origin  # type: ignore[union-attr]
    else:
        node = node if isinstance(node, Unknown) else values.find("users_config")
    if isinstance(node, Unknown):
        raise ConfigTreeError(f"{subject}: the users file cannot be decided offline: {node}")
    if node is None:
        return main, root.origin
    value, origin = values.get(node), node.value_origin
    if isinstance(value, Unknown):
        raise ConfigTreeError(f"{origin}: {subject} cannot be decided offline: {value}")
    if os.path.isabs(value):
        mapped = reader.map_server_path(value)
        if mapped is None:
            raise ConfigTreeError(
                f"{origin}: the users file {value!r} is outside the audited tree; copy it in, or give installed_at "
                "when the tree is a copy of the server's configuration directory"
            )
        return mapped, origin
    return main.parent / value, origin
