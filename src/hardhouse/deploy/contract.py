"""The contract between the deploy (Python, on the deploy machine) and hardhouse-apply (bash,
on the host). The script is shipped with these values (shell_values()) written into its
contract block (hardhouse.deploy.hostscripts.shipped, called by payloads.apply_script() for
ClickHouse and by hardhouse.deploy.zookeeper for ZooKeeper), so the two sides cannot disagree:
change a value here and the shipped script changes with it. The script refuses to run without
them.

One activation tool serves both services: what differs between them is a Profile (the service,
its user, the kinds its MANIFEST may hold, how it may be activated, how its health is asked),
whose shell half is hostscripts/lib/apply-NAME.sh."""

from __future__ import annotations

from dataclasses import dataclass

from hardhouse.render.build import FILE_PREFIX
from hardhouse.spec.fields import is_plain_host_path

# Bumped when the meaning of a value changes (not when a value does).
CONTRACT_VERSION = "1"

SERVER_USER = "clickhouse"
SERVICE = "clickhouse-server"
# Process names of a running server, tried in this order with pidof.
SERVER_PROCESSES = ("clickhouse-server", "clickhouse")
# The host's defaults when the deploy does not say otherwise (manual runs of the script).
CONFIG_DIR = "/etc/clickhouse-server"
DATA_DIR = "/var/lib/clickhouse"
ERROR_LOG = "/var/log/clickhouse-server/clickhouse-server.err.log"

APPLY_SCRIPT = "hardhouse-apply"
# Under the state directory: the helper (bin/hardhouse-apply; the script finds the state
# directory as its own parent's parent), the staged set, the rollback set, and the script's
# own bookkeeping (the last healthy targets, the time of the last activation, its lock).
BIN_DIR = "bin"
STAGED_DIR = "staged"
PREVIOUS_DIR = "previous"
MANIFEST = "MANIFEST"
LIVE_TARGETS = "live-targets"
ACTIVATED_AT = "activated-at"
LOCK = ".lock"
# An activation the deploy may still undo: `activate ... --hold TOKEN` writes TOKEN here and
# keeps the rollback set whole (its private key included) until verification has spoken;
# `rollback TIMEOUT TOKEN` undoes it only when TOKEN matches, i.e. only an activation made by
# the same deploy run. TOKEN: HOLD_TOKEN_HEX_DIGITS lower-case hex digits, random per run.
HELD = "held"
HOLD_FLAG = "--hold"
HOLD_TOKEN_HEX_DIGITS = 32

# One MANIFEST line per file, fields separated by a space: KIND STAGED_PATH LIVE_PATH.
# STAGED_PATH is relative to the staged dir; both paths are plain (see plain_path).
MANIFEST_FORMAT = ("KIND", "STAGED_PATH", "LIVE_PATH")
# config and users are named after ClickHouse's config.xml/users.xml: their files go live as
# CONFIG_DIR/config.d/FILE_PREFIX*.xml and CONFIG_DIR/users.d/FILE_PREFIX*.xml.
KIND_CONFIG, KIND_USERS = "config", "users"
KIND_CERTIFICATE, KIND_PRIVATE_KEY, KIND_CA_CERTIFICATE = "certificate", "private_key", "ca_certificate"
TLS_KINDS = (KIND_CERTIFICATE, KIND_PRIVATE_KEY, KIND_CA_CERTIFICATE)
# Log database keys for the server's environment (key_env): the key file (NAME=HEX lines, 0600
# root) and the hook that makes the service manager read it (hardhouse.deploy.keys).
KIND_KEYS, KIND_KEYS_HOOK = "keys", "keys_hook"
KEY_KINDS = (KIND_KEYS, KIND_KEYS_HOOK)
MANIFEST_KINDS = (KIND_CONFIG, KIND_USERS, *TLS_KINDS, *KEY_KINDS)
# Health targets: "tls:ADDRESS:PORT" (answers a TLS handshake with the new certificate) or
# "tcp:ADDRESS:PORT" (accepts connections); ADDRESS is an IPv4 or IPv6 literal.
HEALTH_TLS, HEALTH_TCP = "tls", "tcp"
HEALTH_KINDS = (HEALTH_TLS, HEALTH_TCP)
# ZooKeeper's: "ruok:ADDRESS:PORT" answers the four-letter word ruok with imok.
HEALTH_RUOK = "ruok"
# restart: config.d or TLS changed; reload: users.d only (ClickHouse re-reads it by itself);
# start: the server was not running.
MODE_RESTART, MODE_RELOAD, MODE_START = "restart", "reload", "start"
ACTIVATION_MODES = (MODE_RESTART, MODE_RELOAD, MODE_START)
# Characters no path may hold (besides whitespace and control characters): nothing a shell or
# the line-based MANIFEST could split, quote or expand.
UNSAFE_PATH_CHARS = "'\"\\$`"

# ZooKeeper (Debian's zookeeperd), activated by the same script with its own state directory.
# Its three files, each a kind of its own that goes live only at its fixed place: zoo.cfg
# (conf is an alternatives link to conf_example), the server's id, and /etc/default/zookeeper
# (sourced by /etc/init.d/zookeeper after conf/environment).
ZK_CONFIG = "/etc/zookeeper/conf/zoo.cfg"
ZK_MYID = "/etc/zookeeper/conf/myid"
ZK_JVM_DEFAULTS = "/etc/default/zookeeper"
KIND_ZK_CONFIG, KIND_ZK_DEFAULTS, KIND_ZK_MYID = "zk_config", "zk_defaults", "zk_myid"
ZK_PIDFILE = "/var/run/zookeeper/zookeeper.pid"  # written by the init script's start-stop-daemon
ZK_LOG = "/var/log/zookeeper/zookeeper.log"
# The digest of the configuration ZooKeeper last answered with (hardhouse-zk-live reads it).
ZK_LIVE_STAMP = "/var/lib/hardhouse/zookeeper-live"
ZK_STATE_DIR = "/var/lib/hardhouse/zookeeper"  # hardhouse-apply's state for ZooKeeper


@dataclass(frozen=True)
class Profile:
    """What hardhouse-apply activates: NAME selects the functions NAME_* of
    hostscripts/lib/apply-NAME.sh; the rest are the values the script checks against."""

    name: str
    server_user: str
    service: str
    kinds: tuple[str, ...]  # what its MANIFEST may hold
    modes: tuple[str, ...]  # how it may be activated
    health_kinds: tuple[str, ...]  # how its health is asked


def clickhouse() -> Profile:
    """ClickHouse's profile, from this module's values as they are now."""
    return Profile("clickhouse", SERVER_USER, SERVICE, MANIFEST_KINDS, ACTIVATION_MODES, HEALTH_KINDS)


# Only restart: the deploy installs zookeeperd (which starts it) after the first files are live.
ZOOKEEPER = Profile(
    "zookeeper",
    "zookeeper",
    "zookeeper",
    (KIND_ZK_CONFIG, KIND_ZK_DEFAULTS, KIND_ZK_MYID),
    (MODE_RESTART,),
    (HEALTH_RUOK,),
)


def plain_path(path: str, absolute: bool = True) -> bool:
    """A path the deploy ships: the spec's host-path rule (hardhouse.spec.fields), which is
    stricter than what the script itself refuses (whitespace, control characters,
    UNSAFE_PATH_CHARS, a `..` component); a relative path must be plain below a root."""
    if not path or path.startswith("/") != absolute:
        return False
    return is_plain_host_path(path if absolute else "/" + path)


def manifest_line(kind: str, staged: str, live: str, profile: Profile | None = None) -> str:
    """One MANIFEST line (ClickHouse's unless another profile is given), refused here if the
    script would refuse it."""
    profile = profile or clickhouse()
    if kind not in profile.kinds:
        raise ValueError(f"unknown manifest kind {kind!r} (one of {', '.join(profile.kinds)})")
    if not plain_path(staged, absolute=False) or not plain_path(live):
        raise ValueError(f"manifest paths must be plain (staged relative, live absolute): {staged!r} {live!r}")
    return f"{kind} {staged} {live}\n"


def shell_values(profile: Profile | None = None) -> dict[str, str | tuple[str, ...]]:
    """Every value the script uses, by its name in the script (tuples become bash arrays);
    the profile's own (ClickHouse's unless another is given) where the two services differ."""
    profile = profile or clickhouse()
    return {
        "HH_CONTRACT": CONTRACT_VERSION,
        "HH_PROFILE": profile.name,
        "HH_FILE_PREFIX": FILE_PREFIX,
        "HH_SERVER_USER": profile.server_user,
        "HH_SERVICE": profile.service,
        "HH_SERVER_PROCESSES": SERVER_PROCESSES,
        "HH_CONFIG_DIR": CONFIG_DIR,
        "HH_DATA_DIR": DATA_DIR,
        "HH_ERROR_LOG": ERROR_LOG,
        "HH_BIN_DIR": BIN_DIR,
        "HH_STAGED_DIR": STAGED_DIR,
        "HH_PREVIOUS_DIR": PREVIOUS_DIR,
        "HH_MANIFEST": MANIFEST,
        "HH_LIVE_TARGETS": LIVE_TARGETS,
        "HH_ACTIVATED_AT": ACTIVATED_AT,
        "HH_LOCK": LOCK,
        "HH_HELD": HELD,
        "HH_HOLD_FLAG": HOLD_FLAG,
        "HH_HOLD_TOKEN_HEX_DIGITS": str(HOLD_TOKEN_HEX_DIGITS),
        "HH_MANIFEST_FORMAT": MANIFEST_FORMAT,
        "HH_MANIFEST_KINDS": profile.kinds,
        "HH_KIND_CONFIG": KIND_CONFIG,
        "HH_KIND_USERS": KIND_USERS,
        "HH_KIND_CERTIFICATE": KIND_CERTIFICATE,
        "HH_KIND_PRIVATE_KEY": KIND_PRIVATE_KEY,
        "HH_KIND_CA_CERTIFICATE": KIND_CA_CERTIFICATE,
        "HH_KIND_KEYS": KIND_KEYS,
        "HH_KIND_KEYS_HOOK": KIND_KEYS_HOOK,
        "HH_HEALTH_KINDS": profile.health_kinds,
        "HH_HEALTH_TLS": HEALTH_TLS,
        "HH_HEALTH_TCP": HEALTH_TCP,
        "HH_HEALTH_RUOK": HEALTH_RUOK,
        "HH_MODES": profile.modes,
        "HH_MODE_RESTART": MODE_RESTART,
        "HH_MODE_RELOAD": MODE_RELOAD,
        "HH_MODE_START": MODE_START,
        "HH_UNSAFE_PATH_CHARS": UNSAFE_PATH_CHARS,
        "HH_KIND_ZK_CONFIG": KIND_ZK_CONFIG,
        "HH_KIND_ZK_DEFAULTS": KIND_ZK_DEFAULTS,
        "HH_KIND_ZK_MYID": KIND_ZK_MYID,
        "HH_ZK_CONFIG": ZK_CONFIG,
        "HH_ZK_JVM_DEFAULTS": ZK_JVM_DEFAULTS,
        "HH_ZK_MYID": ZK_MYID,
        "HH_ZK_PIDFILE": ZK_PIDFILE,
        "HH_ZK_LOG": ZK_LOG,
        "HH_ZK_LIVE_STAMP": ZK_LIVE_STAMP,
    }
