"""The child process: starts the embedded engine (chdb-core) on one run directory at a time
and proves the rendered set (see hardhouse.embedded for the method). Run as
`python -m hardhouse.embedded.worker ROOT`; it reads ROOT/request.json and writes
ROOT/result.json (hardhouse.embedded.protocol)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from hardhouse.clickhouse import codes
from hardhouse.embedded.harness import (
    AS_USER_XML,
    CONFIG_XML,
    INSPECTOR_XML,
    OPEN_NETWORKS_XML,
    ORIGINAL_DEFAULT,
    SESSION_USER,
    STOCK_USERS_XML,
    build_run,
)
from hardhouse.embedded.protocol import QueryOutcome, Request, UserLogin, WorkerResult

AUTH_FAILED = codes.AUTHENTICATION_FAILED
# What chdb-core says when config.xml or a config.d file cannot be loaded, and nothing more.
UNINFORMATIVE = re.compile(r"Connection failed: \w+")

USERS_QUERY = (
    "SELECT name, auth_type, host_ip, host_names, host_names_regexp, host_names_like FROM system.users ORDER BY name"
)
SETTINGS_QUERY = "SELECT name, value FROM system.server_settings WHERE changed AND name LIKE 'openSSL.%' ORDER BY name"


def _clean_message(text: str) -> str:
    """ClickHouse's message without its stack trace and the Cloud/password-reset advice."""
    text = text.replace("Failed to create connection: ", "", 1)
    text = re.split(r",? Stack trace \(when copying", text, maxsplit=1)[0]
    text = text.split("\n\nIf you use ClickHouse Cloud", 1)[0]
    lines = [line for line in text.splitlines() if line.strip() and not re.match(r"^\s*\d+\. ", line)]
    return "\n".join(lines).strip()


def _messages(stderr: str, exception: str) -> list[str]:
    """The engine's own messages: what it wrote to fd 2, then the exception if it adds anything."""
    found: list[str] = []
    for chunk in re.split(r"\n(?=Code: \d+\.)", stderr):
        message = _clean_message(chunk)
        if message and message not in found:
            found.append(message)
    message = _clean_message(exception)
    uninformative = re.search(r"Error initializing EmbeddedServer: \. \(", message) and found
    if message and not uninformative and message not in found:
        found.append(message)
    return found


def _code(message: str) -> int | None:
    return codes.code_in(message)


class _Engine:
    """Starts the embedded engine on one run directory, capturing what it writes to fd 2."""

    def __init__(self, chdb: Any, root: Path):
        self.chdb = chdb
        self.root = root
        self.starts = 0

    def start(self, run: Path, queries: list[str]) -> tuple[bool, list[str], list[QueryOutcome]]:
        """(logged in, messages, one outcome per query). Every query runs even when one fails;
        a failure carries ClickHouse's error code and message."""
        self.starts += 1
        capture_path = run / "engine.stderr"
        sys.stderr.flush()
        saved = os.dup(2)
        results: list[QueryOutcome] = []
        exception = ""
        logged_in = False
        with open(capture_path, "w+", encoding="utf-8", errors="replace") as capture:
            os.dup2(capture.fileno(), 2)
            try:
                connection = self.chdb.connect(f":memory:?config-file={run / 'config.xml'}")
                logged_in = True
                try:
                    for query in queries:
                        try:
                            rows = _rows(connection.query(query, "JSONEachRow").data())
                            results.append(QueryOutcome(query, True, rows))
                        except Exception as error:  # the engine's own error for this query
                            message = _clean_message(str(error))
                            results.append(QueryOutcome(query, False, code=_code(message), message=message))
                finally:
                    connection.close()
            except Exception as error:  # chdb raises RuntimeError / ChdbError with the engine's text
                exception = str(error)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
            capture.seek(0)
            stderr = capture.read()
        return logged_in, _messages(stderr, exception), results


def _rows(jsoneachrow: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in jsoneachrow.splitlines() if line.strip()]


def main(root: Path) -> None:
    result = WorkerResult(config_d=sorted(p.name for p in (root / "rendered" / "config.d").iterdir()))
    try:
        try:
            import chdb  # starts (and stops) an in-memory engine with the defaults
        except Exception as error:
            result.unavailable = f"chdb-core cannot be imported: {error}"
            return
        result.engine_version = str(getattr(chdb, "engine_version", ""))
        engine = _Engine(chdb, root)
        request = Request.read(root / "request.json")
        try:
            if request.mode == "run_as":
                _run_as(root, engine, request, result)
            else:
                _prove(root, engine, result)
        except ValueError as error:
            result.errors.append(str(error))
        result.engine_starts = engine.starts
        result.ok = not result.errors and not result.passwordless
    finally:
        result.write(root / "result.json")


def _diagnose_config_d(root: Path, engine: _Engine) -> list[str]:
    """ClickHouse's own parser message for a config.d file that stops the engine.

    chdb-core 26.9 reduces any failure to load config.xml or its config.d/ to "Connection
    failed: Exception" (or ": SAXParseException"). The users file goes through the same
    ClickHouse config processor (XML parsing, merge, remove/replace, substitutions) and its
    messages do surface, so the config.d files are merged onto the stock users.xml instead,
    and the message is reported with the path put back.
    """
    sources = sorted((root / "rendered" / "config.d").iterdir())
    if not sources:
        return []
    run = root / "runs" / "config-d-diagnosis"
    (run / "users.d").mkdir(parents=True)
    (run / "config.d").mkdir()
    (run / "config.xml").write_text(CONFIG_XML.format(data=run / "data", run=run), encoding="utf-8")
    (run / "users.xml").write_text(STOCK_USERS_XML, encoding="utf-8")
    for source in sources:
        shutil.copyfile(source, run / "users.d" / source.name)
    logged_in, messages, _ = engine.start(run, [])
    found = [m.replace(f"{run / 'users.d'}/", "config.d/") for m in messages if _code(m) != AUTH_FAILED]
    if logged_in or not found:
        return [
            "hardhouse: the config.d files parse on their own; the failure is elsewhere in the server configuration"
        ]
    return [f"ClickHouse's config processor on the config.d files: {m}" for m in found]


def _prove(root: Path, engine: _Engine, result: WorkerResult) -> None:
    # 1. The rendered set exactly as a server would merge it.
    logged_in, messages, _ = engine.start(build_run(root, "as-rendered", {}, None), [])
    if logged_in:
        result.default_login = "accepted"
    elif messages and all(_code(m) == AUTH_FAILED for m in messages):
        result.default_login = messages[0]
    else:
        if messages and all(UNINFORMATIVE.fullmatch(m) for m in messages):
            messages += _diagnose_config_d(root, engine)
        result.errors.extend(messages or ["hardhouse: the engine failed without a message"])
        return

    # 2. Which accounts exist after the merge, as ClickHouse sees them; the rendered DDL too.
    names = {SESSION_USER: ORIGINAL_DEFAULT, ORIGINAL_DEFAULT: SESSION_USER}
    statements = _rendered_sql(root)
    logged_in, messages, outcomes = engine.start(
        build_run(root, "inspect", names, INSPECTOR_XML), [s for _, s in statements] + [USERS_QUERY, SETTINGS_QUERY]
    )
    if not logged_in:
        result.errors.extend(["hardhouse: the inspection run failed:"] + messages)
        return
    for (source, _), outcome in zip(statements, outcomes[: len(statements)], strict=True):
        if not outcome.ok:
            result.errors.append(f"ClickHouse on {source}: {outcome.message}")
    users_outcome, settings_outcome = outcomes[len(statements) :]
    if not users_outcome.ok or not settings_outcome.ok:
        result.errors.extend(
            ["hardhouse: the inspection queries failed:", users_outcome.message, settings_outcome.message]
        )
        return
    accounts = []
    for row in users_outcome.rows:
        if row["name"] == SESSION_USER:
            continue  # the inspector
        name = SESSION_USER if row["name"] == ORIGINAL_DEFAULT else row["name"]
        networks = [
            *row["host_ip"],
            *row["host_names"],
            *(f"regexp:{r}" for r in row["host_names_regexp"]),
            *(f"like:{p}" for p in row["host_names_like"]),
        ]
        accounts.append((name, [str(a) for a in row["auth_type"]], networks))
    result.server_settings = {row["name"]: row["value"] for row in settings_outcome.rows}
    result.users = sorted(name for name, _, _ in accounts)

    # 3. One empty-password login per account, with only its authentication method in the way.
    for index, (name, auth_type, networks) in enumerate(sorted(accounts)):
        renames = {} if name == SESSION_USER else {name: SESSION_USER, SESSION_USER: name}
        logged_in, messages, _ = engine.start(build_run(root, f"login-{index}", renames, OPEN_NETWORKS_XML), [])
        if not logged_in and not (messages and all(_code(m) == AUTH_FAILED for m in messages)):
            result.errors.extend([f"hardhouse: the login probe for {name!r} failed to load:"] + messages)
            continue
        login = "accepted" if logged_in else messages[0]
        result.logins.append(UserLogin(name, auth_type, networks, logged_in, login))
        if logged_in:
            result.passwordless.append(name)


def _rendered_sql(root: Path) -> list[tuple[str, str]]:
    """(sql/FILE, statement) for every rendered SQL file, in order."""
    # Here: hardhouse.render loads Jinja2, which only a request carrying SQL needs.
    from hardhouse.render.sql import sql_statements

    found = []
    for source in sorted((root / "rendered" / "sql").iterdir()):
        for statement in sql_statements(source.read_text(encoding="utf-8")):
            found.append((f"sql/{source.name}", statement))
    return found


def _run_as(root: Path, engine: _Engine, request: Request, result: WorkerResult) -> None:
    data = Path(request.data_dir) if request.data_dir else root / "shared-data"
    # 1. As the inspector (every right): the rendered DDL, then what the queries need.
    names = {SESSION_USER: ORIGINAL_DEFAULT, ORIGINAL_DEFAULT: SESSION_USER}
    setup = ([s for _, s in _rendered_sql(root)] if request.apply_sql else []) + list(request.setup)
    logged_in, messages, outcomes = engine.start(build_run(root, "setup", names, INSPECTOR_XML, data), setup)
    if not logged_in:
        result.errors.extend(["hardhouse: the setup run failed to load:"] + messages)
        return
    result.errors.extend(f"hardhouse: setup statement failed: {o.query}: {o.message}" for o in outcomes if not o.ok)
    # 2. As the user: its rendered rights under the session's name.
    user = request.user
    renames = {} if user == SESSION_USER else {user: SESSION_USER, SESSION_USER: user}
    logged_in, messages, outcomes = engine.start(
        build_run(root, "as-user", renames, AS_USER_XML, data), request.queries
    )
    result.logged_in = logged_in
    result.login = "accepted" if logged_in else (messages[0] if messages else "refused without a message")
    result.outcomes = outcomes


if __name__ == "__main__":
    main(Path(sys.argv[1]))
