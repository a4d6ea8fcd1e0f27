"""ZooKeeper and ClickHouse Keeper as the probe sees them: what answers a ConnectRequest, what an
anonymous session may list and what the ACLs of ClickHouse's znodes let the world do, and which
four-letter words answer with data.

Nothing is written to a probed server: the session only lists children (counted, never read)
and reads ACLs; a world ACL with create or write on ClickHouse's znodes is the evidence that an
anonymous writer would be let in. The four-letter words sent are the read-only ones
(hardhouse.probe.wire.zookeeper.READ_ONLY_WORDS); every answer is read bounded and only an
escaped excerpt of the version line is kept. The session runs in a worker child (the client is
blocking; the child is killed at the deadline and its memory is capped).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hardhouse.probe import text
from hardhouse.probe.model import EndpointReport, Service, ZooKeeperInfo
from hardhouse.probe.transport import SMALL_ANSWER, NotTls, Unreachable, exchange
from hardhouse.probe.wire.zookeeper import (
    CONNECT_RESPONSE_SIZE,
    NO_AUTH,
    NO_NODE,
    NOT_WHITELISTED,
    PERM_ADMIN,
    PERM_CREATE,
    PERM_DELETE,
    PERM_READ,
    PERM_WRITE,
    READ_ONLY_WORDS,
    WORLD_ANYONE,
    ConnectResponse,
    ZooKeeperClient,
    ZooKeeperError,
    connect_frame,
    connect_response_complete,
    parse_connect_response,
    permissions,
)
from hardhouse.probe.worker import JobFailed, run_job

# Where ClickHouse keeps its state by default: replicated tables' metadata and the ON CLUSTER queue.
CLICKHOUSE_PATHS = ("/clickhouse", "/clickhouse/tables", "/clickhouse/task_queue", "/clickhouse/task_queue/ddl")
ROOT = "/"
# What a world ACL may grant beyond reading that lets an anonymous client change ClickHouse's state.
WRITE_BITS = PERM_WRITE | PERM_CREATE | PERM_DELETE | PERM_ADMIN
# Words that answer with nothing but a liveness or mode flag, and srvr, which ZooKeeper 3.8
# answers whatever 4lw.commands.whitelist says (checked live): reported, never a finding.
INFORMATIONAL_WORDS = frozenset({"ruok", "isro", "srvr"})
WORD_ANSWER = 16 * 1024  # enough to tell data from a refusal; the rest is not read


async def detect(host: str, port: int, tls: bool, timeout: float) -> ConnectResponse | None:
    """The ConnectResponse this endpoint answers a ZooKeeper ConnectRequest with, or None."""
    try:
        answer = await exchange(
            host,
            port,
            connect_frame(),
            tls=tls,
            timeout=timeout,
            complete=connect_response_complete,
            limit=CONNECT_RESPONSE_SIZE + 64,
        )
    except (NotTls, Unreachable):
        return None
    return parse_connect_response(answer.data)


async def observe(
    report: EndpointReport,
    answer: ConnectResponse,
    tls: bool,
    timeout: float,
    deadline: float,
    workers: asyncio.Semaphore,
) -> None:
    """Fill `report` for an endpoint that answered a ConnectRequest: the four-letter words,
    then (if the session was granted) the anonymous session in a worker child."""
    report.tls = tls
    info = ZooKeeperInfo()
    report.zookeeper = info
    report.service = Service.ZOOKEEPER
    report.banner = "ZooKeeper protocol" + ("" if answer.timeout_ms > 0 else " (session refused)")
    apply_words(info, await four_letter_words(report.host, report.port, tls, timeout))
    if info.keeper:
        report.service = Service.CLICKHOUSE_KEEPER
        report.clickhouse = True
    if info.version:
        report.banner = text.excerpt(info.version, text.BANNER)
        number = re.search(r"version: ([0-9]+(?:\.[0-9]+){1,3})", info.version)
        report.version = number.group(1) if number else None
    if answer.timeout_ms <= 0:
        return
    arguments = {"host": report.host, "port": report.port, "tls": tls, "timeout": timeout, "deadline": deadline}
    try:
        async with workers:
            apply_session(info, await run_job("zookeeper_session", arguments, deadline))
    except JobFailed as error:  # the detection stands; say why the session said no more
        info.errors.append(text.excerpt(f"session: {error}") or "")


async def four_letter_words(host: str, port: int, tls: bool, timeout: float) -> dict[str, bytes | None]:
    """Each read-only word -> its answer's first WORD_ANSWER bytes, or None when refused or silent."""

    async def ask(word: str) -> bytes | None:
        try:
            answer = await exchange(host, port, word.encode(), tls=tls, timeout=timeout, limit=WORD_ANSWER)
        except (NotTls, Unreachable):
            return None
        data = answer.data
        if not data.strip() or NOT_WHITELISTED in data[:200]:
            return None
        return data

    answers = await asyncio.gather(*(ask(word) for word in READ_ONLY_WORDS))
    return dict(zip(READ_ONLY_WORDS, answers, strict=True))


def apply_words(info: ZooKeeperInfo, answers: dict[str, bytes | None]) -> None:
    info.words = [word for word, answer in answers.items() if answer is not None]
    srvr = answers.get("srvr") or answers.get("stat") or answers.get("mntr")
    if srvr:
        first = srvr[: SMALL_ANSWER // 16].split(b"\n", 1)[0]
        info.keeper = b"clickhouse keeper" in first.lower() or b"clickhouse keeper" in srvr[:2048].lower()
        info.version = text.excerpt(first, text.DETAIL)


def session_job(host: str, port: int, tls: bool, timeout: float, deadline: float) -> dict[str, Any]:
    """In the worker child: an anonymous session lists "/" and ClickHouse's paths (counting the
    children) and reads the ACLs of those that exist. Writes nothing."""
    readable: dict[str, int] = {}
    refused: dict[str, str] = {}
    world: dict[str, list[str]] = {}
    errors: list[str] = []
    with ZooKeeperClient(host, port, timeout=timeout, deadline=deadline, tls=tls) as client:
        for path in (ROOT, *CLICKHOUSE_PATHS):
            try:
                readable[path] = len(client.get_children(path))
            except ZooKeeperError as error:
                if error.code == NO_NODE:
                    continue
                refused[path] = "no-auth" if error.code == NO_AUTH else f"error {error.code}"
                if error.code not in (NO_AUTH,):
                    errors.append(text.excerpt(str(error)) or "")
            if path == ROOT:
                continue
            try:
                acl = client.get_acl(path)
            except ZooKeeperError as error:
                if error.code not in (NO_NODE, NO_AUTH):
                    errors.append(text.excerpt(str(error)) or "")
                continue
            granted = 0
            for bits, scheme, ident in acl:
                if (scheme, ident) == WORLD_ANYONE:
                    granted |= bits
            if granted & (WRITE_BITS | PERM_READ):
                world[path] = permissions(granted)
    return {"readable": readable, "refused": refused, "world": world, "errors": errors}


def apply_session(info: ZooKeeperInfo, answer: dict[str, Any]) -> None:
    info.readable = {str(k): int(v) for k, v in dict(answer.get("readable", {})).items()}
    info.refused = {str(k): str(v) for k, v in dict(answer.get("refused", {})).items()}
    info.world = {str(k): [str(p) for p in v] for k, v in dict(answer.get("world", {})).items()}
    info.errors.extend(text.excerpt(str(e)) or "" for e in answer.get("errors", []))


def world_writable(info: ZooKeeperInfo) -> dict[str, list[str]]:
    """ClickHouse's znodes whose world ACL grants more than reading."""
    return {path: perms for path, perms in info.world.items() if set(perms) - {"read"}}
