"""Facts: what is on a host, read with one remote command each (pyinfra.api.FactBase)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase


@dataclass(frozen=True)
class PathState:
    kind: str  # F file, D directory, M missing
    meta: str = ""  # user:group:mode (octal, as stat %a prints it)
    sha256: str = ""


@dataclass
class HostFiles:
    paths: dict[str, PathState] = field(default_factory=dict)
    matches: list[str] = field(default_factory=list)  # paths the globs found
    running: bool = False


class HardhouseFiles(FactBase):
    """Owner, mode and SHA-256 of given paths, the files matching some globs, and whether
    clickhouse-server runs: one remote command for everything a step compares."""

    def command(self, paths: list[str], globs: list[str] | None = None) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        parts = [
            f"for p in {quoted}; do "
            'if [ -f "$p" ]; then printf "F %s %s %s\\n" "$(stat -c %U:%G:%a "$p")" "$(sha256sum < "$p" | cut -c1-64)" "$p"; '
            'elif [ -d "$p" ]; then printf "D %s - %s\\n" "$(stat -c %U:%G:%a "$p")" "$p"; '
            'else printf "M - - %s\\n" "$p"; fi; done'
        ]
        for pattern in globs or []:
            directory, name = pattern.rsplit("/", 1)
            parts.append(f'for p in {shlex.quote(directory)}/{name}; do [ -e "$p" ] && printf "G %s\\n" "$p"; done')
        parts.append("if pidof clickhouse-server >/dev/null 2>&1; then echo RUNNING; fi")
        parts.append("true")
        return "; ".join(parts)

    def process(self, output: list[str]) -> HostFiles:
        found = HostFiles()
        for line in output:
            if line == "RUNNING":
                found.running = True
            elif line.startswith("G "):
                found.matches.append(line[2:])
            elif line[:2] in ("F ", "D ", "M "):
                kind, meta, digest, path = line.split(" ", 3)
                found.paths[path] = PathState(kind, "" if meta == "-" else meta, "" if digest == "-" else digest)
        return found

    def default(self) -> HostFiles:
        return HostFiles()

