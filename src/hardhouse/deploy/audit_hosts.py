"""Fetch the configuration tree of every host of a pyinfra inventory, for `hardhouse audit
@INVENTORY.py`.

A child (`python -m hardhouse.deploy.audit_hosts`, speaking hardhouse.childproc) is asked
{"kind": "fetch", "body": {"inventory": PATH, "with_spec": BOOL}}. It loads the inventory the
way pyinfra's CLI does (its code RUNS: only for inventories you trust, as with `pyinfra`
itself), connects to every host over its connector (SSH, with the inventory's keys and sudo
settings), runs the read-only fact hardhouse.deploy.audit.ClickHouseConfigTree in
`hardhouse_config_dir` (default /etc/clickhouse-server), and answers one part per host as each
one answers:

    {"host": NAME, "config_dir": DIR, "archive": BASE64_TAR, "server_version": TEXT,
     "include": BASE64 (the host's /etc/metrika.xml) | "include_absent": true}
    or    {"host": NAME, "error": WHY}

(with_spec: also "spec", the host's effective hardhouse_spec, or "spec_error"). An inventory
that cannot be loaded is the request's error. Archives are bounded by the fact (ARCHIVE_LIMIT
bytes). pyinfra's CLI module patches sockets with gevent when imported, so it only ever runs
in this child, never in the caller.

The caller side is fetch_inventory_trees(): it asks the child, reads its parts bounded in
length and in time, and yields one HostTree per host.
"""

from __future__ import annotations

import base64
import binascii
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardhouse.childproc import Child, ChildFailed, Refused, serve
from hardhouse.deploy.audit import ARCHIVE_LIMIT, INCLUDE_LIMIT, ClickHouseConfigTree, FetchedTree
from hardhouse.deploy.contract import CONFIG_DIR
from hardhouse.spec.errors import bounded_text

MAX_WAIVERS = 1000  # a host's waivers read back from the child; more is not an inventory

CHILD_TIMEOUT = 600.0  # seconds for loading, connecting and fetching every host
HOST_TIMEOUT = 180.0  # seconds for one host (connect + fetch)
MAX_SPEC_CHARS = 1024 * 1024  # a host's spec as JSON
MAX_LINE = 4 * ((ARCHIVE_LIMIT + INCLUDE_LIMIT) // 3 + 2) + MAX_SPEC_CHARS + 4096  # one host's answer


class InventoryError(Exception):
    """The inventory could not be loaded or the child failed; the message says why."""


@dataclass(frozen=True)
class HostTree:
    host: str
    config_dir: str
    archive: bytes | None  # the plaintext tar, at most ARCHIVE_LIMIT bytes
    error: str | None = None  # why there is no archive
    spec: dict[str, Any] | None = None  # the host's effective hardhouse_spec (with_spec)
    spec_error: str | None = None
    server_version: str | None = None  # what the host says about itself (FetchedTree)
    include: bytes | None = None
    include_absent: bool = False
    # The host's hardhouse_waivers as data (with_spec), validated again by the caller.
    waivers: list[Any] = field(default_factory=list)


def _host_tree(answer: Any) -> HostTree:
    if not isinstance(answer, dict) or "host" not in answer:
        raise InventoryError("the fetching process answered something that is not a host's tree")
    name, config_dir = (
        bounded_text(str(answer["host"]), 200),
        bounded_text(str(answer.get("config_dir", CONFIG_DIR)), 300),
    )
    spec = answer.get("spec") if isinstance(answer.get("spec"), dict) else None
    spec_error = bounded_text(str(answer["spec_error"]), 600) if answer.get("spec_error") else None
    if "archive" not in answer:
        return HostTree(
            name, config_dir, None, bounded_text(str(answer.get("error", "no answer")), 600), spec, spec_error
        )
    try:
        archive = base64.b64decode(str(answer["archive"]), validate=True)
    except (binascii.Error, ValueError):
        return HostTree(name, config_dir, None, "the archive is not valid base64", spec, spec_error)
    if len(archive) > ARCHIVE_LIMIT:
        return HostTree(name, config_dir, None, f"the archive is larger than {ARCHIVE_LIMIT} bytes", spec, spec_error)
    version = answer.get("server_version")
    include = None
    if isinstance(answer.get("include"), str):
        try:
            include = base64.b64decode(answer["include"], validate=True)
        except (binascii.Error, ValueError):
            return HostTree(name, config_dir, None, "/etc/metrika.xml is not valid base64", spec, spec_error)
        if len(include) > INCLUDE_LIMIT:
            return HostTree(name, config_dir, None, f"/etc/metrika.xml is larger than {INCLUDE_LIMIT} bytes")
    waivers = answer.get("waivers")
    return HostTree(
        name,
        config_dir,
        archive,
        None,
        spec,
        spec_error,
        server_version=bounded_text(version, 100) if isinstance(version, str) and version else None,
        include=include,
        include_absent=answer.get("include_absent") is True,
        waivers=waivers[:MAX_WAIVERS] if isinstance(waivers, list) else [],
    )


def fetch_inventory_trees(path: Path, *, with_spec: bool = False, timeout: float = CHILD_TIMEOUT) -> Iterator[HostTree]:
    """Each host's tree from a pyinfra inventory, in the order hosts answer. Raises
    InventoryError when the inventory cannot be loaded or the child fails or runs too long."""
    if not path.is_file():
        raise InventoryError(f"{path}: no such inventory file")
    child = Child("hardhouse.deploy.audit_hosts", max_reply=MAX_LINE, name="the fetching process")
    seen = 0
    try:
        # A hung SSH connection must not hang the audit: every part comes within `timeout`.
        for answer in child.submit("fetch", {"inventory": str(path), "with_spec": with_spec}).parts(timeout):
            seen += 1
            yield _host_tree(answer)
    except ChildFailed as error:
        raise InventoryError(f"{path}: {bounded_text(str(error), 600)}") from None
    finally:
        child.close(timeout=0)  # the answer is complete, or given up on: nothing more to wait for
    if seen == 0:
        raise InventoryError(f"{path}: the inventory has no hosts")


# --- the child ----------------------------------------------------------------------------


def _host_answer(state: Any, host: Any, with_spec: bool) -> dict[str, Any]:
    """Connect to one host and fetch its tree (runs in a greenlet of the child)."""
    from pyinfra.api.exceptions import ConnectError
    from pyinfra.api.facts import get_fact
    from pyinfra.context import ctx_host, ctx_state

    # Like pyinfra's, imported in the child only: the caller (hardhouse audit @inventory) never loads them.
    from hardhouse.deploy.settings import HardhouseDeployError, effective_spec, host_waivers
    from hardhouse.spec.fields import host_path_problem

    answer: dict[str, Any] = {"host": host.name}
    with ctx_state.use(state), ctx_host.use(host):
        if with_spec:
            # Both or neither: a host whose waivers cannot be read is not judged without them.
            try:
                spec = effective_spec(host.data)
                waivers = [waiver.model_dump(mode="json") for waiver in host_waivers(host.data)]
            except HardhouseDeployError as error:
                answer["spec_error"] = str(error)
            else:
                answer.update(spec=spec, waivers=waivers)
        config_dir = host.data.get("hardhouse_config_dir") or CONFIG_DIR
        answer["config_dir"] = str(config_dir)
        problem = host_path_problem(config_dir) if isinstance(config_dir, str) else "is not text"
        if problem is not None:
            return {**answer, "error": f"hardhouse_config_dir {problem}"}
        try:
            host.connect(show_errors=False, raise_exceptions=True)
        except ConnectError as error:
            return {**answer, "error": f"cannot connect: {error.args[0] if error.args else type(error).__name__}"}
        try:
            fetched: FetchedTree = get_fact(
                state, host, ClickHouseConfigTree, kwargs={"config_dir": config_dir}, apply_failed_hosts=False
            )
        finally:
            host.disconnect()
    if fetched.archive is None:
        return {**answer, "error": fetched.error or "no answer"}
    answer.update(archive=base64.b64encode(fetched.archive).decode(), include_absent=fetched.include_absent)
    if fetched.server_version:
        answer["server_version"] = fetched.server_version
    if fetched.include is not None:
        answer["include"] = base64.b64encode(fetched.include).decode()
    return answer


def _fetch(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The child's one kind of request: each host's answer, as each host answers."""
    inventory, with_spec = body.get("inventory"), body.get("with_spec", False)
    if not isinstance(inventory, str) or not isinstance(with_spec, bool):
        raise Refused("a fetch request is {inventory: path, with_spec: true | false}")
    path = Path(inventory)

    # pyinfra patches sockets with gevent when its CLI is imported: here, in this child only.
    import gevent
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    state = State(check_for_changes=False)
    state.cwd = str(path.parent.resolve())
    try:
        with ctx_state.use(state):
            inventory_hosts = make_inventory(str(path), cwd=state.cwd)
        state.init(inventory_hosts, Config())
    except Exception as error:  # noqa: BLE001 - the inventory's own code failed: report, do not crash
        inner = getattr(error, "exception", None) or getattr(error, "e", None) or error  # pyinfra wraps user errors
        try:
            why = f"{type(inner).__name__}: {inner}"
        except Exception:  # noqa: BLE001 - a message that cannot even be printed
            why = type(inner).__name__
        raise Refused(f"pyinfra could not load it: {why}") from None

    def one(host: Any) -> dict[str, Any]:
        try:
            with gevent.Timeout(HOST_TIMEOUT):
                return _host_answer(state, host, with_spec)
        except gevent.Timeout:
            return {"host": host.name, "error": f"no answer within {HOST_TIMEOUT:g}s"}
        except Exception as error:  # noqa: BLE001 - one host's failure must not hide the others
            return {"host": host.name, "error": f"{type(error).__name__}: {error}"}

    greenlets = [state.pool.spawn(one, host) for host in inventory_hosts]
    for greenlet in gevent.iwait(greenlets):
        yield greenlet.get()


def main() -> None:
    # Replies go to the original stdout; anything pyinfra prints goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve({"fetch": _fetch}, sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
