"""Reading the files of one audited configuration tree: which files ClickHouse merges into a
main file and in what order, and each read kept inside the tree and within budgets (bytes per
file and in all, elements, include substitutions, directory entries). Symbolic links are
followed only when they stay inside the tree; names with control characters are refused."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hardhouse.clickhouse.xmlcache import parse_kept
from hardhouse.clickhouse.xmltree import (
    DEFAULT_MAX_BYTES,
    MAX_ELEMENTS,
    Element,
    Origin,
    XmlInputError,
    count_elements,
    read_bounded,
)

MAX_MERGE_FILES = 1000  # per merge directory
MAX_DIR_ENTRIES = 100_000  # entries looked at per merge directory, matching or not
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # all files of one merged configuration together
# Substitutions done while resolving includes: a real tree has a handful; an include bomb
# (each block including the next one twice) would need millions.
MAX_INCLUDES = 100_000


class Dialect(StrEnum):
    V18 = "18.16"
    MODERN = "modern"


class ConfigTreeError(Exception):
    """Input that cannot be audited; the message says what, where and how to fix it."""


@dataclass
class TreeReader:
    """Reads files of one audited tree, keeping every read inside it and within the budgets."""

    tree_root: Path  # resolved
    dialect: Dialect
    max_bytes: int = DEFAULT_MAX_BYTES
    installed_at: Path | None = None  # where the tree lives on the server, to map absolute paths
    elements_left: int = MAX_ELEMENTS
    bytes_left: int = MAX_TOTAL_BYTES
    includes_left: int = MAX_INCLUDES

    def shown(self, path: Path) -> str:
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.tree_root).as_posix()
        except ValueError:
            pass
        try:  # the tree given through a symbolic link or a relative path
            return absolute.relative_to(Path(os.path.abspath(self.tree_root))).as_posix()
        except ValueError:
            return absolute.as_posix()

    def map_server_path(self, server_path: str) -> Path | None:
        """An absolute path as the server sees it -> the file in the tree; None when outside."""
        path = Path(server_path)
        if self.installed_at is not None:
            try:
                return self.tree_root / path.relative_to(self.installed_at)
            except ValueError:
                pass
        inside = self.inside(path)
        return path if inside else None

    def inside(self, path: Path) -> bool:
        try:
            Path(os.path.realpath(path)).relative_to(self.tree_root)
        except ValueError:
            return False
        return True

    def check_name(self, path: Path) -> None:
        name = os.fsencode(path.name)
        if any(byte < 0x20 or byte == 0x7F for byte in name):
            raise ConfigTreeError(
                f"{self.shown(path.parent)}/{path.name!r}: a file name with control characters; "
                "rename or remove it (it could hide from review)"
            )
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigTreeError(
                f"{self.shown(path.parent)}/{path.name!r}: a file name that is not UTF-8; rename or remove it"
            ) from None

    def check_link(self, path: Path) -> None:
        """Refuse a path whose real location is outside the tree (symlinked file or directory)."""
        if not self.inside(path):
            target = os.path.realpath(path)
            raise ConfigTreeError(
                f"{self.shown(path)}: a symbolic link to {target}, outside the audited tree {self.tree_root}; "
                "copy the file into the tree to audit it"
            )

    def parse(self, path: Path) -> Element:
        shown = self.shown(path)
        self.check_name(path)
        if path.is_symlink() and not path.exists():
            raise ConfigTreeError(f"{shown}: a dangling symbolic link; remove it or point it at a file in the tree")
        self.check_link(path)
        return self.parse_given(path, shown)

    def parse_given(self, path: Path, shown: str) -> Element:
        """Parse a file the user named on purpose (it may be outside the tree), within the
        tree's budgets."""
        try:
            data = read_bounded(path, shown, min(self.max_bytes, self.bytes_left))
        except XmlInputError as error:
            if self.bytes_left < self.max_bytes and "larger than the limit" in str(error):
                raise ConfigTreeError(
                    f"{shown}: the configuration files together exceed {MAX_TOTAL_BYTES} bytes"
                ) from None
            raise ConfigTreeError(str(error)) from None
        self.bytes_left -= len(data)
        if self.dialect is Dialect.MODERN:
            self._refuse_yaml(path, shown, data)
        try:
            root = parse_kept(data, shown, max_elements=self.elements_left)
        except XmlInputError as error:
            if "more than" in str(error) and "elements" in str(error) and self.elements_left < MAX_ELEMENTS:
                raise ConfigTreeError(f"{error} (the limit counts all files of the configuration together)") from None
            raise ConfigTreeError(str(error)) from None
        self.elements_left -= count_elements(root)
        return root

    def _refuse_yaml(self, path: Path, shown: str, data: bytes) -> None:
        # Modern ClickHouse reads .yaml/.yml as YAML, .xml as XML, and sniffs anything else:
        # XML when the first non-blank line starts with "<".
        suffix = path.suffix.lower()
        yaml = suffix in (".yaml", ".yml")
        if suffix != ".xml" and not yaml:
            first = next((line.strip() for line in data.splitlines() if line.strip()), b"")
            yaml = not first.startswith(b"<")
        if yaml:
            raise ConfigTreeError(
                f"{shown}: YAML configuration files are not supported yet; ClickHouse would merge this file, "
                "so the audit stops rather than skip it (convert it to XML to audit the tree)"
            )

    def spend(self, elements: int, origin: Origin) -> None:
        self.includes_left -= 1
        if self.includes_left < 0:
            raise ConfigTreeError(
                f"{origin}: includes make more than {MAX_INCLUDES} substitutions; "
                "check for an include that includes itself or a large block included many times"
            )
        self.elements_left -= elements
        if self.elements_left < 0:
            raise ConfigTreeError(
                f"{origin}: includes expand the configuration past {MAX_ELEMENTS} elements; "
                "check for an include that includes itself or a large block included many times"
            )

    def merge_files(self, main: Path) -> list[Path]:
        """The files ClickHouse merges into `main`, in its order."""
        directories = {main.with_suffix(".d"), main.parent / "conf.d"}
        found: list[Path] = []
        for directory in sorted(directories):
            if directory.is_symlink() or directory.exists():
                self.check_link(directory)
            if not directory.is_dir():
                continue
            count = 0
            try:
                entries = os.scandir(directory)
            except OSError as error:
                raise ConfigTreeError(f"{self.shown(directory)}: cannot be listed ({error.strerror})") from None
            with entries:
                for seen, entry in enumerate(entries):
                    if seen >= MAX_DIR_ENTRIES:
                        raise ConfigTreeError(
                            f"{self.shown(directory)}: more than {MAX_DIR_ENTRIES} entries; clean it up to audit it"
                        )
                    path = Path(entry.path)
                    if not self._is_merge_name(entry.name):
                        continue
                    self.check_name(path)
                    if entry.is_symlink():
                        if not path.exists():
                            raise ConfigTreeError(
                                f"{self.shown(path)}: a dangling symbolic link; remove it or point it at a file "
                                "in the tree"
                            )
                        self.check_link(path)
                    if not path.is_file():
                        continue  # directories, FIFOs, devices: ClickHouse skips them too
                    count += 1
                    if count > MAX_MERGE_FILES:
                        raise ConfigTreeError(
                            f"{self.shown(directory)}: more than {MAX_MERGE_FILES} configuration files; "
                            "the audit reads at most that many per directory"
                        )
                    found.append(path)
        # ClickHouse sorts the full path strings (std::sort on bytes).
        return sorted(found, key=lambda p: os.fsencode(str(p)))

    def _is_merge_name(self, name: str) -> bool:
        if self.dialect is Dialect.V18:
            # Poco::Path: extension after the last dot, base name before it (".xml" -> "", "xml").
            base, dot, extension = name.rpartition(".")
            if not dot:
                return False
            return extension in ("xml", "conf") and not base.startswith(".")
        # std::filesystem: a leading dot alone does not start an extension (".xml" has none).
        stem, extension = os.path.splitext(name)
        return extension.lower() in (".xml", ".conf", ".yaml", ".yml") and not stem.startswith(".")


def open_reader(tree_root: Path, dialect: Dialect, installed_at: Path | None, max_bytes: int) -> TreeReader:
    if not tree_root.is_dir():
        raise ConfigTreeError(f"{tree_root}: not a directory; give the directory that holds config.xml")
    return TreeReader(
        Path(os.path.realpath(tree_root)),
        Dialect(dialect),
        max_bytes=max_bytes,
        installed_at=Path(installed_at) if installed_at is not None else None,
    )
