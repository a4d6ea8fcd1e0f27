"""The caller's side: stage the rendered files, run the worker in a child process, and turn
its answer into reports. The caller's process never loads chdb (see hardhouse.embedded)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hardhouse.childproc import ProtocolError
from hardhouse.embedded.harness import key_stand_ins, stage
from hardhouse.embedded.protocol import EmbeddedReport, Request, RunAsReport, WorkerResult

if TYPE_CHECKING:
    from hardhouse.render.build import RenderedFile

DEFAULT_TIMEOUT = 180.0


class EmbeddedUnavailable(RuntimeError):
    """The embedded engine could not be run at all (chdb-core missing, worker crashed)."""


def run_as(
    files: list[RenderedFile],
    user: str,
    queries: list[str],
    *,
    setup: list[str] | tuple[str, ...] = (),
    apply_sql: bool = True,
    data_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> RunAsReport:
    """Run queries in the embedded engine as the rendered `user` and return each result.

    The rendered sql/ DDL (when apply_sql), then setup statements, run first as an inspector
    with every right, on the data the user's run then sees. See hardhouse.embedded for
    what is and is not the rendered user's in that run. data_dir (the caller's, kept) holds
    that data, e.g. to look at what reached the disk; by default it is removed with the run.
    Keys the rendered files leave to the server get random stand-ins that live only for
    this call, so encrypted data in data_dir cannot be read by a later call.
    """
    root = Path(tempfile.mkdtemp(prefix="hardhouse-embedded-"))
    try:
        stage(files, root)
        request = Request(
            "run_as",
            user=user,
            queries=list(queries),
            setup=list(setup),
            apply_sql=apply_sql,
            data_dir=str(data_dir.resolve()) if data_dir is not None else None,
        )
        result = _run_worker(root, request, timeout)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return RunAsReport(
        user=user, logged_in=result.logged_in, login=result.login, errors=result.errors, outcomes=result.outcomes
    )


def validate_embedded(
    files: list[RenderedFile],
    *,
    include_config_d: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> EmbeddedReport:
    """Load `files` into ClickHouse 26.9 (chdb-core) on top of the stock users.xml and prove them.

    Safe to call repeatedly and from several threads: each call works in its own temporary
    directory and its own child process, and removes both before returning. Raises
    EmbeddedUnavailable when the engine cannot be run at all.
    """
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="hardhouse-embedded-"))
    try:
        ignored = stage(files, root, include_config_d)
        result = _run_worker(root, Request("validate"), timeout)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return EmbeddedReport(
        ok=result.ok,
        errors=result.errors,
        users=result.users,
        passwordless=result.passwordless,
        engine_version=result.engine_version,
        default_login=result.default_login,
        logins=result.logins,
        config_d=result.config_d,
        server_settings=result.server_settings,
        ignored=ignored,
        engine_starts=result.engine_starts,
        seconds=round(time.monotonic() - started, 3),
    )


def _run_worker(root: Path, request: Request, timeout: float) -> WorkerResult:
    request.write(root / "request.json")
    package_parent = str(Path(__file__).resolve().parents[2])
    env = {
        # Random stand-ins for the keys the rendered files name (never the caller's values),
        # then what Python and the engine need, which no stand-in may override.
        **key_stand_ins(root),
        # Only what Python and the engine need; the caller's secrets stay out of the child.
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "work"),
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": package_parent,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, "-m", "hardhouse.embedded.worker", str(root)]
    try:
        completed = subprocess.run(
            command,
            cwd=root / "work",
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise EmbeddedUnavailable(f"the embedded engine did not finish within {timeout:.0f} s") from error
    result_path = root / "result.json"
    if not result_path.is_file():
        tail = "\n".join((completed.stderr or "").strip().splitlines()[-15:])
        raise EmbeddedUnavailable(
            f"the embedded engine worker exited with {completed.returncode} and no result:\n{tail}"
        )
    try:
        result = WorkerResult.read(result_path)
    except ProtocolError as error:
        raise EmbeddedUnavailable(f"the embedded engine worker left an unreadable result: {error}") from None
    if result.unavailable:
        raise EmbeddedUnavailable(result.unavailable)
    return result
