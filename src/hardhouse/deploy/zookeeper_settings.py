"""The ZooKeeper deploy's host data (`hardhouse_zookeeper`): every key with its default and
reason, read and checked before anything is touched, and the files it renders.

The identity's password is read here, on the deploy machine, exactly as the cluster's secrets
are (hardhouse.render.cluster.read_source: environment or an owner-only file, judged for
strength); only its ZooKeeper digest, `user:base64(sha1(user:password))`, leaves this machine.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from hardhouse.deploy.settings import _fail
from hardhouse.probe.wire.zookeeper import READ_ONLY_WORDS
from hardhouse.render.cluster import read_source
from hardhouse.spec.cluster import SecretSource
from hardhouse.spec.fields import ENV_PATTERN, NAME_PATTERN, NAME_RULE, host_path_problem

KEY = "hardhouse_zookeeper"

# Every key of `hardhouse_zookeeper` (a mapping in host or group data), its default and why.
ZOOKEEPER_DEFAULTS: dict[str, Any] = {
    # The one address the client port listens on (clientPortAddress). Required: an IP address
    # of the host that ClickHouse reaches; 0.0.0.0 and :: are refused (stock ZooKeeper listens
    # on every interface).
    "listen": None,
    # The client port (ZooKeeper's own default).
    "client_port": 2181,
    # 4lw.commands.whitelist: the four-letter words anyone reaching the port may send. Only
    # `ruok` (liveness; the deploy waits on it, so it must stay listed). Others tell clients'
    # addresses, sessions, paths and the host's environment (HH-ZK-2). Words that change state
    # (crst, srst, stmk) and unknown words are refused. ZooKeeper 3.8 answers `srvr` whatever
    # this list says.
    "four_letter_words": ["ruok"],
    # ClickHouse's digest identity: {"user", and "password_env" or "password_file"}, the same
    # identity as the spec's cluster.zookeeper. Required: the roots below get an ACL only it passes.
    "clickhouse_identity": None,
    # Top-level znodes created, if missing, with an ACL of only the identity's digest (cdrwa),
    # so that nobody can take ClickHouse's path with a world ACL before ClickHouse first connects.
    # An existing root that anonymous clients can read is reported as a failure, never changed.
    "roots": ["/clickhouse"],
    # The JVM's maximum heap (-Xmx): without one the JVM sizes itself from the host's memory.
    "heap": "256m",
    # maxClientCnxns: concurrent connections from one client address (ZooKeeper's default 60;
    # 0, unlimited, is refused). A ClickHouse server holds one session.
    "max_client_connections": 60,
    # ZooKeeper's data directory (Debian's stock zoo.cfg keeps it in /tmp/zookeeper, where a
    # reboot or a tmp cleaner deletes it; the package makes this one, zookeeper-owned, o-rwx).
    "data_dir": "/var/lib/zookeeper",
    # Seconds to wait for ZooKeeper to answer `ruok` after a (re)start before failing the host.
    "health_timeout": 60,
}

# Four-letter words that change the server's state: never on the list.
STATE_CHANGING_WORDS = ("crst", "srst", "stmk")
HEAP_PATTERN = re.compile(r"[1-9][0-9]{0,5}[mMgG]")
ROOT_PATTERN = re.compile(r"/[A-Za-z0-9_.-]{1,200}")
PERMISSIONS = "cdrwa"


@dataclass(frozen=True)
class ZooKeeperSettings:
    listen: str
    client_port: int
    four_letter_words: tuple[str, ...]
    user: str
    digest: str  # user:base64(sha1(user:password)), the only form of the identity that leaves here
    roots: tuple[str, ...]
    heap: str
    max_client_connections: int
    data_dir: str
    health_timeout: int

    @property
    def acl(self) -> str:
        """zkCli's ACL argument for a root: the identity's digest, every permission."""
        return f"digest:{self.digest}:{PERMISSIONS}"


def digest(user: str, password: str) -> str:
    """ZooKeeper's DigestAuthenticationProvider id: user:base64(sha1(user:password))."""
    return f"{user}:{base64.b64encode(hashlib.sha1(f'{user}:{password}'.encode()).digest()).decode()}"


def _field(name: str) -> str:
    return f"{KEY}.{name}"


def _listen(value: Any) -> str:
    where = _field("listen")
    if value is None:
        raise _fail(f"{where} is not set. Fix: give the one address of this host that ClickHouse reaches ZooKeeper at")
    try:
        address = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None:
        raise _fail(f"{where} is not an IP address. Fix: give an address of this host, e.g. 10.0.0.20")
    if address.is_unspecified:
        raise _fail(
            f"{where} is {address}, which listens on every interface. "
            "Fix: give the one address of this host that ClickHouse reaches ZooKeeper at"
        )
    if address.is_multicast:
        raise _fail(f"{where} is a multicast address. Fix: give an address of this host")
    return str(address)


def _int(values: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(
            f"{_field(name)} must be a whole number from {low} to {high}. "
            f"Fix: set it to e.g. {ZOOKEEPER_DEFAULTS[name]}"
        )
    return value


def _words(value: Any) -> tuple[str, ...]:
    where = _field("four_letter_words")
    if isinstance(value, str) or not isinstance(value, list | tuple) or not all(isinstance(w, str) for w in value):
        raise _fail(f'{where} is not a list of words. Fix: e.g. ["ruok"]')
    words = tuple(dict.fromkeys(value))
    changing = [w for w in words if w in STATE_CHANGING_WORDS]
    if changing:
        raise _fail(
            f"{where} lists {', '.join(changing)}, which change the server's state (reset statistics, set the "
            "trace mask) for anyone who reaches the port. Fix: remove them"
        )
    unknown = [w for w in words if w not in READ_ONLY_WORDS]
    if unknown:
        shown = ", ".join(repr(w[:8]) for w in unknown[:5])
        raise _fail(
            f"{where} lists {shown}, which is not a read-only four-letter word ('*' would allow all). "
            f"Fix: list only words from {', '.join(READ_ONLY_WORDS)}"
        )
    if "ruok" not in words:
        raise _fail(
            f"{where} does not list ruok, which the deploy asks to know ZooKeeper is up (it tells nothing "
            "but liveness). Fix: add ruok"
        )
    return words


def _identity(value: Any, environ: Mapping[str, str]) -> tuple[str, str]:
    where = _field("clickhouse_identity")
    if not isinstance(value, Mapping):
        raise _fail(
            f"{where} is not set. Fix: give ClickHouse's digest identity, "
            '{"user": "clickhouse", "password_env": "CH_ZK_PASSWORD"} (or password_file), as in cluster.zookeeper'
        )
    unknown = sorted(str(k)[:40] for k in value if k not in ("user", "password_env", "password_file"))
    if unknown:
        raise _fail(
            f"{where} has unknown keys {', '.join(unknown)}. Fix: give only user, password_env or password_file"
        )
    user = value.get("user")
    if not isinstance(user, str) or not NAME_PATTERN.fullmatch(user):
        raise _fail(f"{where}.user is not a usable name. Fix: use a name that {NAME_RULE}")
    env, file = value.get("password_env"), value.get("password_file")
    if (env is None) == (file is None):
        raise _fail(f"{where}: give exactly one of password_env and password_file (the identity's digest password)")
    if env is not None and (not isinstance(env, str) or not ENV_PATTERN.fullmatch(env)):
        # Never echoed: a pasted password lands here.
        raise _fail(f"{where}.password_env is not an environment variable name. Fix: e.g. CH_ZK_PASSWORD")
    if file is not None and (not isinstance(file, str) or not file or "\0" in file):
        raise _fail(f"{where}.password_file is not a path. Fix: give the file holding the password")
    try:
        source = SecretSource(password_env=env, password_file=file)
    except ValueError:  # pydantic's ValidationError; its text may hold the value, so it is not shown
        raise _fail(f"{where}: password_env or password_file cannot be used. Fix: see ZOOKEEPER_DEFAULTS") from None
    password, problem = read_source(source, where, user, environ)
    if problem is not None:
        raise _fail(f"{problem}; nothing was touched")
    assert password is not None
    return user, digest(user, password)


def _roots(value: Any) -> tuple[str, ...]:
    where = _field("roots")
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise _fail(f'{where} is not a list of znode paths. Fix: e.g. ["/clickhouse"]')
    for root in value:
        if not isinstance(root, str) or not ROOT_PATTERN.fullmatch(root) or root in ("/.", "/.."):
            raise _fail(
                f"{where}: {str(root)[:40]!r} is not a top-level znode. Fix: give paths such as /clickhouse "
                "(ClickHouse creates the znodes below it with its identity)"
            )
        if root == "/zookeeper":
            raise _fail(f"{where}: /zookeeper is ZooKeeper's own. Fix: remove it")
    return tuple(dict.fromkeys(value))


def read_zookeeper_settings(data: Any, environ: Mapping[str, str]) -> ZooKeeperSettings | None:
    """The host's `hardhouse_zookeeper` checked (None when the host has none); raises
    HardhouseDeployError naming the field, the problem and the fix."""
    raw = data.get(KEY)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(f"{KEY} is a {type(raw).__name__}, not a mapping. Fix: give a mapping of the keys it documents")
    unknown = sorted(str(k)[:40] for k in raw if k not in ZOOKEEPER_DEFAULTS)
    if unknown:
        raise _fail(
            f"{KEY} has unknown keys {', '.join(unknown)}. Fix: use only {', '.join(ZOOKEEPER_DEFAULTS)} "
            "(hardhouse.deploy.zookeeper_settings.ZOOKEEPER_DEFAULTS)"
        )
    values = {**ZOOKEEPER_DEFAULTS, **raw}
    heap = values["heap"]
    if not isinstance(heap, str) or not HEAP_PATTERN.fullmatch(heap):
        raise _fail(f"{_field('heap')} is not a JVM heap size. Fix: give digits and m or g, e.g. 256m")
    data_dir = values["data_dir"]
    problem = host_path_problem(data_dir) if isinstance(data_dir, str) else "is not text"
    if problem is not None:
        raise _fail(f"{_field('data_dir')} {problem}. Fix: give a normalized absolute path such as /var/lib/zookeeper")
    listen = _listen(values["listen"])
    words = _words(values["four_letter_words"])
    roots = _roots(values["roots"])
    client_port = _int(values, "client_port", 1, 65535)
    connections = _int(values, "max_client_connections", 1, 100000)
    timeout = _int(values, "health_timeout", 1, 3600)
    user, identity_digest = _identity(values["clickhouse_identity"], environ)
    return ZooKeeperSettings(
        listen=listen,
        client_port=client_port,
        four_letter_words=words,
        user=user,
        digest=identity_digest,
        roots=roots,
        heap=heap,
        max_client_connections=connections,
        data_dir=data_dir,
        health_timeout=timeout,
    )


@cache
def environment() -> jinja2.Environment:
    # Not XML: Java properties and a shell file. Every value is checked above to need no
    # escaping (addresses, numbers, known words, a plain path, a heap size).
    return jinja2.Environment(
        loader=jinja2.PackageLoader("hardhouse.deploy", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def zoo_cfg(settings: ZooKeeperSettings) -> str:
    return environment().get_template("zoo.cfg.j2").render(zk=settings)


def jvm_defaults(settings: ZooKeeperSettings) -> str:
    return environment().get_template("zookeeper.default.j2").render(zk=settings)
