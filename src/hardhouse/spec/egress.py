"""The spec's egress section: where table functions may reach (remote hosts, local files) and
whether crash reports leave the host; the model and the rule that spans it and the target."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import field_validator

from hardhouse.spec.declare import StrictModel, described
from hardhouse.spec.errors import Problem, excerpt
from hardhouse.spec.fields import HOST_PATH_RULE, check_host_path, fail
from hardhouse.spec.gates import Gate, refusals

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec

STOCK_USER_FILES_PATH = "/var/lib/clickhouse/user_files"
# Directories file() must not be given: the root, the stock data path and its parents, system ones.
SHARED_DIRECTORIES = (
    "/",
    "/var",
    "/var/lib",
    "/var/lib/clickhouse",
    "/etc",
    "/etc/clickhouse-server",
    "/tmp",
    "/root",
    "/home",
)
# A reserved name (RFC 2606) that never resolves: an allow-list holding only it admits no host.
NO_REMOTE_HOST = "hardhouse.invalid"


class Egress(StrictModel):
    remote_url_allow_hosts: Annotated[
        list[str],
        Gate(
            "remote_url_allow_hosts",
            "remove the hosts (this version has no url()/s3() allow-list), or target a newer clickhouse_version",
        ),
    ] = described(
        default_factory=list,
        description=(
            "hosts (host or host:port) url(), s3(), remote() and URL engines may reach (22.8+); empty admits none "
            f"(rendered as the reserved name {NO_REMOTE_HOST})"
        ),
        why="a stolen credential must not turn the server into a proxy into the internal network or out of it",
    )
    send_crash_reports: bool = described(
        False,
        description="send crash reports to ClickHouse's Sentry endpoint (send_crash_reports.enabled, 22.8+)",
        why="a crash report can carry query text and memory contents off the host",
    )
    user_files_path: str = described(
        STOCK_USER_FILES_PATH,
        description=(
            f"the only directory file() reads and writes ({HOST_PATH_RULE}; written with a trailing /); never /, "
            "the data path or anything holding it"
        ),
        why="file() must not reach the data, temporary or schema directories, let alone the whole disk",
    )

    @field_validator("remote_url_allow_hosts")
    @classmethod
    def valid_hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?", host):
                raise fail(
                    f"{excerpt(host)} is not a host name, address or host:port",
                    "list hosts like files.example.net or 10.0.0.7:9000 (no scheme, no path, no wildcard)",
                )
        return value

    @field_validator("user_files_path")
    @classmethod
    def dedicated_user_files(cls, value: str) -> str:
        """Kept without its trailing slash; the template writes one, so that no sibling such as
        user_files_evil/ can ever match a prefix test."""
        stripped = value.rstrip("/") or "/"
        if stripped in SHARED_DIRECTORIES:
            raise fail(
                f"{excerpt(value)} is not a directory of its own",
                f"give file() a directory nothing else uses, e.g. {STOCK_USER_FILES_PATH}/",
            )
        return check_host_path(stripped, f"{STOCK_USER_FILES_PATH}/")


def checks(spec: HardeningSpec) -> list[Problem]:
    """An allow-list of remote hosts asked for where the target has none."""
    return refusals(spec.egress, "remote_url_allow_hosts", spec.version, "egress")
