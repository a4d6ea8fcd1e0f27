"""The typed messages between the parent and the worker process, and the reports callers get.
They travel as hardhouse.childproc messages in files, not on a pipe (the engine writes to the
worker's stdout and stderr itself): a Request's body in ROOT/request.json, a WorkerResult as the
answer in ROOT/result.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hardhouse import childproc
from hardhouse.childproc import ProtocolError, decode_reply, decode_request, encode


@dataclass
class Request:
    mode: Literal["validate", "run_as"]
    user: str = ""  # run_as: the rendered user the queries run as
    queries: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)  # run_as: run first, as the inspector
    apply_sql: bool = True  # run_as: the rendered sql/ DDL before setup
    data_dir: str | None = None  # run_as: the caller's data directory, kept

    def write(self, path: Path) -> None:
        path.write_bytes(encode(childproc.Request(1, self.mode, dataclasses.asdict(self))))

    @classmethod
    def read(cls, path: Path) -> Request:
        return cls(**decode_request(path.read_bytes()).body)


@dataclass
class UserLogin:
    """What the engine said about one account the rendered set leaves."""

    name: str
    auth_type: list[str]  # as system.users lists it (does not show an EMPTY password)
    networks: list[str]  # host_ip, host names, regexps and LIKE patterns it accepts
    passwordless: bool  # an empty-password login succeeded
    login: str  # "accepted", or ClickHouse's refusal (Code 516 ...)


@dataclass
class EmbeddedReport:
    ok: bool  # loaded without error and no user can log in without a password
    errors: list[str]  # ClickHouse's own messages (and harness failures, prefixed "hardhouse:")
    users: list[str]  # accounts the engine has after merging the rendered users.d files
    passwordless: list[str]  # accounts that log in with an empty password
    engine_version: str = ""
    default_login: str = ""  # the unmodified set: "accepted" or ClickHouse's refusal
    logins: list[UserLogin] = field(default_factory=list)
    config_d: list[str] = field(default_factory=list)  # config.d files merged into config.xml
    server_settings: dict[str, str] = field(default_factory=dict)  # openSSL.* as the engine merged them
    ignored: list[str] = field(
        default_factory=list
    )  # not loaded: outside users.d/ and config.d/, or config.d/ when excluded
    engine_starts: int = 0
    seconds: float = 0.0


@dataclass
class QueryOutcome:
    query: str
    ok: bool
    rows: list[dict[str, Any]] = field(default_factory=list)  # JSONEachRow rows when ok
    code: int | None = None  # ClickHouse's error code when not ok
    message: str = ""


@dataclass
class RunAsReport:
    user: str
    logged_in: bool  # the engine started with the user's rights and let the session in
    login: str  # "accepted", or ClickHouse's message
    errors: list[str]  # load errors and failed setup statements (harness side)
    outcomes: list[QueryOutcome]

    def outcome(self, query: str) -> QueryOutcome:
        return next(o for o in self.outcomes if o.query == query)


@dataclass
class WorkerResult:
    """Everything the worker found; the parent turns it into an EmbeddedReport or RunAsReport."""

    ok: bool = False
    errors: list[str] = field(default_factory=list)
    unavailable: str | None = None  # chdb-core could not even be imported
    engine_version: str = ""
    engine_starts: int = 0
    config_d: list[str] = field(default_factory=list)
    # validate
    users: list[str] = field(default_factory=list)
    passwordless: list[str] = field(default_factory=list)
    default_login: str = ""
    logins: list[UserLogin] = field(default_factory=list)
    server_settings: dict[str, str] = field(default_factory=dict)
    # run_as
    logged_in: bool = False
    login: str = ""
    outcomes: list[QueryOutcome] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.write_bytes(encode(childproc.Reply(1, answer=dataclasses.asdict(self))))

    @classmethod
    def read(cls, path: Path) -> WorkerResult:
        """Raises hardhouse.childproc.ProtocolError for a file that is not the worker's answer."""
        reply = decode_reply(path.read_bytes())
        if reply.error is not None or not isinstance(reply.answer, dict):
            raise ProtocolError(reply.error or "the worker's answer is not an object")
        data: dict[str, Any] = reply.answer
        data["logins"] = [UserLogin(**login) for login in data.get("logins", [])]
        data["outcomes"] = [QueryOutcome(**outcome) for outcome in data.get("outcomes", [])]
        return cls(**data)
