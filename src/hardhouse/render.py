"""Turn a validated spec into ClickHouse config.d/ and users.d/ files.

render() is pure apart from reading secrets: it returns the files (relative path, content,
mode) and writes nothing. write_files() puts them in place all at once or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from hardhouse import versions
from hardhouse.credentials import resolve_hashes
from hardhouse.spec import LOCKED_PROFILE, STRONG_CIPHERS, HardeningSpec, parse_network

FILE_PREFIX = "zz-hardhouse-"  # merged after the stock and packager files, so it has the last word
FILE_MODE = 0o640  # root:clickhouse; the server reads, nobody else
SUBDIRS = ("config.d", "users.d")

# A SHA-256 value with no known preimage: no password maps to it, and a fixed value keeps
# renders reproducible (a re-deploy changes nothing).
LOCKED_HASH = "f" * 64
# Debian's 18.16 users.xml also ships a passwordless "readonly" user (loopback only).
STOCK_PASSWORDLESS_USERS = ("readonly",)
# How many stock listen_host entries a render can remove (the official image adds two).
LISTEN_REMOVE_SLOTS = 8

# spec port name -> (ClickHouse element, what it carries)
PORT_ELEMENTS = {
    "http": ("http_port", "plaintext HTTP"),
    "native": ("tcp_port", "plaintext native protocol"),
    "https": ("https_port", "HTTP over TLS"),
    "native_tls": ("tcp_port_secure", "native protocol over TLS"),
    "interserver_http": ("interserver_http_port", "replication traffic, unauthenticated by default"),
    "mysql": ("mysql_port", "MySQL compatibility protocol"),
    "postgresql": ("postgresql_port", "PostgreSQL compatibility protocol"),
    "grpc": ("grpc_port", "gRPC interface"),
}
PROTOCOLS = ("sslv2", "sslv3", "tlsv1", "tlsv1_1", "tlsv1_2", "tlsv1_3")


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative, e.g. "config.d/zz-hardhouse-ports.xml"
    content: str
    mode: int = FILE_MODE


def templates_dir() -> Path:
    """Templates ship inside the wheel; in a source checkout they sit at the repo top."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "templates"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, never an empty element
        autoescape=True,  # every value is XML-escaped
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def xml_network(text: str) -> str:
    network = parse_network(text)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def setting_value(value: Any) -> Any:
    # ClickHouse settings take 1/0 for booleans on every version.
    return int(value) if isinstance(value, bool) else value


def disabled_protocols(min_protocol: str) -> str:
    return ",".join(PROTOCOLS[: PROTOCOLS.index(min_protocol)])


def render(spec: HardeningSpec, environ: Mapping[str, str] | None = None) -> list[RenderedFile]:
    """All files for this spec. Raises SpecError (nothing rendered) on a problem."""
    hashes = resolve_hashes(spec, environ)
    version = spec.version
    common = {"version": str(version), "has": lambda feature: versions.has(version, feature)}
    declared = {user.name for user in spec.users}
    profiles = {name: {k: setting_value(v) for k, v in settings.items()} for name, settings in spec.profiles.items()}
    if spec.default_user == "lock":
        profiles[LOCKED_PROFILE] = {"readonly": 1}

    plan: list[tuple[str, str, dict[str, Any]]] = [
        ("config.d", "listen", {"listen_hosts": spec.listen_hosts, "remove_slots": LISTEN_REMOVE_SLOTS}),
        ("config.d", "ports", {"ports": [
            {"element": element, "why": why, "number": getattr(spec.ports, name)}
            for name, (element, why) in PORT_ELEMENTS.items()
        ]}),
    ]
    if spec.tls is not None and spec.tls_ports_open():
        plan.append(("config.d", "tls", {
            "tls": spec.tls,
            "disabled_protocols": disabled_protocols(spec.tls.min_protocol),
            "cipher_list": STRONG_CIPHERS,
        }))
    plan.append(("users.d", "stock_users", {
        "default_user": spec.default_user,
        "locked_hash": LOCKED_HASH,
        "locked_profile": LOCKED_PROFILE,
        "removed_stock_users": [name for name in STOCK_PASSWORDLESS_USERS if name not in declared],
    }))
    plan.append(("users.d", "users", {"users": [
        {
            "name": user.name,
            "hash": hashes[user.name],
            "networks": [xml_network(text) for text in user.networks],
            "profile": user.profile,
            "quota": user.quota,
            "databases": user.databases,
        }
        for user in spec.users
    ]}))
    if profiles:
        plan.append(("users.d", "profiles", {"profiles": profiles}))
    if spec.quotas:
        plan.append(("users.d", "quotas", {"quotas": spec.quotas}))

    files = []
    for subdir, concern, context in plan:
        template = environment().get_template(f"{concern}.xml.j2")
        content = template.render(concern=concern, **common, **context)
        files.append(RenderedFile(f"{subdir}/{FILE_PREFIX}{concern.replace('_', '-')}.xml", content))
    return files


def write_files(files: list[RenderedFile], out_dir: str | Path) -> list[Path]:
    """Write the files under out_dir all at once, and drop stale hardhouse files there.

    Everything is first written to a staging directory beside out_dir; only when that has
    fully succeeded are the files moved into place (rename is atomic per file).
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.hardhouse-", dir=out.parent))
    try:
        for file in files:
            target = staging / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file.content, encoding="utf-8")
            os.chmod(target, file.mode)
        written = []
        for subdir in SUBDIRS:
            (out / subdir).mkdir(parents=True, exist_ok=True)
            wanted = {Path(f.path).name for f in files if f.path.startswith(f"{subdir}/")}
            for stale in (out / subdir).glob(f"{FILE_PREFIX}*.xml"):
                if stale.name not in wanted:
                    stale.unlink()
        for file in files:
            os.replace(staging / file.path, out / file.path)
            written.append(out / file.path)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
