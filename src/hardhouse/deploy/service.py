"""`python -m hardhouse.deploy.service`: one child for a whole deploy run that answers the
hosts' verification and log-database requests concurrently (hardhouse.deploy.child.SERVICE is
the parent's side; hardhouse.childproc the protocol; hardhouse.helper_requests the requests).

One child instead of one per host and step: a fleet's no-change re-run used to start two
Python processes per host (each importing the spec model, the drivers and the probe), which on
a small deploy machine cost more than the checks themselves. Requests still carry no secret;
the child reads passwords where the spec names them, as before. The child ends when its stdin
closes and the requests it holds are answered.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from hardhouse.childproc import serve
from hardhouse.probe.tls import end_quick_scans, prepare_quick_scans
from hardhouse.probe.worker import discard_spare

MAX_CONCURRENT = 64  # requests answered at once (each mostly waits on the network)

# Request kind -> the module whose `answer` serves it, imported on first use: a run whose hosts
# are all trusted unchanged asks only for the checks from outside, which need neither the spec
# model nor what provisioning and the full verification load. "load" imports those two ahead.
ANSWERED_BY = {
    "outside": "hardhouse.verify.checks",
    "verify": "hardhouse.verify.deployment",
    "provision": "hardhouse.provision.apply",
    "scan": "hardhouse.scan.deployment",
    "proof": "hardhouse.deploy.proof_answer",
}


# Handlers run in threads, and two threads importing the same package from different ends (one
# `hardhouse.spec`, the other `hardhouse.spec.settings` through the renderer) can each hold a
# module the other needs: Python breaks that deadlock by handing one of them a half-initialized
# module (ImportError: cannot import name ... from partially initialized module). So the first
# import of a handler's module, and all it imports, happens one thread at a time.
_IMPORTING = threading.Lock()


def _imported(module: str) -> Any:
    with _IMPORTING:
        return importlib.import_module(module)


def _answer_with(module: str) -> Callable[[dict[str, Any]], Any]:
    def answer(body: dict[str, Any]) -> Any:
        return _imported(module).answer(body)

    return answer


def _load(body: dict[str, Any]) -> dict[str, Any]:
    """Import what the full verification and provisioning use, now: the deploy asks as soon as
    it knows a host will be proven in full (as it starts, when the inventory says no stamp is
    trusted: hardhouse.deploy.proven_in_full; else as it finds a host not trusted unchanged),
    so that the imports overlap that host's steps."""
    for kind in ("verify", "provision", "proof"):
        _imported(ANSWERED_BY[kind])
    _imported("hardhouse.clickhouse.driver")  # the sessions import it on first use
    # Then the TLS checks' worker child, which a proof needs beside its logins: started only now,
    # its own start (a Python process loading the TLS scanner) does not slow these imports, which
    # every proof waits for.
    prepare_quick_scans()
    return {}


HANDLERS = {**{kind: _answer_with(module) for kind, module in ANSWERED_BY.items()}, "load": _load}


def main() -> None:
    # What every verifying run needs (its checks from outside), loaded before the first request.
    importlib.import_module(ANSWERED_BY["outside"])
    # The verification's TLS checks run in a worker child that serves this whole run. It starts
    # with the first check from outside (a trusted host's, asked for as the deploy plans it, so
    # it loads the TLS scanner while the deploy prepares its steps), or once "load" has imported
    # what proving a host in full needs: started here, it took a core from those imports while
    # the deploy's process planned on the other, and a cluster's proofs waited for them (a
    # cluster's re-run 1.81 -> 1.71 s, bench/deploy_ab.py --cluster 3).
    serve(HANDLERS, concurrent=MAX_CONCURRENT)


if __name__ == "__main__":
    main()
    # Every answer is written and flushed, and nothing else is held: end without the
    # interpreter's teardown, which the deploy would otherwise wait for (a tenth of a second).
    end_quick_scans()
    discard_spare()
    sys.stderr.flush()
    os._exit(0)
