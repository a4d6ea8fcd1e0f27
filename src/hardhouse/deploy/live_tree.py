"""The host's live configuration tree (hardhouse.deploy.audit.ClickHouseConfigTree), read once
for the steps that judge it while nothing in between changed the host.

The users check reads the tree before anything is touched; the audit after going live reads it
again. When no step in between ran a command on the host (a re-run that proves an unchanged
host: nothing installed, staged or activated), the second read would fetch the same files, so
the audit judges the first read instead (one remote command per host fewer). A host proven in
full on every run (no stamp trusted: a trust period of 0, a cluster) has its tree read by the
deploy's first command already, with its state (hardhouse.deploy.snapshot.read_host_state),
and both steps judge that read while it holds: one command fewer again. Any command in
between (an install, a staged file, an activation, whatever pyinfra reports as a change), and
the tree is read again, as before. Like every read, it is a moment's picture: a file changed
after it is the next run's to find, whichever read it was.
"""

from __future__ import annotations

import weakref
from typing import Any

from pyinfra import host

from hardhouse.deploy.audit import ClickHouseConfigTree, FetchedTree
from hardhouse.deploy.snapshot import changed_since, current

# Host name -> (the deploy's state, config dir, the step that read it, what it read). One deploy
# at a time per process; a later run's state is another object, so nothing carries over.
_READS: dict[str, tuple[weakref.ref[Any], str, str | None, FetchedTree]] = {}


def live_tree(config_dir: str) -> FetchedTree:
    """The tree under config_dir: this run's earlier read while it still describes the host (the
    host's snapshot, when it carried the tree, or a step's read), else read now (one read-only
    command) and kept for the steps after this one."""
    snapshot = current()
    if snapshot is not None and snapshot.tree is not None and snapshot.tree_dir == config_dir:
        return snapshot.tree
    kept = _READS.get(host.name)
    if kept is not None:
        state, kept_dir, op_hash, fetched = kept
        if state() is host.state and kept_dir == config_dir and not changed_since(op_hash):
            return fetched
    fetched = host.get_fact(ClickHouseConfigTree, config_dir=config_dir)
    _READS[host.name] = (weakref.ref(host.state), config_dir, host.current_op_hash, fetched)
    return fetched
