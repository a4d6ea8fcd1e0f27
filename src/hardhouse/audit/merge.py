"""ClickHouse's configuration merge, redone offline: which files merge into a main file and in
which order, then the merge of each (hardhouse.audit.merge_elements) and the includes
(hardhouse.audit.includes), with every node keeping the file and line it came from; and the
server's two merged files, config.xml and its users file. It follows ConfigProcessor in two
dialects (hardhouse.audit.files.Dialect):

V18 (Debian's ClickHouse 18.16, dbms/src/Common/Config/ConfigProcessor.cpp): merge files are
`X/name.d/` and `X/conf.d/` (both) for a main file `X/name.ext`; regular files whose extension
(after the last dot, case-sensitive) is `xml` or `conf` and whose base name (before the last
dot) does not start with "." -- so a file named `.xml` does merge; all of them sorted as full
path strings (`conf.d/...` before `config.d/...`; conf.d merges into users.xml too).

MODERN (ClickHouse 22-24 sources, src/Common/Config/ConfigProcessor.cpp; chdb-core 26.9 has the
same behaviour as far as its embedded engine shows): extensions compared lower-case, also
`.yaml`/`.yml` (refused here: YAML is not supported yet); a file named `.xml` has no extension
(std::filesystem) and is skipped. The root element of a merged file must match the main one
(yandex and clickhouse count as the same); a main root other than those skips non-matching
files instead.

Everything read is bounded (hardhouse.audit.files): file size, files per directory, depth,
total elements (includes counted), total bytes; symbolic links are followed only when they
stay inside the tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from hardhouse.audit.files import ConfigTreeError, Dialect, TreeReader, open_reader
from hardhouse.audit.includes import Includer
from hardhouse.audit.merge_elements import Merger
from hardhouse.audit.users import User, users
from hardhouse.audit.values import Unknown, Values
from hardhouse.clickhouse.xmltree import DEFAULT_MAX_BYTES, Element, Origin, Unresolved

__all__ = ["ConfigTreeError", "Dialect", "MergedConfig", "ServerTree", "Unresolved", "merge_file", "read_server_tree"]


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
    merger = Merger(reader)
    for path in reader.merge_files(main):
        with_root = reader.parse(path)
        if reader.dialect is Dialect.MODERN and not _roots_match(root, with_root, reader.shown(path)):
            continue  # modern ClickHouse skips a file of another configuration kind
        merger.merge_into(root, with_root)
        files.append(reader.shown(path))
    Includer(reader, unresolved, files).run(
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
