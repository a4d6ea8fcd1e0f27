"""The @deploy that hardens a ZooKeeper host for ClickHouse: Debian's ZooKeeper 3.8 with its
own surface closed (control HH-ZK-3) and ClickHouse's root znodes taken before anyone else
can take them (HH-ZK-1).

Use it from a deploy file (deploy/zookeeper.py at the top of the repository is one):

    from hardhouse.deploy.zookeeper import harden_zookeeper
    harden_zookeeper()

It is driven by one host data key, `hardhouse_zookeeper` (every key, default and reason:
hardhouse.deploy.zookeeper_settings.ZOOKEEPER_DEFAULTS). A host without it is left alone,
so a deploy file may call harden_zookeeper() for every host. Bad data fails the host naming
the field and the fix before anything is touched.

Steps, each idempotent (a re-run with nothing changed reports no change and restarts nothing):

1. install Debian's `zookeeper` (the server's code and zkCli.sh; no service);
2. stage, under /var/lib/hardhouse/zookeeper (root's alone), hardhouse-apply (the activation
   tool ClickHouse's files go live through, shipped with ZooKeeper's profile) and the three
   files: /etc/zookeeper/conf/zoo.cfg: the client port on one address (clientPortAddress),
   the admin HTTP server off (stock: 8080 on every interface), only the listed four-letter
   words, a per-address connection limit, the data outside /tmp; the server id (conf/myid,
   whose stock placeholder text stops a server whose dataDir is /var/lib/zookeeper); and
   /etc/default/zookeeper, which Debian's init script reads: the heap, and no JMX. That
   script always starts the JVM with -Dcom.sun.management.jmxremote (it ignores JMXDISABLE,
   which only zkServer.sh reads), whose agent listens on a random port on every interface;
   -XX:-ManagementServer at the end of the JVM's options (in ZOOMAIN, which the script puts
   last) turns it off. On a host without zookeeperd yet the three files are also written
   live here: nothing of ZooKeeper has run, so there is nothing to roll back to;
3. install `zookeeperd` (the init script), after the files: its installation starts the
   server, which so never runs the stock configuration;
4. when the live files are not the staged ones, or ZooKeeper does not answer, or answers with
   another configuration than the one on disk (a digest of the three files, recorded on the
   host after ZooKeeper answered): `hardhouse-apply validate`, then `activate restart` with
   the health target ruok:ADDRESS:PORT. It backs up the live files, puts the staged ones in
   place and restarts ZooKeeper (systemd when it runs, else the init script, whose own stop
   cannot find the JVM in a container, start-stop-daemon --exec reading /proc/PID/exe, which
   needs ptrace rights, and which the unit systemd makes of it runs too: under either, the JVM
   named by its pidfile, if owned by the zookeeper user, is stopped by pid between stop and
   start), then waits, bounded, until it answers `ruok`. When it does not, the previous files
   are put back, ZooKeeper is restarted with them and waited for, and the host fails with
   "rolled back: ..." (or "ROLLBACK FAILED: ..." when the previous configuration does not
   answer either);
5. create each root znode that is missing with an ACL of only ClickHouse's digest (cdrwa),
   with Debian's zkCli.sh on the host. Only the digest `user:base64(sha1(user:password))` is on
   its command line, masked in pyinfra's output; the password never leaves the deploy machine.
   Each root is asked for its ACL anonymously, in one session whose bytes the deploy builds
   and the host's bash relays to its own ZooKeeper (no JVM for a read; hardhouse-zk-roots.sh),
   the answer parsed here as hostile bytes: refused means anonymous clients can
   neither read it nor administer it, and the root is kept as it is; answered means the world
   (or an address) may read it, which fails the host naming the root and the fix, and is never
   changed by the deploy. (Not seen without the password: whether an existing closed root
   names this identity, which ClickHouse's own session finds out at its first connect, and a
   world entry that grants neither read nor admin, e.g. create only.)

Not built: ZooKeeper's TLS client port (secureClientPort). ClickHouse's ZooKeeper client
gained `<secure>` for a node in 2020 (ClickHouse PR #10184, the 20.x line); 18.16, the only
server that runs here, cannot speak TLS to ZooKeeper, so such a port could not be proven with
the cluster it serves. Nor: a ZooKeeper ensemble (quorum ports and their TLS), SASL, or the
ACL of `/` itself (stock: world cdrwa, so anyone reaching the port may still create other
top-level znodes; ClickHouse's own are the roots above).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, FunctionCommand, HiddenValue, QuoteString, StringCommand, deploy, operation
from pyinfra.operations import apt

from hardhouse.deploy import contract, hostscripts
from hardhouse.deploy.facts import DIGEST_KEY, HardhouseFiles, HostFiles, InstalledDebianPackages
from hardhouse.deploy.messages import fail_with_lines
from hardhouse.deploy.operations import install_packages, stage
from hardhouse.deploy.payloads import Directory, ManagedFile, Payload
from hardhouse.deploy.plan import files_to_upload
from hardhouse.deploy.settings import DATA_DEFAULTS as CLICKHOUSE_DEFAULTS
from hardhouse.deploy.zookeeper_settings import KEY, ZooKeeperSettings, jvm_defaults, read_zookeeper_settings, zoo_cfg
from hardhouse.probe.wire.zookeeper import (
    NO_AUTH,
    NO_NODE,
    OK,
    PERM_ADMIN,
    PERM_CREATE,
    PERM_DELETE,
    PERM_READ,
    PERM_WRITE,
    ZooKeeperError,
    acl_requests,
    parse_acl_answers,
)
from hardhouse.spec.errors import bounded_text

# Host data the ZooKeeper deploy reads: one mapping, documented key by key in ZOOKEEPER_DEFAULTS.
DATA_DEFAULTS: dict[str, Any] = {
    # The ZooKeeper hardening of this host (hardhouse.deploy.zookeeper_settings.ZOOKEEPER_DEFAULTS);
    # None: this host runs no ZooKeeper and harden_zookeeper() leaves it alone.
    KEY: None,
}

CONFIG = contract.ZK_CONFIG
JVM_DEFAULTS = contract.ZK_JVM_DEFAULTS
# The server's id. Debian links /var/lib/zookeeper/myid here and ships a text that is not a
# number; ZooKeeper reads myid from its dataDir whenever it exists, and exits ("Invalid config").
MYID = contract.ZK_MYID
STANDALONE_ID = "1"
ZK_CLI = "/usr/share/zookeeper/bin/zkCli.sh"
# hardhouse-apply's state for ZooKeeper: the script, the staged files, the rollback set.
STATE_DIR = contract.ZK_STATE_DIR
STAGED_DIR = f"{STATE_DIR}/{contract.STAGED_DIR}"
APPLY_PATH = f"{STATE_DIR}/{contract.BIN_DIR}/{contract.APPLY_SCRIPT}"
CLI_HEAP = "-Xmx64m"  # zkCli.sh's JVM: one request, then it exits
CLI_TIMEOUT = 60  # seconds for one zkCli.sh call (it retries a refused connection for ever)
ROOTS_ANSWER_LIMIT = 64 * 1024  # bytes of ZooKeeper's answer about the roots (an ACL is tens of bytes)
ROOTS_READ_TIMEOUT = 10  # seconds for that whole anonymous session

# The host half: hostscripts/hardhouse-zk-*.sh (each header says what it takes and prints),
# with these places and bounds in their shared contract block (hostscripts/lib/zookeeper.sh),
# and hardhouse-apply with ZooKeeper's profile (hardhouse.deploy.contract.ZOOKEEPER).
SCRIPT_VALUES = {
    "HH_ZK_CONFIG": CONFIG,
    "HH_ZK_JVM_DEFAULTS": JVM_DEFAULTS,
    "HH_ZK_MYID": MYID,
    "HH_ZK_LIVE_STAMP": contract.ZK_LIVE_STAMP,
    "HH_ZK_CLI": ZK_CLI,
    "HH_ZK_CLI_HEAP": CLI_HEAP,
    "HH_ZK_CLI_TIMEOUT": str(CLI_TIMEOUT),
}
LIVE_SCRIPT, CREATE_SCRIPT = (
    hostscripts.load(f"hardhouse-zk-{name}", SCRIPT_VALUES, origin="hardhouse.deploy.zookeeper")
    for name in ("live", "create")
)
ROOTS_SCRIPT = hostscripts.load("hardhouse-zk-roots")  # a relay: it needs none of the places above


def apply_script() -> Payload:
    """hardhouse-apply as shipped for ZooKeeper: its contract block filled with ZooKeeper's profile."""
    text = hostscripts.shipped(
        "hardhouse-apply", contract.shell_values(contract.ZOOKEEPER), "hardhouse.deploy.contract"
    )
    return Payload(APPLY_PATH, text.encode(), "root", "root", 0o750)


def managed_files(settings: ZooKeeperSettings) -> list[ManagedFile]:
    """The three files, each staged and live with the same content, owner and mode (ZooKeeper's
    configuration holds no secret: readable by all, like Debian's own)."""
    files = []
    for kind, name, live, content in (
        (contract.KIND_ZK_CONFIG, "zoo.cfg", CONFIG, zoo_cfg(settings)),
        (contract.KIND_ZK_DEFAULTS, "zookeeper.defaults", JVM_DEFAULTS, jvm_defaults(settings)),
        (contract.KIND_ZK_MYID, "myid", MYID, f"{STANDALONE_ID}\n"),
    ):
        data = content.encode()
        files.append(
            ManagedFile(
                kind,
                Payload(f"{STAGED_DIR}/{name}", data, "root", "root", 0o644),
                Payload(live, data, "root", "root", 0o644),
            )
        )
    return files


def manifest(files: list[ManagedFile]) -> Payload:
    """The MANIFEST hardhouse-apply reads."""
    prefix = STAGED_DIR + "/"
    lines = [
        contract.manifest_line(m.kind, m.staged.path.removeprefix(prefix), m.live.path, contract.ZOOKEEPER)
        for m in files
    ]
    return Payload(f"{STAGED_DIR}/{contract.MANIFEST}", "".join(lines).encode(), "root", "root", 0o640)


# hardhouse-apply's directories: /var/lib/hardhouse is only created (ClickHouse's deploy owns it
# on a host that runs both); ZooKeeper's state below it is root's alone.
DIRECTORIES = [
    Directory(STATE_DIR.rsplit("/", 1)[0], "root", "root", 0o755, enforce=False),
    Directory(STATE_DIR, "root", "root", 0o700),
    Directory(f"{STATE_DIR}/{contract.BIN_DIR}", "root", "root", 0o700),
    Directory(STAGED_DIR, "root", "root", 0o700),
]


@dataclass(frozen=True)
class ZooKeeperLive:
    """ZooKeeperLive(answers=True, config="<sha256 of zoo.cfg + defaults>", live="<the same when live>",
    files=HostFiles(paths={"/etc/zookeeper/conf/zoo.cfg": PathState("F", "root:root:644", "<keyed digest>")}))"""

    answers: bool = False
    config: str = ""
    live: str = ""
    files: HostFiles = field(default_factory=HostFiles)  # the three live files (hardhouse.deploy.facts)

    @property
    def current(self) -> bool:
        return self.answers and bool(self.config) and self.config == self.live


class ZooKeeperLiveFact(FactBase):
    """Whether ZooKeeper answers `ruok` on address:port, the digest of its configuration files,
    and the digest recorded when it last answered after a restart by the deploy."""

    def command(self, address: str, port: int) -> StringCommand:
        return LIVE_SCRIPT.command(QuoteString(address), str(port), QuoteString(HiddenValue(DIGEST_KEY)))

    def process(self, output: list[str]) -> ZooKeeperLive:
        files = [line for line in output if line[:2] in ("F ", "D ", "M ")]
        values = dict(line.split(" ", 1) if " " in line else (line, "") for line in output if line not in files)
        return ZooKeeperLive(
            "ANSWERS" in values,
            values.get("CONFIG", ""),
            values.get("LIVE", ""),
            HardhouseFiles().process(files),
        )

    def default(self) -> ZooKeeperLive:
        return ZooKeeperLive()


@dataclass
class RootState:
    """RootState(state="missing" | "closed" | "open" | "unknown", acl=["world:anyone cdrwa"])"""

    state: str = "unknown"
    acl: list[str] = field(default_factory=list)


# zkCli.sh's letters for ACL permissions, in its order.
PERMISSION_LETTERS = ((PERM_CREATE, "c"), (PERM_DELETE, "d"), (PERM_READ, "r"), (PERM_WRITE, "w"), (PERM_ADMIN, "a"))


def acl_line(perms: int, scheme: str, ident: str) -> str:
    """One ACL entry as the deploy shows it: 'digest:clickhouse:* cdrwa' (a digest cut to its
    user: it lets anyone test password guesses), names escaped and bounded."""
    shown = f"{ident.split(':', 1)[0]}:*" if scheme == "digest" else ident
    letters = "".join(letter for bit, letter in PERMISSION_LETTERS if perms & bit)
    return f"{bounded_text(scheme, 40)}:{bounded_text(shown, 120)} {letters}"


class ZooKeeperRootsFact(FactBase):
    """What an anonymous client sees of each root: missing, closed (its ACL refused), open (its
    ACL answered: the world or an address may read or administer it), or unknown (no answer).
    One anonymous session's getACLs, built here and relayed by the host's bash to its own
    ZooKeeper (hostscripts/hardhouse-zk-roots.sh); the answer is parsed here, as hostile bytes."""

    def command(self, address: str, port: int, roots: list[str]) -> StringCommand:
        request = "".join(f"\\x{byte:02x}" for byte in acl_requests(list(roots)))
        return ROOTS_SCRIPT.command(
            QuoteString(address),
            str(port),
            QuoteString(request),
            str(ROOTS_ANSWER_LIMIT),
            str(ROOTS_READ_TIMEOUT),
            *(QuoteString(root) for root in roots),
        )

    def process(self, output: list[str]) -> dict[str, RootState]:
        roots = [line[5:] for line in output if line.startswith("ROOT ")]
        hex_answer = next((line[7:].strip() for line in output if line.startswith("ANSWER ")), "")
        try:
            answers = parse_acl_answers(bytes.fromhex(hex_answer[: 2 * ROOTS_ANSWER_LIMIT]), roots)
        except (ValueError, ZooKeeperError):
            answers = {}  # nothing, or not ZooKeeper, answered: every root unknown
        found = {}
        for root in roots:
            code, entries = answers.get(root, (None, []))
            if code == OK:
                found[root] = RootState("open", [acl_line(*entry) for entry in entries[:40]])
            else:
                found[root] = RootState({NO_NODE: "missing", NO_AUTH: "closed"}.get(code, "unknown"))  # type: ignore[arg-type]
        return found

    def default(self) -> dict[str, RootState]:
        return {}


def _apply_command(*args: str) -> StringCommand:
    return StringCommand(QuoteString(APPLY_PATH), *(QuoteString(a) for a in args))


@operation()
def zookeeper_live(settings: ZooKeeperSettings, files: list[ManagedFile]) -> Iterator[Any]:
    """Activate the staged files (hardhouse-apply validate, then activate restart with the ruok
    target; the host rolls back and fails when ZooKeeper does not answer) when the live files
    are not the staged ones, ZooKeeper does not answer, or it answers with another configuration
    than the one on disk."""
    live = host.get_fact(ZooKeeperLiveFact, address=settings.listen, port=settings.client_port)
    upload, fix = files_to_upload([m.live for m in files], live.files)
    if live.current and not upload and not fix:
        host.noop(f"ZooKeeper answers on {settings.listen}:{settings.client_port} with this configuration; no restart")
        return
    target = f"{contract.HEALTH_RUOK}:{settings.listen}:{settings.client_port}"
    yield _apply_command("validate")
    yield _apply_command("activate", contract.MODE_RESTART, str(settings.health_timeout), target)


@operation()
def zookeeper_roots(settings: ZooKeeperSettings) -> Iterator[Any]:
    """Create each missing root with an ACL of only the identity's digest; fail on a root that
    anonymous clients can read; leave closed roots as they are."""
    if not host.state.is_executing:
        return  # ZooKeeper may not be installed yet while the plan is made
    found = host.get_fact(
        ZooKeeperRootsFact, address=settings.listen, port=settings.client_port, roots=list(settings.roots)
    )
    open_roots = {root: s for root, s in found.items() if s.state == "open"}
    unknown = [root for root in settings.roots if found.get(root, RootState()).state == "unknown"]
    if open_roots or unknown:
        lines = [
            f"{root}: exists and anonymous clients may read its ACL ({'; '.join(s.acl)}), so it is not closed "
            "to them. The deploy never changes an ACL it did not set. Fix: find who made it (getAcl), move "
            f"ClickHouse's data off it, then delete it (deleteall {root}) as its admin so that the next run "
            "creates it closed, or list another root"
            for root, s in open_roots.items()
        ]
        lines += [
            f"{root}: ZooKeeper at {settings.listen}:{settings.client_port} gave no answer about it within "
            f"{ROOTS_READ_TIMEOUT}s (is it running, and on that address?)"
            for root in unknown
        ]
        yield FunctionCommand(fail_with_lines, (["ZooKeeper roots not closed to anonymous clients:", *lines],), {})
        return
    missing = [root for root in settings.roots if found[root].state == "missing"]
    if not missing:
        host.noop(f"roots exist, closed to anonymous clients: {', '.join(settings.roots)}")
        return
    for root in missing:
        # Only the digest, and masked in pyinfra's output (a digest lets anyone test password guesses).
        yield CREATE_SCRIPT.command(
            QuoteString(f"{settings.listen}:{settings.client_port}"),
            QuoteString(root),
            QuoteString(HiddenValue(settings.acl)),
        )
    # Whoever created them (this step, or a replica that connected first), each root must now
    # be closed to anonymous clients.
    found = host.get_fact(ZooKeeperRootsFact, address=settings.listen, port=settings.client_port, roots=missing)
    problems = [
        f"{root}: {state.state} after it was created ({'; '.join(state.acl) or 'no ACL read'}), not closed"
        for root in missing
        if (state := found.get(root, RootState())).state != "closed"
    ]
    if problems:
        yield FunctionCommand(fail_with_lines, (["ZooKeeper roots not closed to anonymous clients:", *problems],), {})


@dataclass(frozen=True)
class ZooKeeperAhead:
    """What the deploy found while planning a ZooKeeper host, for its steps."""

    settings: ZooKeeperSettings
    missing: tuple[str, ...]  # of zookeeper and zookeeperd, those not installed
    cache_time: int

    @property
    def install(self) -> list[str]:
        """What the install step installs: zookeeper when either is missing (zookeeperd comes
        after the files it starts with), with the package lists refreshed."""
        return ["zookeeper"] if self.missing else []


@deploy("Harden ZooKeeper", data_defaults=DATA_DEFAULTS)
def harden_zookeeper() -> None:
    ahead = _plan()
    if ahead is None:
        return
    if ahead.install:  # installed both: no apt step (and no apt traffic) on a re-run
        install_packages(
            name="Install Debian's ZooKeeper (server code and zkCli.sh; no service yet)",
            packages=[],
            cache_time=ahead.cache_time,
            missing=ahead.install,
        )
    _after_install(ahead)


@deploy("Harden ZooKeeper", data_defaults=DATA_DEFAULTS)
def zookeeper_before_install() -> ZooKeeperAhead | None:
    """harden_zookeeper's planning, for a deploy that installs every host's packages in one
    step (hardhouse.deploy.fleet); None on a host without hardhouse_zookeeper."""
    return _plan()


@deploy("Harden ZooKeeper", data_defaults=DATA_DEFAULTS)
def zookeeper_after_install(ahead: ZooKeeperAhead) -> None:
    """harden_zookeeper's steps after its install (hardhouse.deploy.fleet)."""
    _after_install(ahead)


def _plan() -> ZooKeeperAhead | None:
    settings = read_zookeeper_settings(host.data, os.environ)
    if settings is None:
        return None
    packages = ["zookeeper", "zookeeperd"]
    installed = host.get_fact(InstalledDebianPackages, packages=packages)
    cache_time = host.data.get("hardhouse_apt_cache_time", CLICKHOUSE_DEFAULTS["hardhouse_apt_cache_time"])
    return ZooKeeperAhead(settings, tuple(p for p in packages if p not in installed), cache_time)


def _after_install(ahead: ZooKeeperAhead) -> None:
    settings = ahead.settings
    files = managed_files(settings)
    # One step, one read: the deploy's own stage (hardhouse.deploy.operations).
    stage(
        name="Stage hardhouse-apply, zoo.cfg (one client address, no admin server, four-letter words limited), "
        "the server's id (standalone: 1; Debian's placeholder stops the server) and /etc/default/zookeeper "
        "(the heap; no JMX)",
        payloads=[apply_script()] + [m.staged for m in files] + [manifest(files)],
        directories=DIRECTORIES,
    )
    if "zookeeperd" in ahead.missing:
        stage(
            name="Write the three files live before zookeeperd's installation starts ZooKeeper (nothing ran yet)",
            payloads=[m.live for m in files],
        )
        apt.packages(
            name="Install Debian's zookeeperd (the service; it starts with the files above)",
            packages=["zookeeperd"],
            no_recommends=True,
        )
    zookeeper_live(
        name="Activate ZooKeeper's files if they changed: restart, wait until it answers, else roll back",
        settings=settings,
        files=files,
    )
    zookeeper_roots(name="Create ClickHouse's roots closed to all but its identity", settings=settings)
