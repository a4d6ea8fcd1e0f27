"""The scripts that run on a host, one file each beside this module, and how each is sent.

Every script opens with its contract header: how it is run, what it takes, what it prints,
its exit status. What it is given travels as arguments (or environment), quoted by pyinfra
and never written into the text: paths, keys and addresses come from specs and hosts and are
hostile. hardhouse's own constants (a process name, a file's fixed place, a bound) are the one
exception: they are written into the script's contract block (the lines between
CONTRACT_BEGIN and CONTRACT_END, which declare every name empty in the source) from a mapping
on the Python side, each value shell-quoted, so that the two sides cannot disagree and the
argument list keeps to what changes from run to run.

Shared functions live in lib/ and are sourced with one line under a shellcheck directive:

    # shellcheck source-path=SCRIPTDIR source=lib/NAME.sh
    . "${0%/*}/lib/NAME.sh"

Run from this directory (shellcheck, a test) a script sources them; sent to a host it carries
them: the pair of lines is replaced by the library's text (its leading comment block left out).

hardhouse-apply is shipped as a file (STATE/bin/hardhouse-apply: hardhouse.deploy.payloads for
ClickHouse, hardhouse.deploy.zookeeper for ZooKeeper, each with its profile in the contract);
every other script runs as `bash -c TEXT NAME ARG...` (or `sh -c`, as its first line says),
TEXT being the script without its leading comment block (load(), HostScript.command()).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pyinfra.api import QuoteString, StringCommand

CONTRACT_BEGIN = "# @hardhouse-contract-begin@"
CONTRACT_END = "# @hardhouse-contract-end@"
SHELLS = {"#!/bin/bash": "bash", "#!/bin/sh": "sh"}
# The two lines that source a library (see the module docstring).
_DIRECTIVE = re.compile(r"# shellcheck source-path=SCRIPTDIR source=lib/([a-z0-9-]+\.sh)")
_SOURCE_LINE = '. "${0%%/*}/lib/%s"'

Values = Mapping[str, "str | tuple[str, ...]"]


def source(name: str) -> str:
    """The text of hostscripts/NAME.sh (or lib/NAME.sh) as it is in the package."""
    return resources.files(__name__).joinpath(f"{name}.sh").read_text()


def without_header(text: str) -> str:
    """The text after its leading comment block (the first line and the header) and the blank
    lines that follow it."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "".join(lines[start:])


def with_libraries(text: str) -> str:
    """The text with each library it sources written in where it is sourced."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _DIRECTIVE.fullmatch(line.strip())
        if match is not None:
            library = match.group(1)
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if following != _SOURCE_LINE % library:
                raise ValueError(f"the directive for lib/{library} must be followed by: {_SOURCE_LINE % library}")
            out.append(without_header(source(f"lib/{library.removesuffix('.sh')}")))
            index += 2
            continue
        if "/lib/" in line and line.lstrip().startswith(". "):
            raise ValueError(f"a library sourced without its shellcheck directive: {line.strip()}")
        out.append(line)
        index += 1
    return "".join(out)


def _quote(value: str) -> str:
    """shlex.quote, always quoted: a bare live-targets reads as arithmetic to shellcheck."""
    quoted = shlex.quote(value)
    return quoted if quoted.startswith("'") else f"'{value}'"


def assignment(name: str, value: str | tuple[str, ...]) -> str:
    """NAME='value', or NAME=('a' 'b') for a tuple (a bash array)."""
    if isinstance(value, tuple):
        return f"{name}=({' '.join(_quote(v) for v in value)})"
    return f"{name}={_quote(value)}"


def with_contract(text: str, values: Values, origin: str) -> str:
    """The text with its contract block replaced by an assignment of each value. The block
    declares the same names empty; names that differ are a bug to fix before sending, so it
    raises. `origin` names the module the values come from (shown in the block's first line)."""
    lines = text.splitlines(keepends=True)
    begin = [i for i, line in enumerate(lines) if line.strip() == CONTRACT_BEGIN]
    end = [i for i, line in enumerate(lines) if line.strip() == CONTRACT_END]
    if len(begin) != 1 or len(end) != 1 or begin[0] > end[0]:
        raise ValueError("the script must hold one contract block (its begin and end marker lines)")
    declared = {line.split("=", 1)[0] for line in lines[begin[0] + 1 : end[0]] if "=" in line}
    if declared != set(values):
        raise ValueError(f"the script and {origin} disagree on names: {sorted(declared ^ set(values))}")
    block = [f"{CONTRACT_BEGIN} generated from {origin}; do not edit"]
    block += [assignment(name, value) for name, value in values.items()]
    block.append(CONTRACT_END)
    return "".join(lines[: begin[0]]) + "\n".join(block) + "\n" + "".join(lines[end[0] + 1 :])


def shipped(name: str, values: Values | None = None, origin: str = "") -> str:
    """The whole script as it goes to the host: its libraries in, its contract block filled
    (a script with a block needs values; one without takes none)."""
    text = with_libraries(source(name))
    has_block = any(line.strip() == CONTRACT_BEGIN for line in text.splitlines())
    if has_block != (values is not None):
        raise ValueError(f"{name}: values are given exactly when the script has a contract block")
    return with_contract(text, values, origin) if values is not None else text


@dataclass(frozen=True)
class HostScript:
    """A script as `SHELL -c TEXT NAME ARG...` runs it (NAME is its $0)."""

    name: str
    shell: str  # bash or sh, from its first line
    text: str  # without its leading comment block

    def command(self, *arguments: Any) -> StringCommand:
        """The remote command; each argument is given as pyinfra takes it (QuoteString,
        HiddenValue inside one for a secret, or a str that needs no quoting)."""
        return StringCommand(self.shell, "-c", QuoteString(self.text), self.name, *arguments)


def load(name: str, values: Values | None = None, origin: str = "") -> HostScript:
    """hostscripts/NAME.sh, ready to send (see shipped())."""
    text = shipped(name, values, origin)
    first = text.split("\n", 1)[0]
    if first not in SHELLS:
        raise ValueError(f"{name}.sh must start with one of {', '.join(SHELLS)}, not {first!r}")
    body = without_header(text)
    if "\x00" in body:
        raise ValueError(f"{name}.sh holds a NUL byte (sshd refuses such a command)")
    return HostScript(name, SHELLS[first], body)
