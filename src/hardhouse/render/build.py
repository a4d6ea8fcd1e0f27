"""Turn a validated spec into ClickHouse config.d/ and users.d/ files (and, for log
databases, sql/ with the DDL an owner applies).

render() is pure apart from reading secrets: it returns the files (relative path, content,
mode) and writes nothing (hardhouse.render.write puts them in place). Every
version-dependent element is decided by hardhouse.clickhouse.versions.has() or by the
what the spec's section modules say it means (hardhouse.spec.users, .settings ...), which
the cross-checks use too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.ports import PORTS
from hardhouse.clickhouse.stock import STOCK_PASSWORDLESS_USERS
from hardhouse.clickhouse.tls import STRONG_CIPHERS, disabled_protocols
from hardhouse.controls import catalog
from hardhouse.render import surface
from hardhouse.render.cluster import CONCERN as CLUSTER_CONCERN
from hardhouse.render.cluster import SECRETS_CONCERN, cluster_contexts
from hardhouse.render.credentials import resolve_credentials
from hardhouse.render.depth import depth_plan
from hardhouse.spec.fields import parse_network
from hardhouse.spec.log_databases import row_filters, user_access
from hardhouse.spec.masking import masking_rules
from hardhouse.spec.model import HardeningSpec
from hardhouse.spec.settings import CONSTRAINTS_KEY
from hardhouse.spec.users import LOCKED_PROFILE, refuses_insecure_auth

FILE_PREFIX = "zz-hardhouse-"  # merged after the stock and packager files, so it has the last word
FILE_MODE = 0o640  # root:clickhouse; the server reads, nobody else
SQL_FILE = f"sql/{FILE_PREFIX}log-databases.sql"
KEY_INCLUDE_PREFIX = "hardhouse_key_"  # element name of a log database key in key_file

# A SHA-256 value with no known preimage: no password maps to it, and a fixed value keeps
# renders reproducible (a re-deploy changes nothing).
LOCKED_HASH = "f" * 64
# A user name a users.d file can remove by element name (ASCII XML names; others are refused
# before rendering, by hardhouse.deploy.users).
REMOVABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}")
# How many stock listen_host entries a render can remove (the official image adds two).
LISTEN_REMOVE_SLOTS = 8


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative, e.g. "config.d/zz-hardhouse-ports.xml"
    content: str
    mode: int = FILE_MODE
    # True when the content holds a plaintext secret the server needs (the cluster's
    # credentials): 0640 like every file, and its content is never printed, logged or diffed.
    secret: bool = False


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("hardhouse.render", "templates"),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, never an empty element
        # every value in an XML template is XML-escaped; SQL templates get only identifiers and
        # types the spec has already restricted to characters that need no quoting
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("xml.j2",), disabled_extensions=("sql.j2",), default=True
        ),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def xml_network(text: str, version: versions.Version) -> str:
    network = parse_network(text)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    if network.version == 4 and not versions.has(version, "ipv4_cidr_networks"):
        # 18.16 matches every client as an IPv6 address and applies the prefix to it: written
        # as given, 10.0.0.0/8 would admit every IPv4 client. The IPv4-mapped form is exact.
        return f"::ffff:{network.network_address}/{network.prefixlen + 96}"
    return str(network)


def setting_value(value: Any) -> Any:
    # ClickHouse settings take 1/0 for booleans on every version.
    return int(value) if isinstance(value, bool) else value


def log_disk_name(database: str) -> str:
    return f"hardhouse_{database}_encrypted"


def log_policy_name(database: str) -> str:
    return f"hardhouse_{database}"


def log_storage_context(spec: HardeningSpec) -> dict[str, Any] | None:
    disks = []
    include_from = None
    for name, db in spec.log_databases.items():
        if db.encryption is None:
            continue
        if db.encryption.key_file is not None:
            include_from = db.encryption.key_file
        disks.append(
            {
                "database": name,
                "name": log_disk_name(name),
                "policy": log_policy_name(name),
                "key_env": db.encryption.key_env,
                "key_include": f"{KEY_INCLUDE_PREFIX}{name}",
            }
        )
    if not disks:
        return None
    return {"disks": disks, "include_from": include_from}


def log_database_context(spec: HardeningSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "retention_days": db.retention_days,
            "policy": log_policy_name(name) if db.encryption is not None else None,
            "writers": db.writers,
            "readers": db.readers,
            "owners": db.owners,
            "tables": [
                {"name": t_name, "columns": table.columns, "time_column": table.time_column}
                for t_name, table in db.tables.items()
            ],
        }
        for name, db in spec.log_databases.items()
    ]


def render(
    spec: HardeningSpec, environ: Mapping[str, str] | None = None, *, remove_users: Sequence[str] = ()
) -> list[RenderedFile]:
    """All files for this spec. Raises SpecError (nothing rendered) on a problem.

    remove_users: users a host has that the spec does not declare, to be removed by name
    (undeclared_users: remove). Only the deploy knows them (it reads the host); a render
    without a host removes only the stock users it knows."""
    credentials = resolve_credentials(spec, environ)
    version = spec.version
    common = {"version": str(version), "has": lambda feature: versions.has(version, feature)}
    declared = {user.name for user in spec.users}
    removed_host_users = host_removals(spec, remove_users)
    profiles = {
        name: {k: setting_value(v) for k, v in settings.items() if k != CONSTRAINTS_KEY}
        for name, settings in spec.profiles.items()
    }
    if spec.default_user == "lock":
        profiles[LOCKED_PROFILE] = {"readonly": 1}

    plan: list[tuple[str, str, dict[str, Any]]] = [
        ("config.d", "listen", {"listen_hosts": spec.listen_hosts, "remove_slots": LISTEN_REMOVE_SLOTS}),
        (
            "config.d",
            "ports",
            {
                "ports": [
                    {"element": port.element, "why": port.what, "number": getattr(spec.ports, port.name)}
                    for port in PORTS
                ]
            },
        ),
    ]
    if spec.tls is not None and spec.tls_ports_open():
        plan.append(
            (
                "config.d",
                "tls",
                {
                    "tls": spec.tls,
                    "disabled_protocols": disabled_protocols(spec.tls.min_protocol),
                    "cipher_list": STRONG_CIPHERS,
                },
            )
        )
    if refuses_insecure_auth(spec):
        plan.append(("config.d", "auth", {}))
    rules = masking_rules(spec)
    if rules:
        plan.append(("config.d", "masking", {"rules": [{"name": n, "regexp": r, "replace": p} for n, r, p in rules]}))
    storage = log_storage_context(spec)
    if storage is not None:
        plan.append(("config.d", "log_storage", storage))
    plan.append(
        (
            "users.d",
            "stock_users",
            {
                "default_user": spec.default_user,
                "locked_hash": LOCKED_HASH,
                "locked_profile": LOCKED_PROFILE,
                "removed_stock_users": [name for name in STOCK_PASSWORDLESS_USERS if name not in declared],
                "removed_host_users": removed_host_users,
            },
        )
    )
    users = []
    for user in spec.users:
        grants, databases = user_access(spec, user)
        credential = credentials[user.name]
        users.append(
            {
                "name": user.name,
                "kind": credential.kind,
                "secret": credential.value,
                "networks": [xml_network(text, version) for text in user.networks],
                "profile": user.profile,
                "quota": user.quota,
                "grants": grants,
                "databases": databases,
                "row_filters": row_filters(spec, user.name),
            }
        )
    plan.append(("users.d", "users", {"users": users}))
    if profiles:
        plan.append(("users.d", "profiles", {"profiles": profiles}))
    if spec.quotas:
        plan.append(("users.d", "quotas", {"quotas": spec.quotas}))
    if spec.cluster is not None:
        node, cluster_secrets = cluster_contexts(spec, os.environ if environ is None else environ)
        plan.append(("config.d", CLUSTER_CONCERN, node))
        plan.append(("config.d", SECRETS_CONCERN, cluster_secrets))
    plan.extend(depth_plan(spec))  # issue 12: profile locks, system logs, secrets in SHOW, limits
    plan.extend(surface.plan(spec))  # issue 12: HTTP surface, egress and files, password policy

    files = []
    for subdir, concern, context in plan:
        template = environment().get_template(f"{concern}.xml.j2")
        content = template.render(concern=concern, controls=catalog.for_template(concern), **common, **context)
        path = f"{subdir}/{FILE_PREFIX}{concern.replace('_', '-')}.xml"
        files.append(RenderedFile(path, content, secret=concern == SECRETS_CONCERN))
    if spec.log_databases:
        files.append(RenderedFile(SQL_FILE, log_database_sql(spec)))
    return files


def host_removals(spec: HardeningSpec, names: Sequence[str]) -> list[str]:
    """The host's undeclared users to remove, sorted; a name the render must not write is a bug."""
    if not names:
        return []
    if spec.undeclared_users != "remove":
        raise ValueError(f"users to remove were given, but undeclared_users is {spec.undeclared_users}")
    declared = {user.name for user in spec.users}
    for name in names:
        if name in declared or name == "default" or name in STOCK_PASSWORDLESS_USERS:
            raise ValueError(f"user {name!r} is not an undeclared host user")
        if not REMOVABLE_NAME.fullmatch(name):
            raise ValueError(f"user {name!r} cannot be written as an XML element name")
    return sorted(set(names))


def log_database_sql(spec: HardeningSpec) -> str:
    """The log database DDL (sql/), which names no secret: the deploy plans from it without
    reading any password (hardhouse.provision)."""
    version = spec.version
    template = environment().get_template("log_databases.sql.j2")
    return template.render(
        concern="log databases",
        databases=log_database_context(spec),
        cluster=spec.cluster.name if spec.cluster else None,
        version=str(version),
        has=lambda feature: versions.has(version, feature),
    )
