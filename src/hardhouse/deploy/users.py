"""Users a host already has that the spec does not declare (spec field undeclared_users).

An application's own user (a `grafana` in the stock users.xml, or in a users.d file) is not
the spec's, so hardhouse neither knows its password nor judges its networks from the spec;
left alone it keeps logging in as before, whatever the deploy reports. The spec says what
happens to such users, and the deploy reads them from the host: the configuration tree
(hardhouse.deploy.audit.ClickHouseConfigTree, one read-only command) merged as ClickHouse
merges it, without hardhouse's own zz-hardhouse-* files, each user with the file:line that
defines it. `default` is not among them (default_user decides its fate), nor Debian's stock
passwordless `readonly` (always removed unless declared).

- refuse (default): the host fails before anything is touched (before ClickHouse is even
  installed), naming each user, its file:line and the fix.
- remove: the users are read while the deploy is planned (one more read-only command on
  every run) and the rendered users.d file removes each by name (`<grafana remove="1"/>`).
  A user that a file merged after hardhouse's defines again cannot be removed that way: the
  host fails before anything is touched, naming that file.
- keep: they stay. After going live the live-tree audit judges them with every control like
  any user; a failing control fails the host unless a waiver (hardhouse_waivers) covers it,
  and the kept users are named in the deploy's output either way.

After going live, the audit (hardhouse.deploy.recheck.audit_live) reads the merged users once
more: under refuse or remove a user the spec does not declare that is still there fails the
host, so a user added meanwhile is not left open either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import FunctionCommand, operation

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.stock import STOCK_PASSWORDLESS_USERS
from hardhouse.deploy.audit import AuditFetchError, FetchedTree, extract_tree
from hardhouse.deploy.live_tree import live_tree
from hardhouse.deploy.messages import fail_with_lines
from hardhouse.deploy.snapshot import Trust, host_files, skip_if_trusted
from hardhouse.render.build import FILE_PREFIX
from hardhouse.render.users import REMOVABLE_NAME
from hardhouse.scratch import scratch
from hardhouse.spec import HardeningSpec
from hardhouse.spec.errors import bounded_text

# hardhouse's own files in a tree (hardhouse.deploy.operations.live_globs, relative).
OWN_DIRECTORIES = ("config.d", "users.d")
FIX = (
    "Fix: declare each in hardhouse_spec.users (password, networks, profile), or set "
    "hardhouse_spec.undeclared_users to remove (the deploy removes them: the application loses its login) or "
    "keep (they stay, judged by every control like any user; a failing control then needs a waiver in "
    "hardhouse_waivers)"
)


@dataclass(frozen=True)
class HostUser:
    name: str
    origin: str  # "users.xml:43": the file (relative to the configuration directory) and line defining it

    def where(self, config_dir: str) -> str:
        file = self.origin if self.origin.startswith("/") else f"{config_dir}/{self.origin}"
        return bounded_text(file, 300)

    def shown(self, config_dir: str) -> str:
        return f"{bounded_text(self.name, 100)} ({self.where(config_dir)})"


def _dialect(spec: HardeningSpec) -> Any:
    # The audit is imported only when a tree is read: a trusted re-run never loads it.
    from hardhouse.audit.merge import Dialect

    return Dialect.V18 if spec.version == versions.LEGACY else Dialect.MODERN


# (digest of archive, config dir, dialect and own files) -> the users read from them. The users
# check and the audit after going live ask for the same tree when nothing changed between them
# (hardhouse.deploy.live_tree): merged once. Bounded: a fleet run holds one or two per host.
_MERGED: dict[str, tuple[HostUser, ...]] = {}
MAX_MERGED = 256


def _merge_key(archive: bytes, config_dir: str, dialect: Any, own: Mapping[str, bytes] | None) -> str:
    parts = [archive, config_dir.encode(), str(dialect).encode()]
    if own is None:
        parts.append(b"as-is")
    else:
        parts += [part for relative, content in sorted(own.items()) for part in (relative.encode(), content)]
    digest = hashlib.sha256()
    for part in parts:  # each length-prefixed: no two inputs run together into the same bytes
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def tree_users(
    archive: bytes, config_dir: str, spec: HardeningSpec, own: Mapping[str, bytes] | None = None
) -> list[HostUser]:
    """Every user in a fetched tree (hardhouse.deploy.audit.ClickHouseConfigTree's archive)
    as ClickHouse merges it. own: hardhouse's files to merge instead of the host's zz-hardhouse-*
    ones (relative path -> content; {} for none); None keeps the tree as it is. Raises
    AuditFetchError (an unsafe archive, or a tree that cannot be read)."""
    key = _merge_key(archive, config_dir, _dialect(spec), own)
    if key not in _MERGED:
        if len(_MERGED) >= MAX_MERGED:
            _MERGED.clear()
        _MERGED[key] = tuple(_read_users(archive, config_dir, spec, own))
    return list(_MERGED[key])


def _read_users(
    archive: bytes, config_dir: str, spec: HardeningSpec, own: Mapping[str, bytes] | None
) -> list[HostUser]:
    # The audit is imported only when a tree is read (as in _dialect).
    from hardhouse.audit.merge import ConfigTreeError, read_server_tree
    from hardhouse.audit.users import users
    from hardhouse.audit.values import Unknown

    with scratch("hardhouse-users-") as workdir:  # 0700, this process's own; removed on leaving
        extract_tree(archive, workdir)
        if own is not None:
            for directory in OWN_DIRECTORIES:
                for path in (workdir / directory).glob(f"{FILE_PREFIX}*.xml"):
                    path.unlink()
            for relative, content in own.items():
                target = workdir / relative
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                target.write_bytes(content)
        try:
            tree = read_server_tree(workdir, _dialect(spec), installed_at=Path(config_dir))
        except ConfigTreeError as error:
            raise AuditFetchError(bounded_text(str(error).replace(str(workdir), config_dir), 600)) from None
        found = users(tree.users_values, tree.dialect)  # named by Poco key: a second <bob> is bob[1]
        if isinstance(found, Unknown):
            raise AuditFetchError(f"the host's users cannot be decided: {found}")
        return [HostUser(user.name, str(user.element.origin).replace(str(workdir), config_dir)) for user in found]


def undeclared(users: list[HostUser], spec: HardeningSpec) -> list[HostUser]:
    """The users the spec does not declare and no other field decides (default_user, the stock
    passwordless users hardhouse always removes), each once."""
    decided = {user.name for user in spec.users} | {"default", *STOCK_PASSWORDLESS_USERS}
    seen: set[str] = set()
    out = []
    for user in users:
        if user.name not in decided and user.name not in seen:
            seen.add(user.name)
            out.append(user)
    return out


def refusal_lines(users: list[HostUser], config_dir: str) -> list[str]:
    count = f"{len(users)} user{'s' if len(users) != 1 else ''}"
    return (
        [f"the host has {count} the spec does not declare (undeclared_users: refuse); nothing was changed:"]
        + [f"  {user.shown(config_dir)}" for user in users]
        + [FIX]
    )


@dataclass(frozen=True)
class Removal:
    """undeclared_users: remove, as planned from the host's tree while the deploy is defined."""

    users: tuple[HostUser, ...] = ()  # removed by name in the rendered users.d file
    problems: tuple[str, ...] = ()  # lines that fail the host before anything is touched
    unreadable: str | None = None  # why the tree could not be read (a host without ClickHouse yet is fine)

    @property
    def names(self) -> list[str]:
        return [user.name for user in self.users]


def plan_removal(fetched: FetchedTree, spec: HardeningSpec, config_dir: str) -> Removal:
    """Which users the render removes; names it cannot write are problems."""
    if fetched.archive is None:
        return Removal(unreadable=fetched.error or "no answer")
    try:
        found = undeclared(tree_users(fetched.archive, config_dir, spec, own={}), spec)
    except AuditFetchError as error:
        return Removal(unreadable=str(error))
    bad = [user for user in found if not REMOVABLE_NAME.fullmatch(user.name)]
    if bad:
        lines = ["undeclared_users is remove, but these users' names cannot be written as users.d elements:"]
        lines += [f"  {user.shown(config_dir)}" for user in bad]
        lines += ["Fix: remove them from the host by hand, or declare them, or set undeclared_users to keep"]
        return Removal(problems=tuple(lines))
    return Removal(users=tuple(found))


def check_removal(
    removal: Removal, archive: bytes | None, spec: HardeningSpec, config_dir: str, own: Mapping[str, bytes]
) -> Removal:
    """With the rendered files in place of hardhouse's, is every removed user gone? A file
    merged after hardhouse's that defines one again would bring it back."""
    if not removal.users or archive is None:
        return removal
    try:
        left = {user.name: user for user in tree_users(archive, config_dir, spec, own=own)}
    except AuditFetchError as error:
        return Removal(removal.users, unreadable=str(error))
    back = [left[user.name] for user in removal.users if user.name in left]
    if not back:
        return removal
    lines = ["undeclared_users is remove, but a file merged after hardhouse's defines these users again:"]
    lines += [f"  {user.shown(config_dir)}" for user in back]
    lines += [
        f"Fix: delete those definitions, or rename their file to sort before {FILE_PREFIX}*, or declare the users; "
        "nothing was changed"
    ]
    return Removal(removal.users, problems=tuple(lines))


def not_installed(config_dir: str) -> bool:
    """Whether the host has no configuration directory at all (ClickHouse is not installed yet,
    so it has no users): from the deploy's first read, no command. Asked only when the tree
    could not be read; any other reason fails the host."""
    state = host_files([config_dir]).paths.get(config_dir)
    return state is not None and state.kind == "M"


@operation()
def check_undeclared_users(
    spec: HardeningSpec, config_dir: str, removal: Removal | None = None, trust: Trust | None = None
) -> Iterator[Any]:
    """Before anything is touched: under refuse, fail the host when it has users the spec does
    not declare; under remove, fail it when they cannot be removed, else say which are. A read."""
    if not host.state.is_executing:
        return  # read when the deploy runs, before anything is installed or staged
    if skip_if_trusted(trust, "the host's users"):
        return
    mode = spec.undeclared_users
    if mode == "keep":
        host.noop("undeclared_users: keep: users the spec does not declare are judged after going live")
        return
    if mode == "remove":
        assert removal is not None
        if removal.problems:
            yield FunctionCommand(fail_with_lines, (list(removal.problems),), {})
        elif removal.unreadable is not None and not not_installed(config_dir):
            lines = [f"cannot read the host's users before going live: {removal.unreadable}; nothing was changed"]
            yield FunctionCommand(fail_with_lines, (lines,), {})
        elif removal.users:
            shown = ", ".join(user.shown(config_dir) for user in removal.users)
            count = f"{len(removal.users)} user{'s' if len(removal.users) != 1 else ''}"
            host.log(f"undeclared_users: remove: removing {count} the spec does not declare: {shown}")
        else:
            host.noop("the host has no users the spec does not declare")
        return
    fetched = live_tree(config_dir)
    if fetched.archive is None and not_installed(config_dir):
        host.noop(f"{config_dir} does not exist yet: the host has no users to judge")
        return
    try:
        if fetched.archive is None:
            raise AuditFetchError(fetched.error or "no answer")
        found = undeclared(tree_users(fetched.archive, config_dir, spec, own={}), spec)
    except AuditFetchError as error:
        lines = [f"cannot read the host's users before going live: {error}; nothing was changed"]
        yield FunctionCommand(fail_with_lines, (lines,), {})
        return
    if found:
        yield FunctionCommand(fail_with_lines, (refusal_lines(found, config_dir),), {})
        return
    host.noop("the host has no users the spec does not declare")
