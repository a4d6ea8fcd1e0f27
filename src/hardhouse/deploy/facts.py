"""Facts: what is on a host, read with one remote command each (pyinfra.api.FactBase).

Contents are compared by a keyed digest, never a plain one: a users.d file holds password
hashes, and a plain SHA-256 of it in pyinfra's output (-vvv prints fact output) would let
anyone with the CI log test password guesses offline. The key is random per deploy run and
travels to the host as a pyinfra HiddenValue, which every log shows masked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from pyinfra.api import FactBase, HiddenValue, QuoteString, StringCommand

from hardhouse.deploy import hostscripts
from hardhouse.deploy.contract import SERVER_PROCESSES

DIGEST_KEY = secrets.token_hex(16)  # one per process: the deploy machine's side of the comparison


def keyed_digest(data: bytes, key: str = DIGEST_KEY) -> str:
    """What the host prints for a file with this content: HMAC-SHA256 keyed with `key`
    (openssl dgst -hmac, one process for every file)."""
    return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()


# The host half: hostscripts/hardhouse-files.sh (its header says what it takes and prints).
FILES_SCRIPT = hostscripts.load(
    "hardhouse-files", {"HH_SERVER_PROCESSES": SERVER_PROCESSES}, origin="hardhouse.deploy.facts"
)


@dataclass(frozen=True)
class PathState:
    kind: str  # F file, D directory, M missing
    meta: str = ""  # user:group:mode (octal, as stat %a prints it)
    digest: str = ""  # keyed_digest of the content (files only)


@dataclass
class HostFiles:
    paths: dict[str, PathState] = field(default_factory=dict)
    matches: list[str] = field(default_factory=list)  # paths the globs found
    running: bool = False


class HardhouseFiles(FactBase):
    """Owner, mode and keyed digest of given paths, the files matching some globs, and whether
    clickhouse-server runs: one remote command for everything a step compares.

        HostFiles(paths={"/etc/clickhouse-server/users.d/zz-hardhouse-users.xml":
                         PathState("F", "root:clickhouse:640", "<keyed digest>")},
                  matches=["/etc/clickhouse-server/config.d/zz-hardhouse-ports.xml"], running=True)
    """

    def command(self, paths: list[str], globs: list[str] | None = None) -> StringCommand:
        arguments = [QuoteString(p) for p in paths]
        if globs:
            arguments += ["--globs", *(QuoteString(g) for g in globs)]
        return FILES_SCRIPT.command(QuoteString(HiddenValue(DIGEST_KEY)), *arguments)

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


class InstalledDebianPackages(FactBase):
    """Which of the named Debian packages are installed (dpkg's status "install ok installed"),
    read with one `dpkg-query` of those names: pyinfra's DebPackages lists every package of the
    host (`dpkg -l`), which took a cluster's ZooKeeper host 0.12 s while the deploy was planned.
    The host's answer is untrusted text: callers test only the names they asked for."""

    def command(self, packages: list[str]) -> StringCommand:
        fields = QuoteString("${Status} ${Package}\\n")
        return StringCommand(
            "dpkg-query", "-W", "-f", fields, *(QuoteString(p) for p in packages), "2>/dev/null", "||", "true"
        )

    def process(self, output: list[str]) -> set[str]:
        return {line.rsplit(" ", 1)[1] for line in output if line.startswith("install ok installed ")}

    def default(self) -> set[str]:
        return set()
