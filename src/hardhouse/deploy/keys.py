"""Log database keys put into the server's environment (log_databases.*.encryption.key_env).

The rendered storage configuration reads each key with `<key_hex from_env="NAME"/>`, so the
server process must start with NAME set. The deploy takes each key from the deploy machine
(the variable of the same name, or a file named in `hardhouse_log_key_files`), refuses to go
live when one is missing or malformed, and ships two files through hardhouse-apply's
transaction (validated, backed up, rolled back like every other managed file):

- the key file, KEYS_FILE: `NAME=HEX` lines, 0600 root. Both service managers read this
  format: systemd's EnvironmentFile, and a POSIX shell with `set -a`.
- the hook that makes the service manager read it:
  - systemd: a drop-in with `EnvironmentFile=` (never `Environment=`: `systemctl show` prints
    those values to any local user); hardhouse-apply reloads systemd before a (re)start.
  - SysV (Debian's 18.16 package): /etc/default/clickhouse-server, which Debian's init script
    sources before start-stop-daemon starts the server with the exported environment.
    Debian's package ships no such file; one hardhouse did not write is never replaced.

Keys are never removed by a later deploy: data already on an encrypted disk needs its key
for as long as it exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand

from hardhouse.clickhouse.encryption import KEY_HEX_DIGITS
from hardhouse.deploy import hostscripts
from hardhouse.deploy.settings import _fail
from hardhouse.render.credentials import read_password_file
from hardhouse.spec import HardeningSpec

KEYS_DIR = "/etc/hardhouse"
KEYS_FILE = f"{KEYS_DIR}/clickhouse-server-keys.env"
SYSTEMD_DROPIN_DIR = "/etc/systemd/system/clickhouse-server.service.d"
SYSTEMD_DROPIN = f"{SYSTEMD_DROPIN_DIR}/zz-hardhouse-keys.conf"
SYSV_DEFAULTS = "/etc/default/clickhouse-server"
# The first line of the defaults file hardhouse writes: any other first line is the operator's file.
SYSV_MARKER = "# Managed by hardhouse: the log database keys for clickhouse-server (hardhouse.deploy.keys)."
SYSTEMD, SYSV = "systemd", "sysv"
SERVICE_MANAGER_SCRIPT = hostscripts.load("hardhouse-service-manager")
KEY_PATTERN = re.compile(rf"[0-9a-fA-F]{{{KEY_HEX_DIGITS}}}")  # AES-256: what the rendered key_hex needs


@dataclass(frozen=True)
class ServiceManager:
    """Which service manager runs clickhouse-server, and whose /etc/default file is there.

    ServiceManager(kind="sysv", defaults="absent" | "hardhouse" | "other")
    """

    kind: str
    defaults: str


class ServiceManagerFact(FactBase):
    """systemd when it runs (hardhouse-apply asks the same way: hostscripts/lib/service-manager.sh),
    else SysV; and for SysV, whether /etc/default/clickhouse-server is absent, hardhouse's own,
    or someone else's (hostscripts/hardhouse-service-manager.sh)."""

    def command(self) -> StringCommand:
        return SERVICE_MANAGER_SCRIPT.command(QuoteString(SYSV_DEFAULTS), QuoteString(SYSV_MARKER))

    def process(self, output: list[str]) -> ServiceManager:
        kind = output[0] if output and output[0] in (SYSTEMD, SYSV) else SYSV
        defaults = output[1] if len(output) > 1 and output[1] in ("absent", "hardhouse", "other") else "other"
        return ServiceManager(kind, defaults)


def key_names(spec: HardeningSpec) -> dict[str, str]:
    """Each key_env variable the spec needs, with the spec field that names it."""
    names: dict[str, str] = {}
    for database, db in spec.log_databases.items():
        if db.encryption is not None and db.encryption.key_env is not None:
            names.setdefault(db.encryption.key_env, f"hardhouse_spec.log_databases.{database}.encryption.key_env")
    return names


def read_keys(spec: HardeningSpec, environ: Mapping[str, str], key_files: Mapping[str, str] | None) -> dict[str, str]:
    """Every key the spec's key_env names, from the deploy machine; all problems at once, none touched.
    Key files are read like password files (render.credentials): regular, owner-only, bounded."""
    key_files = dict(key_files or {})
    names = key_names(spec)
    problems = [
        f"hardhouse_log_key_files names {name!r}, which no log database's key_env uses. Fix: remove it"
        for name in key_files
        if name not in names
    ]
    keys: dict[str, str] = {}
    for name, field in names.items():
        if name in key_files:
            where = f"hardhouse_log_key_files.{name}"
            value, problem, fix = read_password_file(key_files[name], where)
            if problem is not None:
                problems.append(f"{where}: {problem}. Fix: {fix}")
                continue
        else:
            where = f"the deploy machine's environment variable {name}"
            value = environ.get(name)
        if value is None:
            problems.append(
                f"{field} is {name}, but {where} is not set. Fix: export {name} (64 hex digits) on the deploy "
                f"machine, or name a file holding it in hardhouse_log_key_files"
            )
        elif not KEY_PATTERN.fullmatch(value.strip()):
            problems.append(f"{where} is not 64 hex digits (an AES-256 key). Fix: make one with openssl rand -hex 32")
        else:
            keys[name] = value.strip().lower()
    if problems:
        raise _fail(
            "the log database keys cannot be placed, so the server could not read its encrypted disks; "
            "nothing was touched:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )
    return keys


def keys_file_content(keys: Mapping[str, str]) -> bytes:
    lines = [
        "# Managed by hardhouse: log database keys for clickhouse-server (0600 root). Read by the service",
        "# manager at start; never copy this file elsewhere.",
        *(f"{name}={value}" for name, value in sorted(keys.items())),
    ]
    return ("\n".join(lines) + "\n").encode()


def hook(manager: ServiceManager) -> tuple[str, bytes]:
    """Where the hook goes and what it says; an operator's own defaults file is refused."""
    if manager.kind == SYSTEMD:
        text = (
            "# Managed by hardhouse: clickhouse-server reads the log database keys from this file at start.\n"
            "# EnvironmentFile, not Environment=: systemctl show would print the values to any user.\n"
            f"[Service]\nEnvironmentFile={KEYS_FILE}\n"
        )
        return SYSTEMD_DROPIN, text.encode()
    if manager.defaults == "other":
        raise _fail(
            f"{SYSV_DEFAULTS} exists and is not hardhouse's, so the log database keys cannot be added to the "
            f"server's environment without rewriting it; nothing was touched. Fix: add these lines to it "
            f"and move it aside for hardhouse to manage, or keep it and set key_file instead of key_env:\n"
            f"  set -a; . {KEYS_FILE}; set +a"
        )
    text = (
        f"{SYSV_MARKER}\n"
        "# Debian's init script sources this file; set -a exports the keys to the server it starts.\n"
        f"if [ -r {KEYS_FILE} ]; then\n    set -a\n    . {KEYS_FILE}\n    set +a\nfi\n"
    )
    return SYSV_DEFAULTS, text.encode()
