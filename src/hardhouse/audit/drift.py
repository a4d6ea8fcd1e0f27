"""Drift: the server's effective configuration against what its spec renders.

The expected configuration is the tree's own main files (config.xml, users.xml) with only
hardhouse's rendered files merged in, by the same merge; the actual one is the whole tree.
The parts the spec decides (listen addresses, ports, the TLS server section, the insecure-auth
switches, every user, the spec's profiles and quotas) are flattened into leaf values and
compared; each difference is blamed on the file:line of the value that wins. Password values
and hashes are compared, never shown.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hardhouse.audit.files import MAX_DIR_ENTRIES
from hardhouse.audit.merge import ServerTree, read_server_tree
from hardhouse.audit.model import Finding
from hardhouse.clickhouse.ports import PORTS
from hardhouse.clickhouse.xmltree import DEFAULT_MAX_BYTES, Element, Origin
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, register
from hardhouse.render import RenderedFile, render
from hardhouse.scratch import scratch
from hardhouse.spec import HardeningSpec
from hardhouse.spec.fields import has_control_character
from hardhouse.spec.settings import SYSTEM_LOG_TABLES

CONFIG_PATHS = (
    "listen_host",
    *(port.element for port in PORTS),
    "interserver_https_port",
    "openSSL/server",
    "allow_no_password",
    "allow_plaintext_password",
    "allow_implicit_no_password",
    "query_masking_rules",
    # the cluster section (secrets among them are compared, never shown: see is_secret)
    "interserver_https_host",
    "interserver_http_credentials",
    "remote_servers",
    "zookeeper",
    "macros",
    "keeper_server",
    "openSSL/client",
    # Server limits, secrets in SHOW, the server's own log tables (their ttl).
    "max_connections",
    "max_concurrent_queries",
    "keep_alive_timeout",
    "display_secrets_in_show_and_select",
    *SYSTEM_LOG_TABLES,
)
DRIFT = register(Tool.AUDIT, "drift", ControlId.DRIFT_1)
# Named in `unchecked` when the cluster's secret variables are not set (never a user name).
CLUSTER_SECRETS = "the cluster's secrets"
# A leaf named like a credential (any password or hash element, a disk key, a token, a ZooKeeper
# identity): compared, never shown, whatever element a planted file invents.
SECRET_NAME = re.compile(r"password|passwd|secret|hash|key|token|credential|identity", re.IGNORECASE)


@dataclass(frozen=True)
class Leaf:
    text: str
    origin: Origin


def flatten(element: Element, prefix: str) -> dict[str, list[Leaf]]:
    """Every leaf under `element` by its dotted path; repeated tags keep their order."""
    leaves: dict[str, list[Leaf]] = {}
    children = element.elements()
    if not children:
        leaves.setdefault(prefix, []).append(Leaf(element.text, element.value_origin))
        return leaves
    for child in children:
        for path, found in flatten(child, f"{prefix}.{child.tag}").items():
            leaves.setdefault(path, []).extend(found)
    return leaves


def _top(root: Element, path: str) -> dict[str, list[Leaf]]:
    head, _, rest = path.partition("/")
    leaves: dict[str, list[Leaf]] = {}
    for element in root.elements(head):
        target = element.find(rest) if rest else element
        if target is not None:
            for key, found in flatten(target, path.replace("/", ".")).items():
                leaves.setdefault(key, []).extend(found)
    return leaves


def _section(root: Element, section: str) -> dict[str, Element]:
    found = root.find(section)
    return {} if found is None else {child.tag: child for child in found.elements()}


def is_secret(path: str) -> bool:
    """A dotted path whose last element is named like a credential."""
    return SECRET_NAME.search(path.rsplit(".", 1)[-1]) is not None


def _shown(leaves: list[Leaf], path: str) -> str:
    if is_secret(path):
        return "(not shown)"
    return ", ".join(leaf.text for leaf in leaves) if leaves else "nothing"


def compare(path_leaves_expected: dict[str, list[Leaf]], actual: dict[str, list[Leaf]]) -> Iterator[Finding]:
    for path in sorted(set(path_leaves_expected) | set(actual)):
        want, have = path_leaves_expected.get(path, []), actual.get(path, [])
        if [leaf.text for leaf in want] == [leaf.text for leaf in have]:
            continue
        if is_secret(path):
            problem = "differs from the spec's (compared by hash; neither is shown)"
            yield Finding("drift", path, None, have[0].origin if have else None, problem)
            continue
        extra = [leaf for leaf in have if leaf.text not in {w.text for w in want}]
        if extra:
            problem = f"not in the spec (the spec renders {_shown(want, path)})"
            for leaf in extra:
                yield Finding("drift", path, leaf.text, leaf.origin, problem)
        elif have:
            yield Finding("drift", path, _shown(have, path), have[-1].origin, f"the spec renders {_shown(want, path)}")
        else:
            yield Finding("drift", path, None, None, f"missing: the spec renders {_shown(want, path)}")


def drift(actual: ServerTree, expected: ServerTree, spec: HardeningSpec, unchecked: set[str]) -> Iterator[Finding]:
    for path in CONFIG_PATHS:
        want, have = _top(expected.config.root, path), _top(actual.config.root, path)
        if CLUSTER_SECRETS in unchecked:  # stand-ins were rendered: compare everything else
            for leaves in (want, have):
                for key in [k for k in leaves if is_secret(k)]:
                    del leaves[key]
        yield from compare(want, have)
    want_users, have_users = _section(expected.users.root, "users"), _section(actual.users.root, "users")
    for name in sorted(set(want_users) | set(have_users)):
        if name not in want_users:
            user = have_users[name]
            yield Finding("drift", f"user {name}", None, user.origin, "not in the spec")
        elif name not in have_users:
            yield Finding("drift", f"user {name}", None, None, "in the spec, missing from the server's configuration")
        else:
            want = flatten(want_users[name], f"users.{name}")
            have = flatten(have_users[name], f"users.{name}")
            if name in unchecked:  # its password was not given: compare everything else
                for leaves in (want, have):
                    for key in [k for k in leaves if is_secret(k)]:
                        del leaves[key]
            yield from compare(want, have)
    for section in ("profiles", "quotas"):
        wanted = _section(expected.users.root, section)
        have_section = _section(actual.users.root, section)
        for name in sorted(set(spec.profiles if section == "profiles" else spec.quotas) & set(wanted)):
            have = flatten(have_section[name], f"{section}.{name}") if name in have_section else {}
            yield from compare(flatten(wanted[name], f"{section}.{name}"), have)


def placeholder_environ(spec: HardeningSpec, environ: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """The environment with a random stand-in for every password variable that is not set,
    and the users whose passwords therefore cannot be compared."""
    filled, unchecked = dict(environ), set()
    for user in spec.users:
        if user.password_env is not None and user.password_env not in environ:
            filled[user.password_env] = secrets.token_urlsafe(24)
            unchecked.add(user.name)
    for name in cluster_secret_variables(spec):
        if name not in filled:
            filled[name] = secrets.token_urlsafe(24)
            unchecked.add(CLUSTER_SECRETS)
    return filled, unchecked


def cluster_secret_variables(spec: HardeningSpec) -> list[str]:
    """The environment variables the cluster section reads its secrets from."""
    cluster = spec.cluster
    if cluster is None:
        return []
    sources = [cluster, cluster.interserver, cluster.zookeeper, cluster.keeper]
    if cluster.interserver is not None:
        sources.append(cluster.interserver.old)
    names = [source.password_env for source in sources if source is not None and source.password_env is not None]
    return names + ([cluster.secret_env] if cluster.secret_env is not None else [])


def expected_tree(
    actual: ServerTree, config_dir: Path, files: list[RenderedFile], installed_at: Path | None = None
) -> ServerTree:
    """The tree's main files plus only hardhouse's rendered files, merged the same way."""
    with scratch("hardhouse-drift-") as root:
        # The main files: config.xml, the users file the tree uses, and the files beside them,
        # one of which may be the users file config.xml names before a planted file renames it.
        mains = [actual.config.files[0]] + [p.name for p in _top_level_files(config_dir)]
        if actual.users_file and actual.users_file not in mains:
            mains.append(actual.users_file)
        for main in dict.fromkeys(mains):
            target = root / main
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(config_dir / main, target)
        for file in files:
            if file.path.endswith(".xml"):
                target = root / file.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(file.content)
        return read_server_tree(
            root,
            actual.dialect,
            installed_at=installed_at,
            assume_no_default_include=actual.assume_no_default_include,
            default_include=actual.default_include,
        )


def _top_level_files(config_dir: Path) -> list[Path]:
    """Regular files directly in config_dir, small enough to be configuration (bounded count)."""
    found = []
    with os.scandir(config_dir) as entries:
        for seen, entry in enumerate(entries):
            if seen >= MAX_DIR_ENTRIES:
                break
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_size <= DEFAULT_MAX_BYTES:
                if not has_control_character(entry.name):
                    found.append(Path(entry.path))
    return found


def drift_findings(
    actual: ServerTree,
    config_dir: Path,
    spec: HardeningSpec,
    environ: Mapping[str, str],
    installed_at: Path | None = None,
) -> tuple[list[Finding], set[str]]:
    """Drift findings, and the users whose passwords were not compared (their secret not set)."""
    filled, unchecked = placeholder_environ(spec, environ)
    expected = expected_tree(actual, config_dir, render(spec, filled), installed_at)
    return list(drift(actual, expected, spec, unchecked)), unchecked
