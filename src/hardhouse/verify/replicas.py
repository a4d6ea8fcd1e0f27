"""A cluster replica's peers, where a marked row the deploy's checks write is followed before it
is deleted.

The log rights and redaction checks (hardhouse.verify.privileges, hardhouse.verify.redaction)
each write one marked row as a log database's owner and delete it again; on a cluster that
table is replicated. The first such row of a proof is also looked for on every other replica
of the shard before its delete, and looked for again after it, until it is gone there too. The
cluster's replication lines (hardhouse.verify.cluster) are then judged from that row, so the
proof writes no row of its own for them: one replicated insert and one replicated mutation per
replica fewer (18.16 runs a replicated table's mutations one after another, through ZooKeeper,
and three replicas proving themselves at once queued six of them).

The peers are reached as the same owner, over native TLS, with the certificate validated
against the operator's CA, as every other login of the proof.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hardhouse import polling
from hardhouse.clickhouse.native import ServerError, Session, Unreachable

REPLICATION_WAIT = 30.0  # seconds for a row to reach the other replicas (and its deletion)


@dataclass
class Followed:
    """One marked row followed to the peers: where it did not arrive, where its delete did not."""

    table: str
    missing: list[str] = field(default_factory=list)  # peers the row did not reach within REPLICATION_WAIT
    left: list[str] = field(default_factory=list)  # replicas still holding it after the delete
    error: str | None = None  # a peer could not be asked (the lines fail with it)
    removed: bool = False  # the delete ran, so `left` says where it did not arrive


@dataclass
class Replicas:
    """This replica's address, its shard's other replicas and what a login there needs."""

    address: str
    peers: list[str]
    port: int
    ca: Path
    passwords: Mapping[str, str]
    followed: Followed | None = None

    @contextmanager
    def follow(self, user: str, table: str, count: str) -> Iterator[Followed | None]:
        """Around the delete of a marked row (`count`: the query counting it, as `n`): wait for
        it on every peer first, logged in as `user`. Yields None when a row was followed
        already, or `user`'s password is not known here (the row is then not followed)."""
        if self.followed is not None or user not in self.passwords:
            yield None
            return
        followed = Followed(table)
        self.followed = followed
        with ExitStack() as stack:
            try:
                sessions = {
                    peer: stack.enter_context(Session(peer, self.port, user, self.passwords[user], self.ca))
                    for peer in self.peers
                }
                followed.missing = wait_for(sessions, count, 1)
            except (ServerError, Unreachable) as error:
                followed.error = str(error)
                yield None
                return
            yield followed
            if not followed.removed:
                return
            try:
                followed.left += wait_for(sessions, count, 0)
            except (ServerError, Unreachable) as error:
                followed.error = str(error)


def wait_for(sessions: Mapping[str, Session], count: str, wanted: int) -> list[str]:
    """The addresses whose session's `count` did not reach `wanted` within REPLICATION_WAIT."""
    pending = list(sessions)

    def arrived() -> bool:
        nonlocal pending
        pending = [at for at in pending if sessions[at].rows(count) != [{"n": wanted}]]
        return not pending

    polling.until(arrived, REPLICATION_WAIT)
    return pending
