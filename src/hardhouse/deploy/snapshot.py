"""Everything a deploy run compares on a host, read with one remote command, and the stamp
that lets a no-change re-run skip re-proving what cannot have changed.

The snapshot (fact HostSnapshot, read by the first step of the deploy) holds what every later
step compares: owner, mode and keyed digest of every staged and live path, the files some
globs match, the installed packages, whether the server runs, and the host's fingerprint.
Each step takes its view from the snapshot while no step since has changed this host (pyinfra
counts a step that ran a command as a change); after a change, a step reads its own fact again.

The fingerprint is one salted SHA-256 over everything the verification's answer depends on
that lives on the host: every path (type, owner, mode, link target) and file content under
ClickHouse's configuration directory, the default include file ClickHouse reads from outside
it (/etc/metrika.xml), hardhouse's TLS and key directories, the service manager's unit files,
drop-ins and defaults file, hardhouse-apply and the staged files, the spec's log databases'
table definitions and ClickHouse's SQL access storage, and the same paths as the server reads
them, through symbolic links (what a link leads to, the files under a linked directory, their
contents); the installed packages' versions; the
server's processes (pid, start time, command line: a restart, an upgrade's too, changes them)
and the host's listening TCP sockets. The salt is derived from the deploy machine's secrets
and travels masked, so a fingerprint in a CI log (-vvv) tests no guess about a password hash.

The stamp (hardhouse_state_dir/verified-state, 0600 root) is written after a verification
passed: the time, the fingerprint read before that verification, a context id, and an HMAC
keyed by the spec's passwords (only the deploy machine has them) over the three and what the
verification was given (the spec, every file put on the host, the verify address and CA,
hardhouse's version). A later run whose fingerprint and context give the same HMAC, within
hardhouse_trust_verified_for seconds, is trusted: staging, the audit, the provisioning plan
and the verification's logins and privilege proofs are skipped and say so. Any edit of a
file, restart, upgrade, new listener, new table or SQL user changes the fingerprint.

What a stamp proves is narrower than that. Without the passwords nobody can make a stamp for
a fingerprint the deploy machine did not see; but the fingerprint is computed and reported
by the host, by its shell and its tools, so root there (or a program early in its PATH) can
replay the fingerprint of the stamped state while the host has changed. So every run, trusted
or not, still makes the checks that need no secret from the deploy machine (anonymous refused
on every open port, the stock ports closed, no deprecated TLS version:
hardhouse.deploy.operations.check_trusted_from_here); a finding fails the host and removes its
stamp. And even an honest fingerprint cannot see files the server reads from elsewhere (an
include_from file, from_zk and from_env sources, the binary and its libraries), state held in
memory (a running process changed without a restart), listeners in another network namespace,
or anything in front of the host (a firewall, a proxy, address translation): that is why the
trust expires; 0 verifies on every run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, HiddenValue, QuoteString, StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS

from hardhouse import __version__
from hardhouse.childproc import Pending
from hardhouse.controls.waivers import Waiver
from hardhouse.deploy import hostscripts
from hardhouse.deploy.audit import FetchedTree, parse_answer, tree_command
from hardhouse.deploy.child import SERVICE
from hardhouse.deploy.contract import SERVER_PROCESSES
from hardhouse.deploy.facts import DIGEST_KEY, HardhouseFiles, HostFiles
from hardhouse.deploy.payloads import Payload
from hardhouse.render.credentials import read_secret
from hardhouse.spec import HardeningSpec

STAMP_NAME = "verified-state"
STAMP_VERSION = "v1"
# v1 <verified at, epoch seconds> <fingerprint> <context id> <HMAC>
STAMP_PATTERN = re.compile(r"v1 ([0-9]{1,12}) ([0-9a-f]{64}) ([0-9a-f]{64}) ([0-9a-f]{64})")
FINGERPRINT_PATTERN = re.compile(r"[0-9a-f]{64}")
CA_LIMIT = 1 << 20  # bytes of the verify CA that key the stamp's context
FIND_DEPTH = 8  # directory levels fingerprinted below each scope path
FIND_SECONDS = 20  # for each pass over the fingerprinted paths (a listing, the contents)

# The host half: hostscripts/hardhouse-snapshot.sh (its header says what it takes and prints).
# The fingerprint comes first; when it and the context id are the stamp's, the host says SAME
# and the per-file reads (a few processes per file) are left out.
SNAPSHOT_SCRIPT = hostscripts.load(
    "hardhouse-snapshot",
    {"HH_SERVER_PROCESSES": SERVER_PROCESSES, "HH_FIND_DEPTH": str(FIND_DEPTH), "HH_FIND_SECONDS": str(FIND_SECONDS)},
    origin="hardhouse.deploy.snapshot",
)
# The line after which a snapshot that carries the live tree prints it (the tree's own script,
# hardhouse-config-tree.sh, whose lines all start with "HH-" and a word).
TREE_MARK = "HH-TREE"
# $1 the stamp's path, $2 its line: written whole or not at all, readable by root only.
STAMP_SCRIPT = hostscripts.load("hardhouse-stamp")


@dataclass(frozen=True)
class Snapshot:
    files: HostFiles
    globs: frozenset[str] = frozenset()
    packages: frozenset[str] = frozenset()
    fingerprint: str = ""  # "" when the host could not say
    stamp: str = ""
    same: bool = False  # the host found its fingerprint and our context id in the stamp: files not read
    op_hash: str | None = None  # the step that read it
    tree: FetchedTree | None = None  # the live tree under tree_dir, when the read carried it
    tree_dir: str = ""


@dataclass(frozen=True)
class Trust:
    """What a stamp is checked against: kept on the deploy machine, never shown."""

    key: bytes | None = field(repr=False)  # None: no secret to key a stamp with, so never trusted
    context: str = field(repr=False)
    salt: str = field(repr=False)
    seconds: int = 0  # hardhouse_trust_verified_for
    stamp_path: str = ""
    scope: tuple[str, ...] = ()  # paths the fingerprint covers
    packages: tuple[str, ...] = ()  # packages whose versions it covers (and the install step checks)

    @property
    def stamps(self) -> bool:
        """Whether a stamp is written and trusted at all (a secret to key it, a trust period)."""
        return self.key is not None and self.seconds > 0

    def mac(self, fingerprint: str, verified_at: int) -> str:
        assert self.key is not None
        message = f"{STAMP_VERSION}\n{fingerprint}\n{verified_at}\n{self.context}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    @property
    def context_id(self) -> str:
        """Names the context on the host (keyed: it says nothing about the files it covers)."""
        if self.key is None:
            return "-"
        return hmac.new(self.key, f"context\n{self.context}".encode(), hashlib.sha256).hexdigest()

    def stamp(self, fingerprint: str, verified_at: int) -> str:
        mac = self.mac(fingerprint, verified_at)
        return f"{STAMP_VERSION} {verified_at} {fingerprint} {self.context_id} {mac}"


class HostSnapshot(FactBase):
    """Everything the deploy's steps compare, and the host's fingerprint, in one command."""

    def command(self, paths: list[str], globs: list[str], trust: Trust, tree_dir: str = "") -> StringCommand:
        """With tree_dir, the tree under it is read too, after TREE_MARK (the same command as
        the fact hardhouse.deploy.audit.ClickHouseConfigTree's)."""
        # The salt and context id come inside `trust`, whose repr hides them: pyinfra prints a
        # fact's arguments at -v, and its command masks only HiddenValues.
        arguments = [QuoteString(p) for p in paths]
        arguments += ["--globs", *(QuoteString(g) for g in globs)]
        arguments += ["--packages", *(QuoteString(p) for p in trust.packages)]
        arguments += ["--scope", *(QuoteString(p) for p in trust.scope)]
        snapshot = SNAPSHOT_SCRIPT.command(
            QuoteString(HiddenValue(DIGEST_KEY)),
            # No stamp trusted or written: the fingerprint would serve nothing, and it is most
            # of the host's work (every file hashed, the listening sockets listed).
            QuoteString(HiddenValue(trust.salt if trust.stamps else "")),
            QuoteString(trust.stamp_path or ""),
            # A stamp that cannot be trusted need not be matched: "-" makes the host read every file.
            QuoteString(HiddenValue(trust.context_id if trust.stamps else "-")),
            *arguments,
        )
        if not tree_dir:
            return snapshot
        return StringCommand(snapshot, "&&", "echo", TREE_MARK, "&&", tree_command(tree_dir))

    def process(self, output: list[str]) -> Snapshot:
        # The tree, when carried, follows the last mark: a glob-matched name holding a line
        # break cannot move the split past what the tree's own script printed.
        marks = [index for index, line in enumerate(output) if line == TREE_MARK]
        tree = parse_answer(output[marks[-1] + 1 :]) if marks else None
        output = output[: marks[-1]] if marks else output
        files = HardhouseFiles().process(output)
        packages, fingerprint, stamp, same = set(), "", "", False
        for line in output:
            same = same or line == "SAME"
            if line.startswith("P "):
                packages.add(line.split(" ")[1])
            elif line.startswith("FP ") and FINGERPRINT_PATTERN.fullmatch(line[3:]):
                fingerprint = line[3:]
            elif line.startswith("STAMP ") and STAMP_PATTERN.fullmatch(line[6:]):
                stamp = line[6:]
        return Snapshot(files, packages=frozenset(packages), fingerprint=fingerprint, stamp=stamp, same=same, tree=tree)

    def default(self) -> Snapshot:
        return Snapshot(HostFiles())


# Host name -> the snapshot this run read last (hosts run in one process, one deploy at a time).
SNAPSHOTS: dict[str, Snapshot] = {}
# Host name -> when this run asked for the checks from outside (time.monotonic()) and their
# pending answer (hardhouse.deploy.operations.check_trusted_from_here takes it on a trusted host).
OUTSIDE: dict[str, tuple[float, Pending]] = {}
OUTSIDE_FRESH = 60.0  # seconds an answer from outside may be old when it is reported; older: asked again


def ask_outside(request: dict[str, Any]) -> None:
    """Send the checks from outside for this host to the helper child now, unless an answer
    asked for within OUTSIDE_FRESH seconds is on its way."""
    asked = OUTSIDE.get(host.name)
    if asked is None or time.monotonic() - asked[0] > OUTSIDE_FRESH:
        OUTSIDE[host.name] = (time.monotonic(), SERVICE.submit("outside", request))


def outside_answer(request: dict[str, Any]) -> Pending:
    """The checks from outside for this host: the answer asked for earlier in this run if it is
    fresh (within OUTSIDE_FRESH seconds), else asked for now."""
    ask_outside(request)
    return OUTSIDE.pop(host.name)[1]


@operation()
def read_host_state(
    paths: list[str],
    globs: list[str],
    trust: Trust,
    outside: dict[str, Any] | None = None,
    prepare_full_proof: bool = False,
    tree_dir: str = "",
    judge_ahead: Callable[[], str] | None = None,
) -> Iterator[Any]:
    """Read everything the steps below compare with one command; changes nothing. `outside`, a
    request for the checks from outside (hardhouse.verify.checks.answer), is sent to the helper
    child first, unless it was sent as the run was prepared (ask_outside): those checks need
    nothing from the host, so they run while its state is read, and a host found trusted
    unchanged has their answer by its last step (a host that is not is verified in full after
    going live, and this answer is not used). With prepare_full_proof, a host that is not
    trusted unchanged has the helper child load its full verification and provisioning now,
    while its steps run. With tree_dir, a host whose stamp is not trusted at all (a trust
    period of 0, a cluster: its users and its audit read that tree) has the tree under it read
    by the same command (hardhouse.deploy.live_tree takes it while nothing changed the host),
    and `judge_ahead` (hardhouse.deploy.recheck.JudgeAhead) judges that tree as soon as the
    read returns, asking for a passing host's proof at once."""
    executing = host.state.is_executing
    if outside is not None and executing:
        ask_outside(outside)
    carried = "" if trust.stamps else tree_dir
    snapshot = host.get_fact(
        HostSnapshot, paths=sorted(set(paths)), globs=sorted(set(globs)), trust=trust, tree_dir=carried
    )
    SNAPSHOTS[host.name] = replace(
        snapshot, globs=frozenset(globs), op_hash=host.current_op_hash, tree_dir=carried if snapshot.tree else ""
    )
    if prepare_full_proof and executing and trusted(trust) is None:
        SERVICE.submit("load", {})
    # What was read: a run that trusts no stamp reads no fingerprint, and the live tree instead.
    what = "the host's fingerprint" if snapshot.fingerprint else "the live configuration tree" if snapshot.tree else ""
    host.noop(f"read {len(snapshot.files.paths)} paths, packages{' and ' + what if what else ''}")
    if judge_ahead is not None and executing:
        host.noop(judge_ahead())
    return
    yield  # an operation is a generator


def changed_since(op_hash: str | None) -> bool:
    """Whether a step after `op_hash` (and before the current one) ran a command on this host."""
    order = host.op_hash_order  # this host's steps, in order
    if op_hash not in order:
        return True
    for later in order[order.index(op_hash) + 1 :]:
        if later == host.current_op_hash:
            break
        if _ran_a_command(host.state, host, later):
            return True
    return False


def changed_on_any_host_since(op_hash: str | None) -> bool:
    """Whether a step after `op_hash` (and before the current one) ran a command on any host of
    this run: a cluster replica's proof also reaches its peers and ZooKeeper."""
    state = host.state
    order = state.get_op_order()  # every host's steps, in the order the run takes them
    if op_hash not in order:
        return True
    end = order.index(host.current_op_hash) if host.current_op_hash in order else len(order)
    later = order[order.index(op_hash) + 1 : end]
    return any(_ran_a_command(state, other, step) for other in state.inventory for step in later)


def _ran_a_command(state: Any, member: Any, step: str) -> bool:
    """Whether `step` has finished on `member` (a host of the run) and changed something there."""
    data = state.ops.get(member, {}).get(step)
    return data is not None and data.operation_meta.is_complete() and data.operation_meta.did_change()


def current() -> Snapshot | None:
    """This host's snapshot while it still describes the host, else None."""
    snapshot = SNAPSHOTS.get(host.name)
    if snapshot is None or changed_since(snapshot.op_hash):
        return None
    return snapshot


def host_files(paths: list[str], globs: Iterable[str] = ()) -> HostFiles:
    """The HardhouseFiles fact for these paths: from the snapshot when it still holds, else read."""
    globs = list(globs)
    snapshot = current()
    if snapshot is not None and set(paths) <= snapshot.files.paths.keys() and set(globs) <= snapshot.globs:
        found = snapshot.files
        return HostFiles(
            paths={p: found.paths[p] for p in paths},
            matches=[m for m in found.matches if any(_glob_matches(m, g) for g in globs)],
            running=found.running,
        )
    return host.get_fact(HardhouseFiles, paths=paths, globs=globs)


@lru_cache(maxsize=4096)
def _glob_matches(path: str, pattern: str) -> bool:
    """PurePosixPath(path).match(pattern), kept: every host of a fleet asks for the same paths and
    patterns in several steps, and pathlib's match costs microseconds each."""
    return PurePosixPath(path).match(pattern)


def installed_packages(packages: Iterable[str]) -> set[str] | None:
    """Which of these packages the snapshot saw installed; None when it cannot say."""
    snapshot = current()
    return None if snapshot is None else set(packages) & snapshot.packages


def fingerprint_now(trust: Trust) -> str:
    """The host's fingerprint: the snapshot's while it holds, else one command."""
    snapshot = current()
    if snapshot is None:
        snapshot = host.get_fact(HostSnapshot, paths=[], globs=[], trust=replace(trust, stamp_path=""))
    return snapshot.fingerprint


def trusted(trust: Trust | None) -> str | None:
    """Why this host needs no re-proof (the host is the one a verification passed on, within
    the trust period), or None."""
    if trust is None or not trust.stamps:
        return None
    snapshot = current()
    if snapshot is None or not snapshot.fingerprint:
        return None
    match = STAMP_PATTERN.fullmatch(snapshot.stamp)
    if match is None:
        return None
    verified_at, fingerprint, context_id, mac = int(match.group(1)), *match.group(2, 3, 4)
    age = int(time.time()) - verified_at
    if not 0 <= age <= trust.seconds or fingerprint != snapshot.fingerprint or context_id != trust.context_id:
        return None
    if not hmac.compare_digest(mac, trust.mac(snapshot.fingerprint, verified_at)):
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(verified_at))
    return f"unchanged since verified at {when} ({age} s ago, within hardhouse_trust_verified_for: {trust.seconds})"


def skip_if_trusted(trust: Trust | None, what: str) -> bool:
    """For a step with nothing to do on a trusted host: say so (a no-op) and return True."""
    why = trusted(trust)
    if why is not None:
        host.noop(f"{what}: {why}")
    return why is not None


def record_verified(trust: Trust, fingerprint: str) -> None:
    """Stamp the host: a verification passed with this fingerprint (a root-only file). Run
    directly, like a fact, and not yielded: it records a proof, it changes nothing the server
    reads, so a re-run that only re-proved the host still reports no change."""
    line = trust.stamp(fingerprint, int(time.time()))
    command = STAMP_SCRIPT.command(QuoteString(trust.stamp_path), QuoteString(line))
    ok, _ = host.run_shell_command(command, **_connector_arguments())
    if not ok:
        host.log(f"could not write {trust.stamp_path}: the next run verifies this host again")


def forget_verified(trust: Trust) -> None:
    """Remove the host's stamp (a check from outside failed where the stamp said nothing
    changed): the next run proves the host in full. Run directly, like record_verified."""
    command = StringCommand("rm", "-f", QuoteString(trust.stamp_path))
    ok, _ = host.run_shell_command(command, **_connector_arguments())
    if not ok:
        host.log(f"could not remove {trust.stamp_path}")


def _connector_arguments() -> dict[str, Any]:
    """The current step's connector arguments (sudo, su and the like) for a command run directly."""
    arguments = host.current_op_global_arguments or {}
    return {key: value for key, value in arguments.items() if key in CONNECTOR_ARGUMENT_KEYS}


def make_trust(
    spec: HardeningSpec,
    environ: Mapping[str, str],
    payloads: list[Payload],
    *,
    spec_data: Mapping[str, Any],
    seconds: int,
    state_dir: str,
    verify_address: str,
    verify_ca: Path | None,
    scope: list[str],
    packages: list[str],
    waivers: Iterable[Waiver] = (),
) -> Trust:
    """The stamp's key (from the spec's passwords) and what a verification was against: the
    spec, every file the deploy puts on the host, the address and CA it verifies with, the
    waivers in force today (one expiring brings the full proof back), hardhouse's version."""
    secrets = []
    for index, user in enumerate(spec.users):
        if user.password_env is None and user.password_file is None:
            continue
        secret, _ = read_secret(user, f"users[{index}]", environ)
        if secret:
            secrets.append(secret.encode())
    key = hmac.new(b"hardhouse verified-state key", b"\0".join(secrets), hashlib.sha256).digest() if secrets else None
    context = hashlib.sha256()
    # The whole spec, not only what it renders: log databases' tables change no file on the host
    # until an owner creates them, and a verification proved the spec it was given.
    today = dt.date.today()
    live = sorted(json.dumps(w.model_dump(mode="json"), sort_keys=True) for w in waivers if not w.expired(today))
    described = {"version": __version__, "address": verify_address, "spec": spec_data, "waivers": live}
    context.update(json.dumps(described, sort_keys=True, default=str).encode())
    if verify_ca is not None:
        with verify_ca.open("rb") as ca:  # a CA file; already read and checked by tls_material
            context.update(ca.read(CA_LIMIT))
    for payload in sorted(payloads, key=lambda p: p.path):
        context.update(f"\0{payload.path}\0{payload.meta}\0".encode() + hashlib.sha256(payload.data).digest())
    salt = hmac.new(key or b"", b"fingerprint salt", hashlib.sha256).hexdigest() if key else "-"
    return Trust(
        key=key,
        context=context.hexdigest(),
        salt=salt,
        seconds=seconds,
        stamp_path=f"{state_dir}/{STAMP_NAME}",
        scope=tuple(scope),
        packages=tuple(sorted(set(packages))),
    )
